import 'uplot/dist/uPlot.min.css';
import type { MetricViewResponse } from '@deepforge/protocol';
import { Box, Group, Text, useComputedColorScheme } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import { errorMessage } from '../api/http.js';
import type { LivePoint, ViewRange } from '../lib/metric-view.js';
import { alignDrawn, loneValue, panRange, SeriesView, stepRange, zoomRange } from '../lib/metric-view.js';

/** One line of a metric chart: how to read its view, and (for a running job) its live values. */
export interface MetricSource {
  /** Stable while it is the same series. */
  key: string;
  label: string;
  color: string;
  fetchView(
    query: { from?: number | undefined; to?: number | undefined; width: number },
    signal: AbortSignal,
  ): Promise<MetricViewResponse>;
  /** Live values (x resolved), or 'skipped' when the server left some out; returns the unsubscribe function. */
  subscribe?(listener: (update: readonly LivePoint[] | 'skipped') => void): () => void;
}

export interface MetricChartProps {
  sources: readonly MetricSource[];
  /** TensorBoard's smoothing weight, 0 (off) to 0.99. */
  smoothing?: number;
  log?: boolean;
  height?: number;
  title?: string;
  testId?: string;
}

/** Room the y axis takes from the chart's width: the rest is where the columns a view is read for go. */
const Y_AXIS_PX = 64;
/** A series first seen live is read again this long after its first values (the store writes every 500 ms). */
const EMPTY_RELOAD_MS = 1500;
/** Columns per CSS pixel a view is read for, at least. */
const COLUMNS_PER_PX = 2;
/** Wheel zooming re-reads the view once the wheel has rested this long; the scale follows at once. */
const WHEEL_SETTLE_MS = 120;

type State = 'loading' | 'drawn' | 'error';

function withAlpha(color: string, alpha: number): string {
  const hex = Math.round(alpha * 255)
    .toString(16)
    .padStart(2, '0');
  return /^#[0-9a-f]{6}$/i.test(color) ? `${color}${hex}` : color;
}

/**
 * A metric series (or several overlaid) drawn from views the server reads for this chart's width in device
 * pixels, at least two columns per CSS pixel (ADR 0014): drag to zoom into a step range, the wheel to zoom around the pointer, shift+wheel (or a sideways
 * wheel) to pan, double-click for the whole series. Each change of range reads the views again; while the chart
 * shows the whole series, live values are appended without asking the server.
 *
 * For tests and benchmarks the host element carries `data-state` (loading, drawn, error), `data-from`/`data-to`
 * (the range drawn), `data-exact` (every line is exact points), `data-points` (points drawn), `data-ymax`
 * (the largest value drawn), `data-xmin`/`data-xmax` (the x axis' span) and `data-views`
 * (views read so far); a `df-zoom` CustomEvent with `{ from, to }` (or `{}` for the whole series) sets the range.
 */
