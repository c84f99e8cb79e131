import type { ExecutionSummaryDto } from '@deepforge/protocol';
import { Badge, Group, Loader, ScrollArea, SimpleGrid, Stack, Text } from '@mantine/core';
import { useQueries } from '@tanstack/react-query';
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { getExecution, listMetricSeries, qk } from '../api/endpoints.js';
import { useEventsClient } from '../api/events.context.js';
import { MetricChart } from '../charts/metric-chart.js';
import { seriesColor } from '../lib/metric-series.js';
import { CompareLive, compareCharts, stillLogging } from './compare-live.js';
import { ChartOptions, viewReader } from './job-metrics.js';

/**
 * Metrics of several executions overlaid, one chart per metric (`node/name`), one line per execution: the
 * docs' "selecting multiple executions will display all of the selected plots together". Each line is read as a
 * view for the chart's width (ADR 0014), so a million points per execution draw as fast as a thousand; the lines of
 * an execution still running append its live values (compare-live.ts).
 */
export function CompareMetrics({
  projectId,
  executions,
}: {
  projectId: string;
  executions: readonly ExecutionSummaryDto[];
}) {
  const details = useQueries({
    queries: executions.map((e) => ({
      queryKey: qk.execution(projectId, e.id),
      queryFn: () => getExecution(projectId, e.id),
    })),
  });
  const jobs = details.flatMap((d, i) =>
    (d.data?.jobs ?? [])
      .filter((j) => j.status !== 'pending' && j.status !== 'queued')
      .map((j) => ({ execution: executions[i] as ExecutionSummaryDto, node: j.node })),
  );
  const series = useQueries({
    queries: jobs.map((j) => ({
      queryKey: [...qk.jobData(projectId, j.execution.id), j.node, 'metric-series'],
      queryFn: () => listMetricSeries(projectId, j.execution.id, j.node),
    })),
  });
  const loading = details.some((d) => d.isLoading) || series.some((m) => m.isLoading);
  const [smoothing, setSmoothing] = useState(0);
  const [log, setLog] = useState(false);

  const [live] = useState(() => new CompareLive());
  const liveVersion = useSyncExternalStore(live.subscribe, live.getVersion);
  const events = useEventsClient();
  const following = executions
    .filter(stillLogging)
    .map((e) => e.id)
    .join(',');
  useEffect(() => {
    if (!following) return;
    const stops = following.split(',').map((id) => events.subscribe(id, (e) => live.apply(id, e)));
    return () => stops.forEach((stop) => stop());
  }, [events, following, live]);

  const charts = useMemo(
    () =>
      compareCharts(
        executions,
        jobs.map((j, i) => ({ ...j, stored: series[i]?.data?.items })),
        live,
        (executionId, node, name, job) => viewReader(projectId, executionId, node, name, job),
      ),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [series.map((m) => m.dataUpdatedAt).join(','), executions, liveVersion],
  );

  return (
    <Stack gap="sm">
      <Group gap={6}>
        {executions.map((e, i) => (
          <Badge
            key={e.id}
            variant="light"
            color="gray"
            tt="none"
            leftSection={
              <span style={{ width: 10, height: 3, background: seriesColor(i), display: 'inline-block' }} />
            }
          >
            {e.name}
          </Badge>
        ))}
      </Group>
      <ChartOptions smoothing={smoothing} onSmoothing={setSmoothing} log={log} onLog={setLog} />
      {loading && <Loader size="sm" />}
      {!loading && charts.length === 0 && (
        <Text size="sm" c="dimmed">
          These executions logged no metrics (deepforge.log or the training loop report them).
        </Text>
      )}
      <ScrollArea.Autosize mah="70vh">
        <SimpleGrid cols={{ base: 1, md: 2 }}>
          {/* Drawn once every execution's series are known: a chart whose lines arrived one by one would read
                its views again for each. */}
          {(loading ? [] : charts).map((c) => (
            <MetricChart
              key={c.key}
              title={c.key}
              sources={c.sources}
              smoothing={smoothing}
              log={log}
              height={220}
              testId="compare-chart"
            />
          ))}
        </SimpleGrid>
      </ScrollArea.Autosize>
    </Stack>
  );
}
