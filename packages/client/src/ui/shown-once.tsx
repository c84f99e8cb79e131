import { Alert, Button, Group, Stack, Text, TextInput } from '@mantine/core';
import { IconAlertTriangle, IconCheck, IconCopy } from '@tabler/icons-react';
import type { ReactNode } from 'react';
import { useRef, useState } from 'react';

/**
 * A secret just made (an access token, a worker token): shown here once, since the server keeps only its hash,
 * with a copy button and whatever says how to use it.
 */
export function ShownOnce({
  title,
  value,
  label,
  onDone,
  children,
}: {
  title: string;
  value: string;
  /** The field's accessible name. */
  label: string;
  onDone: () => void;
  /** Below the value: how to use it. */
  children?: ReactNode;
}) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const copy = async (): Promise<void> => {
    try {
      // The clipboard API needs a secure context (https or localhost): elsewhere select it for Ctrl+C.
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      input.current?.select();
      setCopied('no');
    }
  };
  return (
    <Alert
      color="yellow"
      variant="light"
      icon={<IconAlertTriangle size={16} />}
      title={title}
      data-testid="new-token"
    >
      <Stack gap="xs">
        <Text size="sm">Copy it now: it will not be shown again. DeepForge keeps only a hash of it.</Text>
        <Group gap="xs" wrap="nowrap">
          <TextInput
            ref={input}
            readOnly
            value={value}
            onFocus={(e) => e.currentTarget.select()}
            aria-label={label}
            className="df-fill"
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            data-testid="new-token-value"
          />
          <Button
            variant={copied === 'yes' ? 'filled' : 'default'}
            color={copied === 'yes' ? 'teal' : undefined}
            leftSection={copied === 'yes' ? <IconCheck size={14} /> : <IconCopy size={14} />}
            onClick={() => void copy()}
            data-testid="copy-token"
          >
            {copied === 'yes' ? 'Copied' : 'Copy'}
          </Button>
        </Group>
        {copied === 'no' && (
          <Text size="xs" c="dimmed">
            This page may not use the clipboard: the token is selected, press Ctrl+C (⌘C) to copy it.
          </Text>
        )}
        {children}
        <Group justify="flex-end">
          <Button variant="subtle" onClick={onDone} data-testid="new-token-done">
            I have copied it
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}
