import type { ComputeStateDto, ComputeWorkerDto } from '@deepforge/protocol';
import {
  Alert,
  Anchor,
  Badge,
  Box,
  Center,
  Code,
  Container,
  Group,
  Loader,
  Progress,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { Link } from 'react-router';
import { errorMessage } from '../api/http.js';
import { formatBytes, formatRelativeTime } from '../lib/job-status.js';
import { useServerNow } from '../lib/use-server-now.js';
import { useAuth } from '../auth/auth.context.js';
import { TopBar } from '../shell/top-bar.js';
import { loadColor, percent, useComputeState } from './use-compute-state.js';
import { WorkerTokens } from './worker-tokens.js';

/**
 * The Compute view (issue 10): every machine running this server's jobs — remote workers and, under
 * `deepforge start`, the server itself — with its state, labels, slots, running jobs and live CPU / memory / GPU
 * load, and the jobs waiting for a worker with why.
 */
export function ComputePage() {
  const state = useComputeState();
  const { enabled, user } = useAuth();
  // Worker tokens are an admin's (everyone's when accounts are off: the server then serves this machine only).
  const admin = !enabled || user?.admin === true;
  return (
    <Box style={{ height: '100vh', display: 'flex', flexDirection: 'column' }}>
      <TopBar />
      <Box className="df-fill" style={{ overflow: 'auto' }}>
        <Container size="xl" py="xl" data-testid="compute-page">
          <Title order={3} mb={4}>
            Compute
          </Title>
          {state.isPending ? (
            <Center py={60}>
              <Loader size="sm" />
            </Center>
          ) : state.isError ? (
            <Alert color="red" title="Could not load the workers">
              {errorMessage(state.error)}
            </Alert>
          ) : (
            <ComputeState state={state.data} admin={admin} />
          )}
          {admin && state.data?.mode !== 'slurm' && (
            <Box mt="xl">
              <WorkerTokens serverRunsJobs={state.data?.mode === 'local'} />
            </Box>
          )}
        </Container>
      </Box>
    </Box>
  );
}

const MODE_TEXT: Record<ComputeStateDto['mode'], string> = {
  local:
    'Jobs run on this server’s machine (deepforge start). Remote workers connect to a server started with --server, which runs no jobs itself.',
  workers:
    'This server runs no jobs itself (deepforge start --server): jobs run on the workers that connect.',
  slurm:
    'Jobs run as Slurm batch jobs (compute.backend = slurm): each job’s console says its Slurm job id, whether it is pending (and why) and the node it runs on; squeue shows the queue. No worker connects to this server.',
};

function ComputeState({ state, admin }: { state: ComputeStateDto; admin: boolean }) {
  return (
    <Stack gap="lg">
      <Text size="sm" c="dimmed" data-testid="compute-mode">
        {MODE_TEXT[state.mode]}
      </Text>
      {state.mode === 'slurm' ? null : state.workers.length === 0 ? (
        <Alert color="yellow" title="No worker is connected" data-testid="compute-empty">
          Start one on a machine that should run jobs:{' '}
          <Code>deepforge worker --server &lt;url&gt; --token &lt;worker token&gt;</Code> (
          {admin ? 'make a worker token below, or' : 'an admin makes worker tokens'} with{' '}
          <Code>deepforge workers token &lt;name&gt;</Code>).
        </Alert>
      ) : (
        <Table verticalSpacing="sm" data-testid="compute-workers">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Worker</Table.Th>
              <Table.Th>Labels</Table.Th>
              <Table.Th>Slots</Table.Th>
              <Table.Th>Running</Table.Th>
              <Table.Th w={160}>CPU</Table.Th>
              <Table.Th w={180}>Memory</Table.Th>
              <Table.Th w={200}>GPUs</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {state.workers.map((w) => (
              <WorkerRow key={w.id} worker={w} />
            ))}
          </Table.Tbody>
        </Table>
      )}
      {state.waiting.length > 0 && (
        <Stack gap={4} data-testid="compute-waiting">
          <Text fw={600} size="sm">
            Waiting for a worker
          </Text>
          {state.waiting.map((j) => (
            <Group key={j.jobId} gap="xs" wrap="nowrap" data-testid="compute-waiting-job">
              <JobLink job={j} />
              <Text size="sm" c="dimmed">
                {j.reason}
              </Text>
            </Group>
          ))}
        </Stack>
      )}
    </Stack>
  );
}

function JobLink({ job }: { job: ComputeStateDto['workers'][number]['running'][number] }) {
  if (job.executionId === undefined || job.projectId === undefined) {
    return (
      <Text size="sm" c="dimmed">
        a job of another project
      </Text>
    );
  }
  // The CLI's executions ('' project) have no page of a project: the job is named without a link.
  if (job.projectId === '') {
    return (
      <Text size="sm" className="df-mono">
        {job.node} · {job.executionId.slice(0, 8)}
      </Text>
    );
  }
  return (
    <Anchor
      component={Link}
      to={`/projects/${job.projectId}/executions/${job.executionId}?node=${encodeURIComponent(job.node ?? '')}`}
      size="sm"
      className="df-mono"
      data-testid="compute-job"
    >
      {job.node} · {job.executionId.slice(0, 8)}
    </Anchor>
  );
}

function LoadBar({ pct, label, testId }: { pct: number; label: string; testId: string }) {
  return (
    <Stack gap={2} data-testid={testId}>
      <Progress value={pct} color={loadColor(pct)} size="sm" aria-label={label} />
      <Text size="xs" c="dimmed">
        {label}
      </Text>
    </Stack>
  );
}

function WorkerRow({ worker: w }: { worker: ComputeWorkerDto }) {
  const now = useServerNow(true, 10_000);
  const s = w.stats;
  return (
    <Table.Tr data-testid="compute-worker" data-name={w.name}>
      <Table.Td>
        <Stack gap={2}>
          <Text fw={600} size="sm">
            {w.name}
          </Text>
          <Group gap={4}>
            <Badge size="xs" variant="light" color={w.kind === 'local' ? 'blue' : 'grape'}>
              {w.kind === 'local' ? 'this server' : 'worker'}
            </Badge>
            <Badge
              size="xs"
              variant="dot"
              color={w.state === 'connected' ? 'teal' : 'red'}
              data-testid="worker-state"
            >
              {w.state}
            </Badge>
          </Group>
          <Text size="xs" c="dimmed">
            since {formatRelativeTime(w.connectedAt, now)}
          </Text>
        </Stack>
      </Table.Td>
      <Table.Td>
        <Group gap={4} data-testid="worker-labels">
          {w.labels.length === 0 ? (
            <Text size="xs" c="dimmed">
              {w.kind === 'local' ? 'runs every job' : 'none'}
            </Text>
          ) : (
            w.labels.map((l) => (
              <Badge key={l} size="sm" variant="outline" tt="none">
                {l}
              </Badge>
            ))
          )}
        </Group>
      </Table.Td>
      <Table.Td>
        <Text size="sm" data-testid="worker-slots">
          {w.slotsUsed} / {w.slots}
        </Text>
      </Table.Td>
      <Table.Td>
        <Stack gap={2} data-testid="worker-running">
          {w.running.length === 0 ? (
            <Text size="xs" c="dimmed">
              idle
            </Text>
          ) : (
            w.running.map((j, i) => <JobLink key={`${j.jobId}-${i}`} job={j} />)
          )}
        </Stack>
      </Table.Td>
      <Table.Td>
        {s ? (
          <LoadBar
            pct={s.cpuPercent}
            label={`${s.cpuPercent.toFixed(0)} % of ${s.cpuCount} core${s.cpuCount === 1 ? '' : 's'}`}
            testId="worker-cpu"
          />
        ) : (
          <NoStats />
        )}
      </Table.Td>
      <Table.Td>
        {s ? (
          <LoadBar
            pct={percent(s.memoryUsedBytes, s.memoryTotalBytes)}
            label={`${formatBytes(s.memoryUsedBytes)} of ${formatBytes(s.memoryTotalBytes)}`}
            testId="worker-memory"
          />
        ) : (
          <NoStats />
        )}
      </Table.Td>
      <Table.Td>
        <Stack gap={6} data-testid="worker-gpus">
          {w.gpus.length > 0 && (
            <Text size="xs" c="dimmed" data-testid="worker-gpus-in-use">
              {w.gpusInUse.length} of {w.gpus.length} in use by jobs
              {w.gpusInUse.length > 0 ? ` (${w.gpusInUse.join(', ')})` : ''}
            </Text>
          )}
          {(s?.gpus ?? []).length === 0 && w.gpus.length === 0 ? (
            <Text size="xs" c="dimmed">
              none
            </Text>
          ) : (s?.gpus ?? []).length === 0 ? (
            w.gpus.map((g) => (
              <Text key={g.index} size="xs">
                {g.index}: {g.name} ({formatBytes(g.memoryMiB * 1024 * 1024)})
              </Text>
            ))
          ) : (
            (s?.gpus ?? []).map((g) => {
              // By index too: a machine's GPUs are often the same model (and jobs name them by index).
              const model = `${g.index}: ${w.gpus.find((d) => d.index === g.index)?.name ?? 'GPU'}`;
              return (
                <LoadBar
                  key={g.index}
                  pct={g.utilPercent}
                  label={`${model}: ${g.utilPercent.toFixed(0)} % · ${formatBytes(g.memoryUsedMiB * 1024 * 1024)} of ${formatBytes(g.memoryTotalMiB * 1024 * 1024)}`}
                  testId="worker-gpu"
                />
              );
            })
          )}
        </Stack>
      </Table.Td>
    </Table.Tr>
  );
}

function NoStats() {
  return (
    <Text size="xs" c="dimmed">
      not reported yet
    </Text>
  );
}
