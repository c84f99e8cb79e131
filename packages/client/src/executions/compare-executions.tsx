import { COMPARE_LIMITS, compareExecutions } from '@deepforge/core';
import type { ExecutionSummaryDto } from '@deepforge/protocol';
import { Badge, Center, Loader, Modal, ScrollArea, Tabs, Text } from '@mantine/core';
import { IconChartLine, IconGitCompare, IconListCheck, IconPhoto } from '@tabler/icons-react';
import { useQueries, useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { getComparison, listExecutionPlots, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { CompareDifferences } from './compare-differences.js';
import { CompareMetrics } from './compare-metrics.js';
import { ComparePlots } from './compare-plots.js';
import { comparisonRuns } from './compare-runs.js';
import { CompareNotes, CompareSummary } from './compare-summary.js';

type CompareTab = 'summary' | 'differences' | 'plots' | 'metrics';

/**
 * The selected executions compared (issue 13): outcomes and durations job by job, the attributes and code that
 * differ, their figures side by side with line data overlaid, and their metrics. One execution alone has only
 * its metrics to show.
 */
export function CompareExecutions({
  projectId,
  executions,
  onClose,
}: {
  projectId: string;
  executions: readonly ExecutionSummaryDto[];
  onClose: () => void;
}) {
  const ids = useMemo(() => executions.map((e) => e.id), [executions]);
  const enough = ids.length >= COMPARE_LIMITS.minExecutions;
  const [tab, setTab] = useState<CompareTab>(enough ? 'summary' : 'metrics');
  const [baseline, setBaseline] = useState(0);
  const comparison = useQuery({
    queryKey: qk.comparison(projectId, ids),
    queryFn: () => getComparison(projectId, ids),
    enabled: enough,
  });
  // Read when the Plots tab is first opened: the figures of eight runs are the largest part of a comparison.
  const [plotsWanted, setPlotsWanted] = useState(false);
  const plots = useQueries({
    queries: ids.map((id) => ({
      queryKey: qk.executionPlots(projectId, id),
      queryFn: () => listExecutionPlots(projectId, id),
      enabled: enough && plotsWanted,
    })),
  });
  const data = comparison.data;
  const compared = useMemo(() => (data ? compareExecutions(comparisonRuns(data)) : null), [data]);
  const names = useMemo(() => data?.executions.map((e) => e.name) ?? [], [data]);
  const plotLists = plots.map((p) => p.data?.items);
  const plotsReady = plotLists.every((p) => p !== undefined);
  const plotsKey = plots.map((p) => p.dataUpdatedAt).join(',');
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const figureLists = useMemo(() => plotLists.map((p) => p ?? []), [plotsKey]);
  const plotsError = plots.find((p) => p.error)?.error;

  const open = (t: string | null): void => {
    if (t === null) return;
    if (t === 'plots') setPlotsWanted(true);
    setTab(t as CompareTab);
  };
  const differing = compared ? compared.attributes.length + (data?.code.files.length ?? 0) : 0;
  const waiting = (
    <Center p="lg">
      <Loader size="sm" />
    </Center>
  );
  const failed = comparison.error ? (
    <Text c="red" size="sm" p="md" data-testid="compare-error">
      Cannot compare these executions: {errorMessage(comparison.error)}
    </Text>
  ) : null;

  return (
    <Modal opened onClose={onClose} title="Compare executions" size="95%" data-testid="compare-modal">
      <Tabs value={tab} onChange={open} keepMounted={false}>
        <Tabs.List mb="sm">
          <Tabs.Tab
            value="summary"
            disabled={!enough}
            leftSection={<IconListCheck size={14} />}
            data-testid="compare-tab-summary"
          >
            Outcomes
          </Tabs.Tab>
          <Tabs.Tab
            value="differences"
            disabled={!enough}
            leftSection={<IconGitCompare size={14} />}
            data-testid="compare-tab-differences"
          >
            Differences{' '}
            {differing > 0 && (
              <Badge size="xs" variant="light">
                {differing}
              </Badge>
            )}
          </Tabs.Tab>
          <Tabs.Tab
            value="plots"
            disabled={!enough}
            leftSection={<IconPhoto size={14} />}
            data-testid="compare-tab-plots"
          >
            Plots
          </Tabs.Tab>
          <Tabs.Tab
            value="metrics"
            leftSection={<IconChartLine size={14} />}
            data-testid="compare-tab-metrics"
          >
            Metrics
          </Tabs.Tab>
        </Tabs.List>
        {!enough && (
          <Text size="xs" c="dimmed" mb="xs" data-testid="compare-one">
            Select {COMPARE_LIMITS.minExecutions} to {COMPARE_LIMITS.maxExecutions} executions to compare
            their outcomes, attributes, code and plots; one execution shows its metrics.
          </Text>
        )}
        {/* What cannot be compared holds for every tab but Metrics (which matches series by name). */}
        {compared && tab !== 'metrics' && (
          <div style={{ marginBottom: 8 }}>
            <CompareNotes notes={compared.notes} />
          </div>
        )}
        <ScrollArea.Autosize mah="75vh">
          <Tabs.Panel value="summary">
            {failed ??
              (data && compared ? (
                <CompareSummary projectId={projectId} executions={data.executions} comparison={compared} />
              ) : (
                waiting
              ))}
          </Tabs.Panel>
          <Tabs.Panel value="differences">
            {failed ??
              (data && compared ? (
                <CompareDifferences
                  executions={data.executions}
                  comparison={compared}
                  code={data.code}
                  baseline={baseline}
                  onBaseline={setBaseline}
                />
              ) : (
                waiting
              ))}
          </Tabs.Panel>
          <Tabs.Panel value="plots">
            {failed ??
              (plotsError ? (
                <Text c="red" size="sm" p="md">
                  Cannot read the plots: {errorMessage(plotsError)}
                </Text>
              ) : data && plotsReady ? (
                <ComparePlots
                  names={names}
                  plots={figureLists}
                  reused={data.executions.map(
                    (e) => new Set(e.jobs.filter((j) => j.status === 'cached').map((j) => j.node)),
                  )}
                />
              ) : (
                waiting
              ))}
          </Tabs.Panel>
        </ScrollArea.Autosize>
        <Tabs.Panel value="metrics">
          <CompareMetrics projectId={projectId} executions={executions} />
        </Tabs.Panel>
      </Tabs>
    </Modal>
  );
}
