import type { ExecutionComparison } from '@deepforge/core';
import type { ExecutionDetailsDto } from '@deepforge/protocol';
import { Alert, Anchor, Badge, Group, List, Stack, Table, Text } from '@mantine/core';
import { IconInfoCircle } from '@tabler/icons-react';
import { Link } from 'react-router';
import { formatDuration } from '../lib/job-status.js';
import { seriesColor } from '../lib/metric-series.js';
import { outcomeText } from './compare-runs.js';
import { StatusBadge } from './execution-status-badge.js';

/** The runs' names as column heads, in their chart colours. */
export function RunHeads({ executions }: { executions: readonly ExecutionDetailsDto[] }) {
  return (
    <>
      {executions.map((e, i) => (
        <Table.Th key={e.id} data-testid="compare-run-head" data-execution-id={e.id}>
          <Group gap={6} wrap="nowrap">
            <span style={{ width: 10, height: 3, background: seriesColor(i), display: 'inline-block' }} />
            <Text size="sm" fw={600} truncate>
              {e.name}
            </Text>
          </Group>
        </Table.Th>
      ))}
    </>
  );
}

/** What cannot be compared, in words. */
export function CompareNotes({ notes }: { notes: readonly string[] }) {
  if (notes.length === 0) return null;
  return (
    <Alert
      color="yellow"
      variant="light"
      icon={<IconInfoCircle size={16} />}
      data-testid="compare-notes"
      py={6}
    >
      <List size="sm" spacing={2}>
        {notes.map((n) => (
          <List.Item key={n}>{n}</List.Item>
        ))}
      </List>
    </Alert>
  );
}

/** Outcomes and durations: each execution, then each job, one column per execution. */
export function CompareSummary({
  projectId,
  executions,
  comparison,
}: {
  projectId: string;
  executions: readonly ExecutionDetailsDto[];
  comparison: ExecutionComparison;
}) {
  return (
    <Stack gap="sm">
      <Table withTableBorder withColumnBorders fz="sm" data-testid="compare-outcomes">
        <Table.Thead>
          <Table.Tr>
            <Table.Th w={180} />
            <RunHeads executions={executions} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          <Table.Tr>
            <Table.Td fw={600}>Execution</Table.Td>
            {executions.map((e) => (
              <Table.Td key={e.id} data-testid="compare-execution-status" data-status={e.status}>
                <Group gap={6} wrap="nowrap">
                  <StatusBadge status={e.status} />
                  <Anchor component={Link} size="xs" to={`/projects/${projectId}/executions/${e.id}`}>
                    open
                  </Anchor>
                </Group>
              </Table.Td>
            ))}
          </Table.Tr>
          <Table.Tr>
            <Table.Td fw={600}>Pipeline</Table.Td>
            {executions.map((e) => (
              <Table.Td key={e.id} className="df-mono">
                {e.pipeline}
              </Table.Td>
            ))}
          </Table.Tr>
          <Table.Tr>
            <Table.Td fw={600}>Started · ended</Table.Td>
            {executions.map((e) => (
              <Table.Td key={e.id}>
                <Text size="xs">
                  {e.startedAt !== null ? new Date(e.startedAt).toLocaleString() : 'not started'}
                  {e.endedAt !== null ? ` · ${new Date(e.endedAt).toLocaleTimeString()}` : ''}
                </Text>
              </Table.Td>
            ))}
          </Table.Tr>
          <Table.Tr>
            <Table.Td fw={600}>Duration</Table.Td>
            {executions.map((e) => (
              <Table.Td key={e.id} data-testid="compare-duration">
                {formatDuration(e.durationMs)}
                {e.options.cache ? ' · cache on' : ''}
              </Table.Td>
            ))}
          </Table.Tr>
          {comparison.outcomes.map((row) => (
            <Table.Tr key={row.node} data-testid="compare-job-row" data-node={row.node}>
              <Table.Td>
                <Text size="sm" fw={600} className="df-mono">
                  {row.node}
                </Text>
                <Text size="xs" c="dimmed">
                  {[...new Set(row.cells.flatMap((c) => (c ? [c.operation] : [])))].join(' / ')}
                </Text>
              </Table.Td>
              {row.cells.map((cell, i) => (
                <Table.Td
                  key={executions[i]?.id ?? i}
                  data-testid="compare-job-cell"
                  data-status={cell?.status ?? 'missing'}
                  title={outcomeText(cell)}
                >
                  {cell ? (
                    <Group gap={6} wrap="nowrap">
                      <StatusBadge status={cell.status} />
                      {cell.reused ? (
                        <Badge size="xs" variant="light" color="gray" tt="none">
                          reused
                        </Badge>
                      ) : (
                        <Text size="xs">{formatDuration(cell.durationMs)}</Text>
                      )}
                      {executions[i] && (
                        <Anchor
                          component={Link}
                          size="xs"
                          to={`/projects/${projectId}/executions/${executions[i].id}?node=${encodeURIComponent(row.node)}`}
                        >
                          job
                        </Anchor>
                      )}
                    </Group>
                  ) : (
                    <Text size="xs" c="dimmed">
                      not in this run
                    </Text>
                  )}
                </Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}
