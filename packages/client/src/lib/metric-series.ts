/** One stored or live metric value (as GET …/metrics lists them, and job.metric events carry them). */
export interface MetricPoint {
  step: number | null;
  name: string;
  value: number;
  t: number;
}

export interface XY {
  x: number;
  y: number;
}

/** Metric points from a `job.metric` event (several values at one step). */
export function pointsOfEvent(e: {
  step: number | null;
  values: Record<string, number>;
  t: number;
}): MetricPoint[] {
  return Object.entries(e.values).map(([name, value]) => ({ step: e.step, name, value, t: e.t }));
}

/**
 * Series with different x values as the column data a uPlot chart takes: one sorted x column, one y column per
 * series with null where a series has no value at that x (the chart leaves a gap or spans it).
 * A series with several values at one x keeps the last.
 */
export function alignSeries(series: readonly (readonly XY[])[]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(series.flatMap((s) => s.map((p) => p.x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const col: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    for (const p of s) col[index.get(p.x) as number] = p.y;
    return col;
  });
  return [xs, ...columns];
}

/** Distinct, readable colours for overlaid series (Mantine's palette, 6th shade). */
export const SERIES_COLORS = [
  '#228be6',
  '#fa5252',
  '#40c057',
  '#fab005',
  '#7950f2',
  '#15aabf',
  '#fd7e14',
  '#e64980',
  '#82c91e',
  '#4c6ef5',
] as const;

export function seriesColor(i: number): string {
  return SERIES_COLORS[i % SERIES_COLORS.length] as string;
}