export function MetricChart({
  sources,
  smoothing = 0,
  log = false,
  height = 200,
  title,
  testId,
}: MetricChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const views = useRef<(SeriesView | undefined)[]>([]);
  const bounds = useRef<{ from: number; to: number } | undefined>(undefined);
  const dark = useComputedColorScheme('light') === 'dark';
  const [range, setRange] = useState<ViewRange>({});
  const rangeRef = useRef(range);
  rangeRef.current = range;
  const [width, setWidth] = useState(0);
  const [reload, setReload] = useState(0);
  const [state, setState] = useState<State>('loading');
  const [error, setError] = useState('');
  const [drawnVersion, setDrawnVersion] = useState(0);
  const viewsRead = useRef(0);
  const sourceKey = sources.map((s) => `${s.key}|${s.label}|${s.color}`).join('\u0000');

  // The columns the views are read for: the plot's device pixels, at least two per CSS pixel, so that lines stay
  // crisp on any screen and a 1,000-step window of a half-screen chart is exact points.
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const measure = (): void =>
      setWidth(
        Math.max(
          50,
          Math.floor((el.clientWidth - Y_AXIS_PX) * Math.max(COLUMNS_PER_PX, window.devicePixelRatio || 1)),
        ),
      );
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // The chart itself: rebuilt when what its lines are changes, data goes in through setData.
  useEffect(() => {
    const el = host.current;
    if (!el || sources.length === 0) return;
    const axisColor = dark ? '#c1c2c5' : '#495057';
    const grid = { stroke: dark ? '#373a40' : '#e9ecef', width: 1 };
    const lines: uPlot.Series[] = sources.flatMap((s) => {
      const main: uPlot.Series = {
        label: s.label,
        stroke: s.color,
        width: 1.5,
        spanGaps: true,
        // A line needs two values: one alone (a metric logged once) is drawn as a dot.
        points: {
          show: (u, si, i0, i1) => loneValue(u.data[si] ?? [], i0, i1),
          size: 7,
          fill: s.color,
        },
      };
      // Smoothed: the raw line stays faintly behind, as TensorBoard shows it.
      return smoothing > 0
        ? [
            { ...main, label: `${s.label} (raw)`, stroke: withAlpha(s.color, 0.25), width: 1 },
            { ...main, label: `${s.label} (smoothed)` },
          ]
        : [main];
    });
    // The wheel sets the range once it has rested; a range chosen meanwhile (a drag, a double-click) is the
    // last word, not overwritten by that pending one.
    let settle: ReturnType<typeof setTimeout> | undefined;
    const choose = (next: ViewRange): void => {
      clearTimeout(settle);
      setRange(next);
    };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      ...(title ? { title } : {}),
      scales: {
        x: { time: false, range: (_u, min, max) => stepRange(min, max) },
        y: log ? { distr: 3 } : {},
      },
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: false } },
      axes: [
        { stroke: axisColor, grid },
        { stroke: axisColor, grid, size: Y_AXIS_PX - 8 },
      ],
      series: [{ label: 'step' }, ...lines],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const from = u.posToVal(u.select.left, 'x');
            const to = u.posToVal(u.select.left + u.select.width, 'x');
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            choose({ from, to });
          },
        ],
      },
    };
    const u = new uPlot(opts, [[], ...lines.map(() => [])] as unknown as uPlot.AlignedData, el);
    plot.current = u;
    const onWheel = (e: WheelEvent): void => {
      const b = bounds.current;
      const min = u.scales.x?.min;
      const max = u.scales.x?.max;
      if (!b || min === undefined || max === undefined || min === null || max === null) return;
      e.preventDefault();
      const current = { from: min, to: max };
      const sideways = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
      const next = sideways
        ? panRange(current, ((e.shiftKey ? e.deltaY : e.deltaX) / 500) * (max - min), b)
        : zoomRange(current, u.posToVal(e.offsetX, 'x'), e.deltaY > 0 ? 1.25 : 0.8, b);
      if (!(next.to > next.from)) return;
      u.setScale('x', { min: next.from, max: next.to });
      clearTimeout(settle);
      settle = setTimeout(() => setRange(next), WHEEL_SETTLE_MS);
    };
    const onDblClick = (): void => choose({});
    const onZoom = (e: Event): void => {
      const d = (e as CustomEvent<ViewRange>).detail ?? {};
      choose({
        ...(d.from !== undefined ? { from: d.from } : {}),
        ...(d.to !== undefined ? { to: d.to } : {}),
      });
    };
    u.over.addEventListener('wheel', onWheel, { passive: false });
    u.over.addEventListener('dblclick', onDblClick);
    el.addEventListener('df-zoom', onZoom);
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    setDrawnVersion((v) => v + 1);
    return () => {
      clearTimeout(settle);
      ro.disconnect();
      el.removeEventListener('df-zoom', onZoom);
      u.destroy();
      plot.current = null;
    };
    // Rebuilt only when the lines change; sources' functions may be new objects each render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sourceKey, smoothing > 0, log, height, dark, title]);

  // Read the views for the range and width.
  useEffect(() => {
    if (width === 0 || sources.length === 0) return;
    const abort = new AbortController();
    const buffered: (LivePoint[] | undefined)[] = sources.map(() => undefined);
    const following = range.from === undefined && range.to === undefined;
    const stops: (() => void)[] = [];
    let ready = false;
    let frame = 0;
    let soon: ReturnType<typeof setTimeout> | undefined;
    const reloadSoon = (): void => {
      soon ??= setTimeout(() => setReload((r) => r + 1), EMPTY_RELOAD_MS);
    };
    const redraw = (): void => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setDrawnVersion((v) => v + 1);
      });
    };
    if (following) {
      sources.forEach((s, i) => {
        if (!s.subscribe) return;
        stops.push(
          s.subscribe((update) => {
            if (update === 'skipped') {
              setReload((r) => r + 1);
              return;
            }
            if (!ready) {
              (buffered[i] ??= []).push(...update);
              return;
            }
            const view = views.current[i];
            if (view?.append(update)) {
              // A series read before anything was stored misses the values logged before this chart listened:
              // read it once more, a moment later, when the store has them.
              if (view.empty) reloadSoon();
              const b = bounds.current;
              const last = update[update.length - 1] as LivePoint;
              if (b && last.x > b.to) b.to = last.x;
              if (view.stale) setReload((r) => r + 1);
              redraw();
            }
          }),
        );
      });
    }
    setState('loading');
    Promise.all(
      sources.map((s) =>
        s.fetchView({ from: range.from, to: range.to, width }, abort.signal).then((v) => {
          viewsRead.current++;
          return v;
        }),
      ),
    )
      .then((answers) => {
        if (abort.signal.aborted) return;
        views.current = answers.map((a, i) => {
          const view = new SeriesView(a);
          const early = buffered[i];
          if (early) view.append(early);
          return view;
        });
        if (following) {
          const froms = answers.filter((a) => a.count > 0).map((a) => a.from);
          const tos = answers.filter((a) => a.count > 0).map((a) => a.to);
          // Live values merged after the stored ones reach further.
          for (const early of buffered) {
            const last = early?.[early.length - 1];
            if (last) {
              froms.push(early[0]!.x);
              tos.push(last.x);
            }
          }
          bounds.current =
            froms.length > 0 ? { from: Math.min(...froms), to: Math.max(...tos) } : bounds.current;
        }
        ready = true;
        setState('drawn');
        setDrawnVersion((v) => v + 1);
      })
      .catch((err: unknown) => {
        if (abort.signal.aborted) return;
        setError(errorMessage(err));
        setState('error');
      });
    return () => {
      abort.abort();
      clearTimeout(soon);
      cancelAnimationFrame(frame);
      for (const stop of stops) stop();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sourceKey, range, width, reload]);

  // Draw what the views hold.
  useEffect(() => {
    const u = plot.current;
    const el = host.current;
    if (!u || !el || state !== 'drawn') return;
    const drawn = views.current.map((v) => v?.drawn(0) ?? { x: [], y: [] });
    const lines =
      smoothing > 0
        ? views.current.flatMap((v, i) => [drawn[i]!, v?.drawn(smoothing) ?? { x: [], y: [] }])
        : drawn;
    const data = alignDrawn(lines, log) as uPlot.AlignedData;
    const r = rangeRef.current;
    u.batch(() => {
      u.setData(data);
      if (r.from !== undefined && r.to !== undefined) u.setScale('x', { min: r.from, max: r.to });
    });
    el.dataset.points = String(drawn.reduce((n, d) => n + d.x.length, 0));
    el.dataset.exact = String(views.current.every((v) => v?.exact));
    el.dataset.ymax = String(drawn.reduce((m, d) => d.y.reduce((a, b) => Math.max(a, b), m), -Infinity));
    el.dataset.from = String(r.from ?? '');
    el.dataset.to = String(r.to ?? '');
    el.dataset.views = String(viewsRead.current);
    el.dataset.xmin = String(u.scales.x?.min ?? '');
    el.dataset.xmax = String(u.scales.x?.max ?? '');
    el.dataset.state = 'drawn';
  }, [drawnVersion, state, smoothing, log]);

  useEffect(() => {
    const el = host.current;
    if (el && state !== 'drawn') el.dataset.state = state;
  }, [state]);

  const zoomed = range.from !== undefined || range.to !== undefined;
  return (
    <Box>
      <div
        ref={host}
        data-testid={testId}
        data-state="loading"
        style={{ width: '100%', minHeight: height }}
      />
      <Group gap="xs" justify="space-between" wrap="nowrap">
        <Text size="xs" c={state === 'error' ? 'red' : 'dimmed'} data-testid="metric-chart-note">
          {state === 'error'
            ? `Cannot read this series: ${error}`
            : zoomed
              ? `Steps ${fmt(range.from)}–${fmt(range.to)} (double-click for all)`
              : 'Drag or use the wheel to zoom, shift+wheel to pan'}
        </Text>
      </Group>
    </Box>
  );
}

function fmt(x: number | undefined): string {
  return x === undefined ? '…' : Number(x.toPrecision(6)).toLocaleString('en-US');
}
