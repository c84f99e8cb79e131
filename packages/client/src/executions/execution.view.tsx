import {
  isResumableExecutionStatus,
  isSuccessfulJobStatus,
  isTerminalExecutionStatus,
  type JobStatus,
} from '@deepforge/core';
import type { ExecutionDetailsDto, JobDto, LiveEvent } from '@deepforge/protocol';
import { nodeRenames } from '@deepforge/protocol';
import {
  Alert,
  Anchor,
  Badge,
  Box,
  Button,
  Center,
  Code,
  Group,
  Loader,
  ScrollArea,
  SegmentedControl,
  Stack,
  Table,
  Tabs,
  Text,
  Tooltip,
} from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import {
  IconAlertTriangle,
  IconChartLine,
  IconDownload,
  IconPhoto,
  IconPlayerPlay,
  IconPlayerStop,
  IconRefresh,
  IconTerminal2,
} from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import {
  cancelExecution,
  executionDownloadUrl,
  getExecution,
  getJobLog,
  listMetricSeries,
  listPlots,
  listProgress,
  qk,
  rerunExecution,
  resumeExecution,
  resumeExecutionWithCurrentCode,
} from '../api/endpoints.js';
import { ApiRequestError, errorMessage } from '../api/http.js';
import { useExecutionEvents, useOnEventsReconnect } from '../api/events.context.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { operationCodes, operationInterfaces, pipelineOf } from '../collab/doc-read.js';
import { useDocSelector } from '../collab/project-doc.context.js';
import { nodeLink } from '../lib/node-link.js';
import { ExecutionLive } from '../lib/execution-live.js';
import { jobTab, tabOnSelect } from '../lib/job-tab.js';
import { READERS_CANNOT_RUN } from '../lib/project-capabilities.js';
import {
  formatBytes,
  formatDuration,
  formatUsage,
  jobStatusStyle,
  isUnderway,
  liveDuration,
} from '../lib/job-status.js';
import { useServerNow } from '../lib/use-server-now.js';
import { useThrottledInvalidate } from '../pipelines/execution-tray.js';
import { ExecutionVersionLinks } from '../history/execution-version.js';
import { ViewToolbar } from '../shell/project-layout.js';
import { StatusBadge } from './execution-status-badge.js';
import { JobConsole } from './job-console.js';
import { JobMetrics } from './job-metrics.js';
import { ExecutionPlotsGallery } from './execution-plots-gallery.js';
import { JobPlots } from './job-plots.js';
import { TraceGraph } from './trace-graph.js';
import { WaitingNotice } from './waiting-notice.js';

/** How much of a stored log to fetch at first: its tail (older output is in the execution download). */
const LOG_TAIL_BYTES = 1024 * 1024;

export function ExecutionView() {
  const { executionId = '' } = useParams();
  return <Execution key={executionId} />;
}

function countJobs(jobs: readonly JobDto[]): Partial<Record<JobStatus, number>> {
  const counts: Partial<Record<JobStatus, number>> = {};
  for (const j of jobs) counts[j.status] = (counts[j.status] ?? 0) + 1;
  return counts;
}

/** Applies a status event to the cached execution, so colours change the moment the event arrives. */
function patch(details: ExecutionDetailsDto | undefined, e: LiveEvent): ExecutionDetailsDto | undefined {
  if (!details) return details;
  if (e.type === 'execution.status') return { ...details, status: e.status };
  if (e.type !== 'job.status') return details;
  const jobs = details.jobs.map((j) =>
    j.node === e.node
      ? {
          ...j,
          status: e.status,
          attempt: e.attempt,
          ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}),
          ...(e.error ? { error: e.error } : {}),
          ...(e.cachedFrom ? { cachedFrom: e.cachedFrom } : {}),
          ...(e.usage ? { usage: e.usage } : {}),
        }
      : j,
  );
  return { ...details, jobs, jobCounts: countJobs(jobs) };
}

