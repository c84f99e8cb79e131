import { Badge, Checkbox, Group, Text, UnstyledButton } from '@mantine/core';
import type { VersionSummary } from '@deepforge/protocol';
import { formatRelativeTime } from '../lib/job-status.js';
import { changedFilesText, shortVersion, versionKindColor, versionKindLabel } from './history.logic.js';

/** One version in the History list: kind, message, author, time, id and the files it changed. */
export function VersionRow({
  version,
  selected,
  ticked,
  onSelect,
  onTick,
  nowMs,
}: {
  version: VersionSummary;
  selected: boolean;
  ticked: boolean;
  onSelect: () => void;
  onTick: () => void;
  /** The time now, for "5 minutes ago" (tests fix it). */
  nowMs?: number;
}) {
  const now = nowMs ?? Date.now();
  return (
    <li
      className="df-version-row"
      data-selected={selected}
      data-testid="version-row"
      data-version={version.id}
    >
      <Checkbox
        size="xs"
        mt={4}
        checked={ticked}
        onChange={onTick}
        aria-label={`Compare ${shortVersion(version.id)}`}
      />
      <UnstyledButton
        onClick={onSelect}
        style={{ flex: 1, minWidth: 0 }}
        aria-label={`Show version ${version.message}`}
      >
        <Group gap={6} wrap="nowrap">
          <Badge
            size="xs"
            variant="light"
            color={versionKindColor(version.kind)}
            style={{ flex: '0 0 auto' }}
          >
            {versionKindLabel(version.kind)}
          </Badge>
          <Text size="sm" fw={version.kind === 'named' ? 600 : 400} truncate data-testid="version-message">
            {version.message}
          </Text>
        </Group>
        <Text size="xs" c="dimmed" truncate>
          {version.author.name} ·{' '}
          <span title={new Date(version.time).toLocaleString()}>
            {formatRelativeTime(Date.parse(version.time), now)}
          </span>{' '}
          · {shortVersion(version.id)}
        </Text>
        <Text size="xs" c="dimmed" truncate ff="monospace">
          {changedFilesText(version.files)}
        </Text>
      </UnstyledButton>
    </li>
  );
}
