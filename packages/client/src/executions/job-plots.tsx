import type { PlotSchema } from '@deepforge/protocol';
import { Badge, Card, Group, ScrollArea, SegmentedControl, SimpleGrid, Stack, Text } from '@mantine/core';
import { useState, type ReactNode } from 'react';
import type { z } from 'zod';
import { LineChart } from '../charts/line-chart.js';
import { seriesColor } from '../lib/metric-series.js';

type Plot = z.infer<typeof PlotSchema>;

function snapshotSrc(p: Plot): string | null {
  // As <img>: an SVG made by user code cannot run scripts or reach the page.
  if (p.svg) return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(p.svg)}`;
  if (p.png) return `data:image/png;base64,${p.png}`;
  return null;
}

function hasLines(p: Plot): boolean {
  return p.axes.some((a) => a.kind === '2d' && (a.lines.length > 0 || a.scatters.length > 0));
}

/**
 * One figure: the matplotlib snapshot, or its line data as an interactive chart. `heading` replaces the title
 * line's left side (the gallery and the comparison name the job or the execution there).
 */
export function PlotCard({ plot, heading }: { plot: Plot; heading?: ReactNode }) {
  const interactiveOk = hasLines(plot);
  const src = snapshotSrc(plot);
  const [mode, setMode] = useState<'snapshot' | 'interactive'>(src ? 'snapshot' : 'interactive');
  return (
    <Card withBorder padding="xs" data-testid="plot-card" data-figure={plot.figure}>
      <Group justify="space-between" mb={4} wrap="nowrap">
        {heading ?? (
          <Text size="xs" fw={600} truncate>
            {plot.title ?? plot.axes[0]?.title ?? `Figure ${plot.figure}`}
          </Text>
        )}
        <Group gap={4} wrap="nowrap">
          <Badge size="xs" variant="light" color="gray">
            #{plot.seq}
          </Badge>
          {interactiveOk && src && (
            <SegmentedControl
              size="xs"
              value={mode}
              onChange={(v) => setMode(v as 'snapshot' | 'interactive')}
              data={[
                { value: 'snapshot', label: 'Image' },
                { value: 'interactive', label: 'Interactive' },
              ]}
            />
          )}
        </Group>
      </Group>
      {mode === 'snapshot' && src ? (
        <img
          src={src}
          alt={plot.title ?? `figure ${plot.figure}`}
          style={{ width: '100%', background: 'white' }}
        />
      ) : (
        <Stack gap="xs">
          {plot.axes
            .filter((a) => a.kind === '2d')
            .map((a, i) => (
              <LineChart
                key={i}
                title={a.title}
                xLabel={a.xlabel}
                yLabel={a.ylabel}
                height={200}
                series={[
                  ...a.lines.map((l, j) => ({
                    label: l.label ?? `line ${j + 1}`,
                    color: l.color ?? seriesColor(j),
                    points: l.x.flatMap((x, k) => {
                      const y = l.y[k];
                      return x !== null && y !== null && y !== undefined ? [{ x, y }] : [];
                    }),
                  })),
                  ...a.scatters.map((s, j) => ({
                    label: s.label ?? `points ${j + 1}`,
                    color: s.color ?? seriesColor(a.lines.length + j),
                    pointsOnly: true,
                    points: s.x.flatMap((x, k) => {
                      const y = s.y[k];
                      return x !== null && y !== null && y !== undefined ? [{ x, y }] : [];
                    }),
                  })),
                ]}
              />
            ))}
        </Stack>
      )}
    </Card>
  );
}

export function JobPlots({ plots }: { plots: readonly Plot[] }) {
  if (plots.length === 0)
    return (
      <Text size="sm" c="dimmed" p="md" data-testid="plots-empty">
        No plots. Anything the operation shows with matplotlib (plt.show()) appears here, live.
      </Text>
    );
  return (
    <ScrollArea h="100%">
      <SimpleGrid type="container" cols={{ base: 1, '900px': 2 }} p="xs" data-testid="job-plots">
        {[...plots]
          .sort((a, b) => a.figure - b.figure)
          .map((p) => (
            <PlotCard key={p.figure} plot={p} />
          ))}
      </SimpleGrid>
    </ScrollArea>
  );
}
