import { Text } from '@mantine/core';
import { formatRelativeTime } from '../lib/job-status.js';

/** A moment as "3 min ago", its date and time in its tooltip. */
export function DateText({ at, now }: { at: number; now: number }) {
  return (
    <Text size="xs" title={new Date(at).toLocaleString()}>
      {formatRelativeTime(at, now)}
    </Text>
  );
}
