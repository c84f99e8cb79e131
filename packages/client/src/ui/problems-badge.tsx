import { Badge, Popover, Stack, Text } from '@mantine/core';
import { IconExclamationCircle } from '@tabler/icons-react';

/** One problem of what an editor shows: `at` is the node or layer it is on, if any (clicking it goes there). */
export interface EditorProblem {
  severity: string;
  message: string;
  at?: string | null;
}

/**
 * An editor's validity in its toolbar: "valid", or the count of errors (else warnings) opening the list of
 * problems, each of which picks the node or layer it is on.
 */
export function ProblemsBadge({
  problems,
  onPick,
  width = 420,
}: {
  problems: readonly EditorProblem[];
  onPick: (at: string) => void;
  width?: number;
}) {
  const errors = problems.filter((d) => d.severity === 'error').length;
  const warnings = problems.filter((d) => d.severity === 'warning').length;
  if (problems.length === 0)
    return (
      <Badge color="green" variant="light" data-testid="validation-badge" data-errors={0}>
        valid
      </Badge>
    );
  return (
    <Popover width={width} position="bottom-start" shadow="md">
      <Popover.Target>
        <Badge
          color={errors > 0 ? 'red' : 'orange'}
          variant="light"
          style={{ cursor: 'pointer' }}
          leftSection={<IconExclamationCircle size={12} />}
          data-testid="validation-badge"
          data-errors={errors}
        >
          {errors > 0
            ? `${errors} error${errors === 1 ? '' : 's'}`
            : `${warnings} warning${warnings === 1 ? '' : 's'}`}
        </Badge>
      </Popover.Target>
      <Popover.Dropdown p="xs">
        <Stack gap={4} data-testid="validation-list">
          {problems.map((d, i) => (
            <Text
              key={i}
              size="xs"
              c={d.severity === 'error' ? 'red' : 'orange'}
              style={{ cursor: d.at ? 'pointer' : undefined }}
              onClick={() => d.at && onPick(d.at)}
            >
              {d.message}
            </Text>
          ))}
        </Stack>
      </Popover.Dropdown>
    </Popover>
  );
}
