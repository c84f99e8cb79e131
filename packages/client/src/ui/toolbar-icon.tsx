import { ActionIcon, Tooltip } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * An editor toolbar's icon button under its tooltip (the tooltip says what it does and its shortcut; `label` is
 * its accessible name). `active`: a toggle that is on (a panel shown) is drawn lit.
 */
export function ToolbarIcon({
  tooltip,
  label,
  onClick,
  disabled,
  active,
  testId,
  children,
}: {
  tooltip: ReactNode;
  label: string;
  onClick: () => void;
  disabled?: boolean;
  active?: boolean;
  testId?: string;
  children: ReactNode;
}) {
  return (
    <Tooltip label={tooltip}>
      <ActionIcon
        variant={active ? 'light' : 'default'}
        size="md"
        onClick={onClick}
        disabled={disabled}
        aria-label={label}
        data-testid={testId}
      >
        {children}
      </ActionIcon>
    </Tooltip>
  );
}
