import { figureTitle, matchFigures, overlayFigures, type FigureGroup } from '@deepforge/core';
import type { ExecutionPlotDto } from '@deepforge/protocol';
import { Badge, Card, Group, SimpleGrid, Stack, Text } from '@mantine/core';
import { useMemo } from 'react';
import { LineChart } from '../charts/line-chart.js';
import { seriesColor } from '../lib/metric-series.js';
import { PlotCard } from './job-plots.js';

/**
 * The runs' matplotlib figures side by side, matched by job and then by title or figure number (core's
 * matchFigures); above each match whose figures carry line data, one chart with every run's lines, named after
 * the run and in its colour.
 */
export function ComparePlots({
  names,
  plots,
  reused = [],
}: {
  names: readonly string[];
  /** Per run, in the names' order. */
  plots: readonly (readonly ExecutionPlotDto[])[];
  /** Per run: the nodes whose job reused an earlier job's outputs (it ran nothing, so drew nothing). */
  reused?: readonly ReadonlySet<string>[];
}) {
  const groups = useMemo(() => matchFigures(plots), [plots]);
  if (groups.length === 0) {
    return (
      <Text size="sm" c="dimmed" data-testid="compare-plots-empty">
        None of these executions plotted anything (figures shown with matplotlib's plt.show() appear here).
      </Text>
    );
  }
  return (
    <Stack gap="md" data-testid="compare-plots">
      {groups.map((g) => (
        <FigureMatch key={g.key} group={g} names={names} reused={reused} />
      ))}
    </Stack>
  );
}

function FigureMatch({
  group,
  names,
  reused,
}: {
  group: FigureGroup<ExecutionPlotDto>;
  names: readonly string[];
  reused: readonly ReadonlySet<string>[];
}) {
  const overlay = useMemo(() => overlayFigures(group, names), [group, names]);
  const operations = [...new Set(group.figures.flatMap((f) => (f ? [f.operation] : [])))].join(' / ');
  return (
    <Card
      withBorder
      padding="sm"
      data-testid="compare-figure"
      data-node={group.node}
      data-title={group.title}
    >
      <Group gap="xs" mb="xs">
        <Text size="sm" fw={700}>
          {group.title}
        </Text>
        <Text size="xs" c="dimmed">
          job <span className="df-mono">{group.node}</span> ({operations})
        </Text>
        <Badge size="xs" variant="light" color="gray" tt="none">
          {group.figures.filter((f) => f !== null).length < 2
            ? 'in one execution only'
            : group.matchedBy === 'title'
              ? 'matched by title'
              : 'matched by figure number'}
        </Badge>
      </Group>
      {overlay.kind === 'overlay' ? (
        <Stack gap="xs" data-testid="compare-overlay">
          {overlay.axes.map((a) => (
            <LineChart
              key={a.index}
              title={`${a.title ?? group.title} (overlaid)`}
              {...(a.xlabel !== undefined ? { xLabel: a.xlabel } : {})}
              {...(a.ylabel !== undefined ? { yLabel: a.ylabel } : {})}
              height={220}
              testId="compare-overlay-chart"
              series={a.series.map((s) => ({ label: s.label, color: seriesColor(s.run), points: s.points }))}
            />
          ))}
        </Stack>
      ) : (
        <Text size="xs" c="dimmed" mb="xs" data-testid="compare-no-overlay">
          Not overlaid: {overlay.reason}.
        </Text>
      )}
      <SimpleGrid
        cols={{ base: 1, sm: Math.min(group.figures.length, 2), lg: Math.min(group.figures.length, 4) }}
        mt="xs"
      >
        {group.figures.map((f, i) => {
          const heading = (
            <Group gap={6} wrap="nowrap" style={{ minWidth: 0 }}>
              <span style={{ width: 10, height: 3, background: seriesColor(i), display: 'inline-block' }} />
              <Text size="xs" fw={600} truncate>
                {names[i]}
              </Text>
              {f && figureTitle(f) !== group.title && (
                <Text size="xs" c="dimmed" truncate>
                  {figureTitle(f) ?? `Figure ${f.figure}`}
                </Text>
              )}
            </Group>
          );
          return f ? (
            <div key={i} data-testid="compare-figure-cell" data-run={names[i]}>
              <PlotCard plot={f} heading={heading} />
            </div>
          ) : (
            <Card key={i} withBorder padding="xs" data-testid="compare-figure-missing" data-run={names[i]}>
              {heading}
              <Text size="xs" c="dimmed" mt={4}>
                {reused[i]?.has(group.node)
                  ? 'Not drawn in this run: its job reused an earlier run’s outputs (the cache), so it did not run.'
                  : 'No such figure in this run.'}
              </Text>
            </Card>
          );
        })}
      </SimpleGrid>
    </Card>
  );
}
