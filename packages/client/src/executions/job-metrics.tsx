import type { MetricViewResponse } from '@deepforge/protocol';
import { Anchor, Box, Card, Group, ScrollArea, SimpleGrid, Slider, Switch, Text } from '@mantine/core';
import { useMemo, useState } from 'react';
import { getMetricView, listMetricSeries, metricDownloadUrl } from '../api/endpoints.js';
import { ApiRequestError } from '../api/http.js';
import { MetricChart, type MetricSource } from '../charts/metric-chart.js';
import type { JobLive } from '../lib/execution-live.js';
import { seriesColor } from '../lib/metric-series.js';

/** A series not stored yet (its first values are live, the store writes them twice a second): nothing to draw. */
function emptyView(name: string, width: number): MetricViewResponse {
  return {
    name,
    count: 0,
    from: 0,
    to: 0,
    width,
    inRange: 0,
    encoding: 'f64le-base64',
    points: { x: '', y: '' },
    partial: false,
  };
}

/**
 * The view of `name`, or an empty one while the series is only live. With the job's live state, a series it has
 * only seen live is looked up in the stored series list first (a 200), and asked for only once stored: a view of a
 * series not stored yet would be a 404, which the browser reports as an error even when it is expected.
 */
export function viewReader(
  projectId: string,
  executionId: string,
  node: string,
  name: string,
  live?: Pick<JobLive, 'storedMetricNames' | 'metricSeries'>,
) {
  return async (
    q: { from?: number | undefined; to?: number | undefined; width: number },
    signal: AbortSignal,
  ): Promise<MetricViewResponse> => {
    if (live && !live.storedMetricNames.has(name)) {
      live.metricSeries((await listMetricSeries(projectId, executionId, node, signal)).items);
      if (!live.storedMetricNames.has(name)) return emptyView(name, q.width);
    }
    return getMetricView(projectId, executionId, node, { name, ...q }, signal).catch((err: unknown) => {
      if (err instanceof ApiRequestError && err.status === 404) return emptyView(name, q.width);
      throw err;
    });
  };
}

/** Smoothing and log scale, shared by every chart of a view. */
export function ChartOptions({
  smoothing,
  onSmoothing,
  log,
  onLog,
}: {
  smoothing: number;
  onSmoothing: (v: number) => void;
  log: boolean;
  onLog: (v: boolean) => void;
}) {
  return (
    <Group gap="lg" wrap="nowrap" data-testid="metric-options">
      <Group gap={6} wrap="nowrap" w={260}>
        <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
          Smoothing {smoothing.toFixed(2)}
        </Text>
        <Slider
          flex={1}
          size="xs"
          min={0}
          max={0.99}
          step={0.01}
          value={smoothing}
          onChange={onSmoothing}
          label={null}
          aria-label="Smoothing"
          data-testid="metric-smoothing"
        />
      </Group>
      <Switch
        size="xs"
        label="Log scale"
        checked={log}
        onChange={(e) => onLog(e.currentTarget.checked)}
        data-testid="metric-log"
      />
    </Group>
  );
}

/**
 * One chart per metric series of the job, each drawn from views the server reads for the chart's width, live
 * values appended as they come (ADR 0014).
 */
export function JobMetrics({
  projectId,
  executionId,
  node,
  job,
  version,
}: {
  projectId: string;
  executionId: string;
  node: string;
  job: JobLive;
  version: number;
}) {
  const [smoothing, setSmoothing] = useState(0);
  const [log, setLog] = useState(false);
  // In the order first logged (stored series first, then new ones as they come).
  const names = [...job.metricNames];
  const key = names.join('\u0000');
  const sources = useMemo(
    () =>
      names.map((name, i): MetricSource => ({
        key: `${executionId}/${node}/${name}`,
        label: name,
        color: seriesColor(i),
        fetchView: viewReader(projectId, executionId, node, name, job),
        subscribe: (listener) => job.subscribeMetric(name, listener),
      })),
    // The names' text decides; `version` brings new names in.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key, projectId, executionId, node, job, version],
  );
  if (names.length === 0)
    return (
      <Text size="sm" c="dimmed" p="md" data-testid="metrics-empty">
        No metrics. Values logged with deepforge.log(step=…, loss=…) are charted here as they come.
      </Text>
    );
  return (
    <ScrollArea h="100%">
      <Box p="xs" data-testid="job-metrics">
        <Group mb="xs">
          <ChartOptions smoothing={smoothing} onSmoothing={setSmoothing} log={log} onLog={setLog} />
        </Group>
        <SimpleGrid type="container" cols={{ base: 1, '800px': 2 }}>
          {sources.map((source) => (
            <Card key={source.key} withBorder padding="xs" data-testid="metric-card" data-name={source.label}>
              <Group justify="space-between" wrap="nowrap">
                <Group gap={8} wrap="nowrap" style={{ minWidth: 0 }}>
                  <Text size="xs" fw={600} truncate>
                    {source.label}
                  </Text>
                  <Text size="xs" c="dimmed" className="df-mono" data-testid="metric-latest">
                    {job.latest.get(source.label)?.toPrecision(4) ?? ''}
                  </Text>
                </Group>
                <Group gap={8} wrap="nowrap">
                  <Text size="xs" c="dimmed">
                    Download
                  </Text>
                  {(['csv', 'jsonl'] as const).map((format) => (
                    <Anchor
                      key={format}
                      size="xs"
                      href={metricDownloadUrl(projectId, executionId, node, source.label, format)}
                      download
                      data-testid={`metric-download-${format}`}
                    >
                      {format === 'csv' ? 'CSV' : 'JSON lines'}
                    </Anchor>
                  ))}
                </Group>
              </Group>
              <MetricChart
                sources={[source]}
                smoothing={smoothing}
                log={log}
                height={180}
                testId="metric-chart"
              />
            </Card>
          ))}
        </SimpleGrid>
      </Box>
    </ScrollArea>
  );
}