function Execution() {
  const { projectId = '', executionId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const key = qk.execution(projectId, executionId);
  const details = useQuery({ queryKey: key, queryFn: () => getExecution(projectId, executionId) });
  const [live] = useState(() => new ExecutionLive());
  const version = useSyncExternalStore(live.subscribe, live.getVersion);
  const refresh = useThrottledInvalidate(key, 1000);
  // All plots, while shown, follows the figures jobs draw; each read sends every figure, so not at every redraw.
  const refreshPlots = useThrottledInvalidate(qk.executionPlots(projectId, executionId), 3000);
  const codes = useDocSelector((d) => operationCodes(d), []);
  const interfaces = useMemo(() => operationInterfaces(codes), [codes]);
  const { canRun } = useProjectAccess();
  // Run controls stay in place for readers, disabled (data-disabled keeps the tooltip saying why).
  const runGuard = (label: string) => ({
    label: canRun ? label : READERS_CANNOT_RUN,
    props: { 'data-disabled': !canRun || undefined, 'aria-disabled': !canRun || undefined },
  });

  useExecutionEvents(executionId, (e) => {
    if (e.type === 'execution.status' || e.type === 'job.status') {
      queryClient.setQueryData<ExecutionDetailsDto>(key, (old) => patch(old, e));
      refresh();
    } else {
      live.apply(e);
      if (e.type === 'job.plot') refreshPlots();
    }
  });
  // Back from a lost connection: what the logs got meanwhile is in the stored log; fetch it again.
  useOnEventsReconnect(() => {
    for (const node of live.nodes()) {
      live.job(node).logState = 'idle';
      live.job(node).extrasState = 'idle';
    }
    live.changed();
  });

  const execution = details.data;
  const jobs = execution?.jobs ?? [];
  // Durations of what is still running move every second.
  const serverNow = useServerNow(execution !== undefined && isUnderway(execution));
  const requested = params.get('node');
  const defaultNode =
    jobs.find((j) => j.status === 'running')?.node ??
    jobs.find((j) => j.status === 'failed')?.node ??
    execution?.pipelineSnapshot.nodes[0]?.id ??
    null;
  const node = requested && jobs.some((j) => j.node === requested) ? requested : defaultNode;
  const select = (n: string, t?: string): void => {
    const next = new URLSearchParams(params);
    next.set('node', n);
    const to = t ?? tabOnSelect(params.get('tab'), Boolean(jobs.find((j) => j.node === n)?.error));
    if (to) next.set('tab', to);
    else next.delete('tab');
    setParams(next, { replace: true });
  };
  const job = jobs.find((j) => j.node === node);
  const tab = jobTab(params.get('tab'), Boolean(job?.error));
  // The left side: the trace graph, or every job's plots (`view=plots`).
  const view = params.get('view') === 'plots' ? 'plots' : 'graph';
  const showView = (v: string): void => {
    const next = new URLSearchParams(params);
    if (v === 'plots') next.set('view', 'plots');
    else next.delete('view');
    setParams(next, { replace: true });
  };
  const jobPlotsLink = (n: string): string => {
    const next = new URLSearchParams(params);
    next.delete('view');
    next.set('node', n);
    next.set('tab', 'plots');
    return `?${next.toString()}`;
  };

  // Load what the selected job did before this view subscribed.
  useEffect(() => {
    if (!node || !job) return;
    const state = live.job(node);
    if (state.logState === 'idle') {
      state.logState = 'loading';
      live.changed();
      void (async () => {
        try {
          const head = await getJobLog(projectId, executionId, node, 0, 1);
          const start = Math.max(0, head.size - LOG_TAIL_BYTES);
          const r = await getJobLog(projectId, executionId, node, start, LOG_TAIL_BYTES + 1);
          state.storedLog(r.text, r.complete, start);
        } catch (err) {
          // No log yet (the job has not started): start empty, live lines follow.
          if (err instanceof ApiRequestError && err.status === 404) state.storedLog('', false, 0);
          else {
            state.logState = 'error';
            state.logError = errorMessage(err);
          }
        }
        live.changed();
      })();
    }
    if (state.extrasState === 'idle' && job.status !== 'pending' && job.status !== 'queued') {
      state.extrasState = 'loading';
      void Promise.all([
        listPlots(projectId, executionId, node).then((r) => r.items.forEach((p) => state.plot(p))),
        listMetricSeries(projectId, executionId, node).then((r) => state.metricSeries(r.items)),
        listProgress(projectId, executionId, node).then((r) =>
          r.items.forEach((p) => state.progressEvent(p)),
        ),
      ])
        .catch(() => undefined)
        .finally(() => {
          state.extrasState = 'ready';
          live.changed();
        });
    }
  }, [node, job, live, projectId, executionId, version]);

  const invalidateAll = (): void => {
    void queryClient.invalidateQueries({ queryKey: key });
    void queryClient.invalidateQueries({ queryKey: qk.executions(projectId) });
  };
  // Canceling stops every running job: asked first, and the confirming click is not where Resume appears after.
  const confirmCancel = (): void => {
    modals.openConfirmModal({
      title: `Cancel ${execution?.name ?? 'this execution'}?`,
      children: (
        <Text size="sm">
          Running operations are stopped and the ones not started yet will not run. Resume runs what did not
          finish.
        </Text>
      ),
      labels: { confirm: 'Cancel execution', cancel: 'Keep running' },
      confirmProps: { color: 'orange', 'data-testid': 'confirm-cancel-execution' },
      onConfirm: () => cancel.mutate(),
    });
  };
  const cancel = useMutation({
    mutationFn: () => cancelExecution(projectId, executionId),
    onSuccess: invalidateAll,
    onError: (e) => notifications.show({ color: 'red', title: 'Cannot cancel', message: errorMessage(e) }),
  });
  const rerun = useMutation({
    mutationFn: () => rerunExecution(projectId, executionId, {}),
    onSuccess: (e) => {
      invalidateAll();
      void navigate(`/projects/${projectId}/executions/${e.id}`);
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Cannot re-run', message: errorMessage(e) }),
  });
  const resume = useMutation({
    mutationFn: () => resumeExecution(projectId, executionId),
    onSuccess: () => {
      // Re-run jobs write a new attempt into their logs: read them again.
      for (const n of live.nodes()) live.job(n).logState = 'idle';
      live.changed();
      invalidateAll();
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Cannot resume', message: errorMessage(e) }),
  });

  const resumeCurrent = useMutation({
    mutationFn: () => resumeExecutionWithCurrentCode(projectId, executionId),
    onSuccess: (e) => {
      invalidateAll();
      void navigate(`/projects/${projectId}/executions/${e.id}`);
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Cannot resume', message: errorMessage(e) }),
  });

  if (details.isLoading) {
    return (
      <Center h="100%">
        <Loader size="sm" />
      </Center>
    );
  }
  if (!execution) {
    return (
      <Center h="100%" data-testid="execution-not-found">
        <Stack align="center" gap={4}>
          <Text fw={600}>
            {details.error instanceof ApiRequestError && details.error.status === 404
              ? 'There is no such execution'
              : errorMessage(details.error)}
          </Text>
          <Anchor component={Link} to={`/projects/${projectId}/executions`} size="sm">
            All executions
          </Anchor>
        </Stack>
      </Center>
    );
  }

  const finished = isTerminalExecutionStatus(execution.status);
  const statuses: Record<string, JobStatus> = Object.fromEntries(jobs.map((j) => [j.node, j.status]));
  const progress: Record<string, number | undefined> = Object.fromEntries(
    jobs.map((j) => [j.node, live.job(j.node).fraction()]),
  );
  const state = node ? live.job(node) : null;
  const plots = state ? [...state.plots.values()] : [];

  return (
    <Box
      style={{ display: 'flex', flexDirection: 'column', height: '100%' }}
      data-testid="execution-view"
      data-status={execution.status}
    >
      <ViewToolbar
        testId="execution-toolbar"
        title={
          <Group gap={8} wrap="nowrap" style={{ minWidth: 0 }}>
            <Text
              size="sm"
              c="dimmed"
              component={Link}
              to={`/projects/${projectId}/executions`}
              style={{ textDecoration: 'none' }}
            >
              Executions
            </Text>
            <Text size="sm" c="dimmed">
              /
            </Text>
            <Text size="sm" fw={600} truncate data-testid="execution-name">
              {execution.name}
            </Text>
            <StatusBadge status={execution.status} />
            <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
              <Anchor
                component={Link}
                to={`/projects/${projectId}/pipelines/${encodeURIComponent(execution.pipeline)}`}
                size="xs"
              >
                {execution.pipeline}
              </Anchor>{' '}
              · {new Date(execution.createdAt).toLocaleString()} ·{' '}
              {formatDuration(liveDuration(execution, serverNow))}
              {execution.options.cache ? ' · cache on' : ''}
              <ExecutionVersionLinks projectId={projectId} version={execution.version} />
              {execution.startedBy && (
                <>
                  {' · started by '}
                  <Text
                    span
                    size="xs"
                    fw={600}
                    c="var(--mantine-color-text)"
                    data-testid="execution-started-by"
                  >
                    {execution.startedBy}
                  </Text>
                </>
              )}
              {execution.resumedFrom && (
                <>
                  {' · resumes '}
                  <Anchor
                    component={Link}
                    size="xs"
                    to={`/projects/${projectId}/executions/${execution.resumedFrom}`}
                    data-testid="execution-resumed-from"
                  >
                    {execution.resumedFrom.slice(0, 8)}
                  </Anchor>
                  {' with the current code'}
                </>
              )}
            </Text>
          </Group>
        }
      >
        {!finished && (
          <Tooltip label={runGuard('').label} disabled={canRun}>
            <Button
              color="orange"
              variant="light"
              leftSection={<IconPlayerStop size={14} />}
              loading={cancel.isPending}
              {...runGuard('').props}
              onClick={() => canRun && confirmCancel()}
              data-testid="cancel-execution"
            >
              Cancel
            </Button>
          </Tooltip>
        )}
        {isResumableExecutionStatus(execution.status) && (
          <Tooltip
            label={
              runGuard(
                "A new execution with the project's current operations and attributes: the failed and later jobs run, unchanged earlier jobs reuse their outputs",
              ).label
            }
            multiline
            w={320}
          >
            <Button
              color="green"
              variant="light"
              leftSection={<IconPlayerPlay size={14} />}
              loading={resumeCurrent.isPending}
              {...runGuard('').props}
              onClick={() => canRun && resumeCurrent.mutate()}
              data-testid="resume-current-execution"
            >
              Resume with current code
            </Button>
          </Tooltip>
        )}
        {isResumableExecutionStatus(execution.status) && (
          <Tooltip
            label={
              runGuard(
                "Runs again what failed or was canceled with this execution's own code (the snapshot); reuses what succeeded",
              ).label
            }
            multiline
            w={320}
          >
            <Button
              variant="light"
              leftSection={<IconPlayerPlay size={14} />}
              loading={resume.isPending}
              {...runGuard('').props}
              onClick={() => canRun && resume.mutate()}
              data-testid="resume-execution"
            >
              Resume the snapshot
            </Button>
          </Tooltip>
        )}
        <Tooltip
          label={
            runGuard("Runs this execution's pipeline, attributes and code again as a new execution").label
          }
          multiline
          w={320}
        >
          <Button
            variant="default"
            leftSection={<IconRefresh size={14} />}
            loading={rerun.isPending}
            {...runGuard('').props}
            onClick={() => canRun && rerun.mutate()}
            data-testid="rerun-execution"
          >
            Re-run the snapshot
          </Button>
        </Tooltip>
        <Tooltip label="Code snapshot, pipeline, logs (zip)">
          <Button
            variant="default"
            component="a"
            href={executionDownloadUrl(projectId, executionId)}
            download
            leftSection={<IconDownload size={14} />}
            data-testid="download-execution"
          >
            Download
          </Button>
        </Tooltip>
      </ViewToolbar>
      {execution.failure && (
        <Alert
          color="red"
          py={6}
          radius={0}
          icon={<IconAlertTriangle size={16} />}
          data-testid="execution-failure"
          style={{ flex: '0 0 auto' }}
        >
          <Text size="sm">
            <Anchor size="sm" fw={600} onClick={() => select(execution.failure?.node ?? '', 'error')}>
              {execution.failure.node}
            </Anchor>{' '}
            failed: {execution.failure.error.message}
          </Text>
          {isResumableExecutionStatus(execution.status) && (
            <Text size="xs" c="dimmed" data-testid="resume-help">
              Fixed the code? <b>Resume with current code</b> runs the project as it is now (your fix),
              reusing the earlier jobs that did not change. <b>Resume the snapshot</b> and{' '}
              <b>Re-run the snapshot</b> run the code this execution ran.
            </Text>
          )}
        </Alert>
      )}
      {jobs.some((j) => j.status === 'queued') && (
        <WaitingNotice executionId={executionId} onSelect={(n) => select(n, 'console')} />
      )}
      <Box className="df-fill" style={{ display: 'flex' }}>
        <Box
          className="df-fill"
          style={{ position: 'relative' }}
          data-testid={view === 'plots' ? 'execution-plots-view' : 'trace-graph'}
        >
          <SegmentedControl
            size="xs"
            value={view}
            onChange={showView}
            data={[
              { value: 'graph', label: 'Graph' },
              { value: 'plots', label: 'All plots' },
            ]}
            style={{ position: 'absolute', top: 8, left: 8, zIndex: 6 }}
            data-testid="execution-view-switch"
          />
          {view === 'plots' ? (
            <ExecutionPlotsGallery
              projectId={projectId}
              executionId={executionId}
              jobLink={jobPlotsLink}
              reused={jobs.filter((j) => j.status === 'cached').map((j) => j.node)}
            />
          ) : (
            <>
              <TraceGraph
                pipeline={execution.pipelineSnapshot}
                statuses={statuses}
                progress={progress}
                interfaces={interfaces}
                selected={node}
                onSelect={(n) => select(n)}
              />
              <StatusLegend />
            </>
          )}
        </Box>
        {job && state && (
          <Box
            style={{
              width: '48%',
              minWidth: 420,
              borderLeft: '1px solid var(--mantine-color-default-border)',
              display: 'flex',
              flexDirection: 'column',
            }}
            data-testid="job-panel"
            data-node={job.node}
          >
            {/* On a narrow panel its times and usage go to a second line, rather than the name being cut. */}
            <Group
              px="sm"
              py={6}
              gap="xs"
              wrap="wrap"
              style={{ borderBottom: '1px solid var(--mantine-color-default-border)', rowGap: 2 }}
            >
              <Text size="sm" fw={700} className="df-mono" truncate>
                {job.node}
              </Text>
              <Text size="xs" c="dimmed">
                {job.operation}
              </Text>
              <StatusBadge status={job.status} />
              <JobNodeLink projectId={projectId} pipeline={execution.pipeline} node={job.node} />
              <Group gap="xs" wrap="nowrap" ml="auto">
                <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
                  {job.attempt > 1 ? `attempt ${job.attempt} · ` : ''}
                  {formatDuration(liveDuration(job, serverNow))}
                  {job.exitCode !== null ? ` · exit ${job.exitCode}` : ''}
                </Text>
                {job.usage && (
                  <Text
                    size="xs"
                    c="dimmed"
                    style={{ whiteSpace: 'nowrap' }}
                    data-testid="job-usage"
                    title="CPU time of the job's processes, their peak resident memory and (when it used CUDA) peak GPU memory"
                  >
                    {formatUsage(job.usage)}
                  </Text>
                )}
              </Group>
            </Group>
            <Tabs
              value={tab}
              onChange={(t) => t && select(job.node, t)}
              style={{ display: 'flex', flexDirection: 'column' }}
              className="df-fill"
              keepMounted={false}
            >
              <Tabs.List>
                <Tabs.Tab value="console" leftSection={<IconTerminal2 size={14} />} data-testid="tab-console">
                  Console
                </Tabs.Tab>
                <Tabs.Tab value="plots" leftSection={<IconPhoto size={14} />} data-testid="tab-plots">
                  Plots{' '}
                  {plots.length > 0 && (
                    <Badge size="xs" variant="light">
                      {plots.length}
                    </Badge>
                  )}
                </Tabs.Tab>
                <Tabs.Tab value="metrics" leftSection={<IconChartLine size={14} />} data-testid="tab-metrics">
                  Metrics{' '}
                  {state.metricNames.size > 0 && (
                    <Badge size="xs" variant="light">
                      {state.metricNames.size}
                    </Badge>
                  )}
                </Tabs.Tab>
                <Tabs.Tab value="outputs" data-testid="tab-outputs">
                  Outputs{' '}
                  {job.outputs.length > 0 && (
                    <Badge size="xs" variant="light">
                      {job.outputs.length}
                    </Badge>
                  )}
                </Tabs.Tab>
                {job.error && (
                  <Tabs.Tab value="error" color="red" data-testid="tab-error">
                    Error
                  </Tabs.Tab>
                )}
              </Tabs.List>
              <Tabs.Panel value="console" className="df-fill" style={{ minHeight: 0 }}>
                <JobConsole
                  job={state}
                  version={version}
                  name={`${execution.name}-${job.node}`}
                  running={job.status === 'running'}
                  onReload={() => {
                    // Read the stored log again: it has the lines the socket skipped.
                    if (state.logState === 'loading') return;
                    state.logState = 'idle';
                    live.changed();
                  }}
                />
              </Tabs.Panel>
              <Tabs.Panel value="plots" className="df-fill" style={{ minHeight: 0 }}>
                <JobPlots plots={plots} />
              </Tabs.Panel>
              <Tabs.Panel value="metrics" className="df-fill" style={{ minHeight: 0 }}>
                <JobMetrics
                  projectId={projectId}
                  executionId={executionId}
                  node={job.node}
                  job={state}
                  version={version}
                />
              </Tabs.Panel>
              <Tabs.Panel value="outputs" className="df-fill" style={{ minHeight: 0 }}>
                <Outputs projectId={projectId} job={job} />
              </Tabs.Panel>
              {job.error && (
                <Tabs.Panel value="error" className="df-fill" style={{ minHeight: 0 }}>
                  <JobError projectId={projectId} executionId={executionId} job={job} />
                </Tabs.Panel>
              )}
            </Tabs>
          </Box>
        )}
      </Box>
    </Box>
  );
}

function Outputs({ projectId, job }: { projectId: string; job: JobDto }) {
  if (job.outputs.length === 0)
    return (
      <Text size="sm" c="dimmed" p="md">
        {isSuccessfulJobStatus(job.status) ? 'This operation has no outputs.' : 'No outputs yet.'}
      </Text>
    );
  return (
    <ScrollArea h="100%">
      <Table fz="xs" data-testid="job-outputs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Output</Table.Th>
            <Table.Th>Type</Table.Th>
            <Table.Th>Size</Table.Th>
            <Table.Th>Content</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {job.outputs.map((o) => (
            <Table.Tr key={o.name}>
              <Table.Td className="df-mono">{o.name}</Table.Td>
              <Table.Td className="df-mono">{o.pyType}</Table.Td>
              <Table.Td>{formatBytes(o.size)}</Table.Td>
              <Table.Td>
                <Anchor
                  component={Link}
                  to={`/projects/${projectId}/artifacts?hash=${encodeURIComponent(o.hash)}`}
                  size="xs"
                  className="df-mono"
                >
                  {o.hash.slice(0, 15)}…
                </Anchor>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {job.cachedFrom && (
        <Text size="xs" c="dimmed" p="xs">
          Reused from job {job.cachedFrom} (cache).
        </Text>
      )}
    </ScrollArea>
  );
}

function JobError({ projectId, executionId, job }: { projectId: string; executionId: string; job: JobDto }) {
  const error = job.error;
  if (!error) return null;
  const location = error.location;
  const opFile = location?.file.match(/^operations\/([A-Za-z_][A-Za-z0-9_]*)\.py$/);
  return (
    <ScrollArea h="100%">
      <Stack gap="xs" p="sm" data-testid="job-error">
        <Group gap={6}>
          <Badge color="red" variant="light">
            {error.kind}
          </Badge>
          <Text size="sm" fw={600}>
            {error.message}
          </Text>
        </Group>
        {error.upstream && (
          <Text size="xs">
            Not run because <b>{error.upstream}</b> failed.
          </Text>
        )}
        {location && (
          <Text size="xs">
            at{' '}
            {opFile ? (
              <Anchor
                component={Link}
                // The operation editor offers the way back to this error (issue 13: there was none).
                to={`/projects/${projectId}/operations/${opFile[1]}?line=${location.line}&execution=${encodeURIComponent(executionId)}&node=${encodeURIComponent(job.node)}`}
                size="xs"
                className="df-mono"
              >
                {location.file}:{location.line}
              </Anchor>
            ) : (
              <span className="df-mono">
                {location.file}:{location.line}
              </span>
            )}
          </Text>
        )}
        {error.traceback && (
          <Code block style={{ whiteSpace: 'pre-wrap', fontSize: 11 }}>
            {error.traceback}
          </Code>
        )}
      </Stack>
    </ScrollArea>
  );
}

const LEGEND: JobStatus[] = ['pending', 'queued', 'running', 'success', 'cached', 'failed', 'canceled'];

function StatusLegend() {
  return (
    <Group
      gap={8}
      px={8}
      py={4}
      style={{
        position: 'absolute',
        bottom: 8,
        right: 8,
        background: 'var(--mantine-color-body)',
        border: '1px solid var(--mantine-color-default-border)',
        borderRadius: 6,
        zIndex: 5,
      }}
      data-testid="status-legend"
    >
      {LEGEND.map((s) => (
        <StatusBadgeDot key={s} status={s} />
      ))}
    </Group>
  );
}

function StatusBadgeDot({ status }: { status: JobStatus }) {
  return (
    <Group gap={3} wrap="nowrap">
      <span
        style={{
          width: 10,
          height: 10,
          borderRadius: 2,
          display: 'inline-block',
          background: jobStatusStyle(status).fill,
        }}
      />
      <Text size="10px" c="dimmed">
        {status}
      </Text>
    </Group>
  );
}

/**
 * The job's node in the pipeline as it is now: the execution keeps its own ids (its snapshot), the link follows
 * renames made since, and says so; a node deleted since has no link.
 */
function JobNodeLink({ projectId, pipeline, node }: { projectId: string; pipeline: string; node: string }) {
  const link = useDocSelector(
    (d) => nodeLink(node, nodeRenames(d, pipeline), new Set(pipelineOf(d, pipeline)?.nodes.map((n) => n.id))),
    [node, pipeline],
  );
  if (link.kind === 'gone')
    return (
      <Text size="xs" c="dimmed" data-testid="job-node-link" data-kind="gone">
        no longer in the pipeline
      </Text>
    );
  return (
    <Anchor
      component={Link}
      size="xs"
      to={`/projects/${projectId}/pipelines/${encodeURIComponent(pipeline)}?node=${encodeURIComponent(link.id)}`}
      data-testid="job-node-link"
      data-kind={link.kind}
      style={{ whiteSpace: 'nowrap' }}
    >
      {link.kind === 'renamed' ? `renamed to ${link.id}: open in the editor` : 'open in the editor'}
    </Anchor>
  );
}
