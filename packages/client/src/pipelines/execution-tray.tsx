import type { LiveEvent } from '@deepforge/protocol';
import { ActionIcon, Box, Group, Loader, ScrollArea, Table, Text, Tooltip } from '@mantine/core';
import { IconChevronDown, IconExternalLink } from '@tabler/icons-react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef } from 'react';
import { Link, useNavigate } from 'react-router';
import { listExecutions, qk } from '../api/endpoints.js';
import { useExecutionEvents } from '../api/events.context.js';
import { JobCounts, StatusBadge } from '../executions/execution-status-badge.js';
import { formatDuration, formatRelativeTime, isUnderway, liveDuration } from '../lib/job-status.js';
import { useServerNow } from '../lib/use-server-now.js';

/** Invalidates a query at most once per `ms` while events stream in. */
export function useThrottledInvalidate(queryKey: readonly unknown[], ms = 750): () => void {
  const queryClient = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  return () => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void queryClient.invalidateQueries({ queryKey });
    }, ms);
  };
}

/** The executions of one pipeline, newest first, updating live: the tray at the bottom of the pipeline editor. */
export function ExecutionTray({
  projectId,
  pipeline,
  highlight,
  onClose,
}: {
  projectId: string;
  pipeline: string;
  highlight: string | null;
  onClose: () => void;
}) {
  const navigate = useNavigate();
  const key = [...qk.executions(projectId), 'tray', pipeline];
  const list = useQuery({
    queryKey: key,
    queryFn: () =>
      listExecutions(projectId, { pipeline, page: 1, pageSize: 25, sort: 'created', order: 'desc' }),
  });
  const refresh = useThrottledInvalidate(key);
  useExecutionEvents('*', (e: LiveEvent) => {
    if (e.type === 'execution.status' && e.pipeline === pipeline) refresh();
    else if (e.type === 'job.status' && list.data?.items.some((x) => x.id === e.executionId)) refresh();
  });
  const now = Date.now();
  const serverNow = useServerNow((list.data?.items ?? []).some(isUnderway));
  return (
    <Box
      data-testid="execution-tray"
      style={{
        height: 220,
        borderTop: '1px solid var(--mantine-color-default-border)',
        display: 'flex',
        flexDirection: 'column',
      }}
    >
      <Group px="sm" h={32} justify="space-between" style={{ flex: '0 0 auto' }}>
        <Text size="xs" fw={600}>
          Executions of {pipeline} {list.data ? `(${list.data.total})` : ''}
        </Text>
        <Group gap={4}>
          <Text
            size="xs"
            component={Link}
            to={`/projects/${projectId}/executions?pipeline=${encodeURIComponent(pipeline)}`}
            c="dimmed"
          >
            All executions
          </Text>
          <ActionIcon size="sm" onClick={onClose} aria-label="Hide executions">
            <IconChevronDown size={14} />
          </ActionIcon>
        </Group>
      </Group>
      <ScrollArea className="df-fill">
        {list.isLoading ? (
          <Loader size="xs" m="sm" />
        ) : (list.data?.items.length ?? 0) === 0 ? (
          <Text size="xs" c="dimmed" px="sm">
            No executions yet. Press Execute (Ctrl+Enter) to run this pipeline.
          </Text>
        ) : (
          <Table highlightOnHover verticalSpacing={2} fz="xs">
            <Table.Tbody>
              {list.data?.items.map((e) => (
                <Table.Tr
                  key={e.id}
                  className="df-row-link"
                  onClick={() => void navigate(`/projects/${projectId}/executions/${e.id}`)}
                  data-testid="tray-execution"
                  data-execution-id={e.id}
                  style={
                    e.id === highlight ? { background: 'var(--mantine-primary-color-light)' } : undefined
                  }
                >
                  <Table.Td w={110}>
                    <StatusBadge status={e.status} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" fw={500} truncate>
                      {e.name}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <JobCounts counts={e.jobCounts} />
                  </Table.Td>
                  <Table.Td w={90}>
                    <Text size="xs" c="dimmed">
                      {formatDuration(liveDuration(e, serverNow))}
                    </Text>
                  </Table.Td>
                  <Table.Td w={100}>
                    <Text size="xs" c="dimmed">
                      {formatRelativeTime(e.createdAt, now)}
                    </Text>
                  </Table.Td>
                  <Table.Td w={30}>
                    <Tooltip label="Open">
                      <IconExternalLink size={14} />
                    </Tooltip>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </ScrollArea>
    </Box>
  );
}
