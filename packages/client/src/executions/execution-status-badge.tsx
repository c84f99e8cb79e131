import { isWaitingJobStatus, type JobStatus } from '@deepforge/core';
import { Badge, Group, Loader, Tooltip } from '@mantine/core';
import { jobStatusStyle } from '../lib/job-status.js';

export function StatusBadge({ status }: { status: JobStatus }) {
  const s = jobStatusStyle(status);
  return (
    <Badge
      color={s.badge}
      variant={isWaitingJobStatus(status) ? 'light' : 'filled'}
      c={status === 'running' ? 'dark' : undefined}
      leftSection={status === 'running' ? <Loader size={8} color="dark" /> : undefined}
      data-testid="status-badge"
      data-status={status}
      // A status is never cut short: what is beside it gives way.
      style={{ flexShrink: 0 }}
    >
      {s.label}
    </Badge>
  );
}

/** How many jobs are in each status, as small coloured counts (success 3 · running 1 · pending 2). */
export function JobCounts({ counts }: { counts: Partial<Record<JobStatus, number>> }) {
  const order: JobStatus[] = ['success', 'cached', 'running', 'queued', 'pending', 'failed', 'canceled'];
  return (
    <Group gap={4} wrap="nowrap">
      {order
        .filter((s) => (counts[s] ?? 0) > 0)
        .map((s) => {
          const st = jobStatusStyle(s);
          return (
            <Tooltip key={s} label={`${counts[s]} ${st.label.toLowerCase()}`}>
              <span
                style={{
                  display: 'inline-flex',
                  alignItems: 'center',
                  gap: 3,
                  fontSize: 11,
                  color: 'var(--mantine-color-dimmed)',
                }}
              >
                <span
                  style={{
                    width: 8,
                    height: 8,
                    borderRadius: 2,
                    background: st.fill,
                    display: 'inline-block',
                  }}
                />
                {counts[s]}
              </span>
            </Tooltip>
          );
        })}
    </Group>
  );
}
