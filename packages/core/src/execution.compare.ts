import { canonicalJson } from './cache-key.js';
import type { ExecutionStatus, JobStatus } from './execution-state.machine.js';
import type { JsonValue } from './model.js';
import { diffProjectFile, type FileDiff } from './project-file.diff.js';

/**
 * Comparing executions (issue 13): their outcomes job by job, the attributes and code they ran with, and their
 * matplotlib figures matched across runs, with the line data of matching figures overlaid. Runs are compared as
 * they ran (each execution's own snapshot), never as the project is now.
 *
 * Jobs, attributes and figures are matched by node id: two executions of different pipelines compare where their
 * node ids meet, and `notes` says what could not be compared.
 */

export const COMPARE_LIMITS = {
  /** Fewer than two is no comparison. */
  minExecutions: 2,
  /** More would not fit side by side, and each costs the server a snapshot and its plots to read. */
  maxExecutions: 8,
} as const;

export interface CompareJob {
  node: string;
  operation: string;
  status: JobStatus;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  /** The job whose outputs this one reused (the cache), when it did. */
  cachedFrom: string | null;
}

export interface CompareRun {
  id: string;
  name: string;
  pipeline: string;
  status: ExecutionStatus;
  durationMs: number | null;
  /** The nodes of the pipeline as it ran, in the pipeline's order. */
  nodes: readonly { id: string; operation: string }[];
  /** Node → attribute → the value it ran with (defaults included where the run recorded them). */
  attributes: Readonly<Record<string, Readonly<Record<string, JsonValue>>>>;
  jobs: readonly CompareJob[];
}

export interface JobOutcome {
  operation: string;
  status: JobStatus;
  startedAt: number | null;
  endedAt: number | null;
  durationMs: number | null;
  /** Its outputs came from an earlier job (status `cached`, or a job that reused a cached result). */
  reused: boolean;
}

export interface OutcomeRow {
  node: string;
  /** One per run, in the runs' order; null where the run has no such job. */
  cells: (JobOutcome | null)[];
}

export type AttributeCell =
  | { kind: 'value'; value: JsonValue }
  /** The node ran without this attribute (another operation, or one that has no such attribute). */
  | { kind: 'unset' }
  /** The run's pipeline has no such node. */
  | { kind: 'no-node' };

export interface AttributeRow {
  node: string;
  attribute: string;
  cells: AttributeCell[];
}

export interface ExecutionComparison {
  outcomes: OutcomeRow[];
  /** Only the attributes whose values differ between the runs. */
  attributes: AttributeRow[];
  /** How many attributes all the runs share with the same value. */
  sameAttributes: number;
  /** What cannot be compared, in words. */
  notes: string[];
}

/** Why these runs cannot be compared at all (too few, too many, one twice); null when they can. */
export function compareProblem(ids: readonly string[]): string | null {
  if (ids.length < COMPARE_LIMITS.minExecutions)
    return `select at least ${COMPARE_LIMITS.minExecutions} executions to compare (got ${ids.length})`;
  if (ids.length > COMPARE_LIMITS.maxExecutions)
    return `at most ${COMPARE_LIMITS.maxExecutions} executions can be compared at once (got ${ids.length})`;
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) return `execution "${id}" is selected twice`;
    seen.add(id);
  }
  return null;
}

function union<T>(lists: readonly (readonly T[])[]): T[] {
  const seen = new Set<T>();
  const out: T[] = [];
  for (const list of lists) {
    for (const item of list) {
      if (seen.has(item)) continue;
      seen.add(item);
      out.push(item);
    }
  }
  return out;
}

function sameJson(a: JsonValue, b: JsonValue): boolean {
  return a === b || canonicalJson(a) === canonicalJson(b);
}

/** Outcomes, attribute differences and what cannot be compared, for runs given in the order they are shown. */
export function compareExecutions(runs: readonly CompareRun[]): ExecutionComparison {
  const problem = compareProblem(runs.map((r) => r.id));
  if (problem !== null) throw new RangeError(problem);
  const notes: string[] = [];

  const pipelines = union(runs.map((r) => [r.pipeline]));
  if (pipelines.length > 1) {
    const which = pipelines
      .map(
        (p) =>
          `${p}: ${runs
            .filter((r) => r.pipeline === p)
            .map((r) => r.name)
            .join(', ')}`,
      )
      .join('; ');
    notes.push(
      `These executions ran different pipelines (${which}). Jobs, attributes and plots are matched by node id: a node only some pipelines have shows as missing in the others.`,
    );
  }
  const nodeIds = union(runs.map((r) => [...r.nodes.map((n) => n.id), ...r.jobs.map((j) => j.node)]));
  const nodeOf = runs.map((r) => new Map(r.nodes.map((n) => [n.id, n])));
  for (const id of nodeIds) {
    const ops = union(nodeOf.map((m) => (m.get(id) ? [m.get(id)!.operation] : [])));
    if (ops.length > 1) {
      notes.push(
        `Node ${id} runs different operations (${runs
          .map((r, i) => `${nodeOf[i]!.get(id)?.operation ?? 'none'} in ${r.name}`)
          .join(', ')}): its attributes are compared by name, its plots by title or figure number.`,
      );
    }
  }
  const unfinished = runs.filter((r) => r.status === 'running' || r.status === 'pending');
  if (unfinished.length > 0) {
    notes.push(
      `${unfinished.map((r) => r.name).join(', ')} ${unfinished.length === 1 ? 'is' : 'are'} still running: outcomes and plots may still change.`,
    );
  }

  const jobOf = runs.map((r) => new Map(r.jobs.map((j) => [j.node, j])));
  const outcomes: OutcomeRow[] = nodeIds.map((node) => ({
    node,
    cells: jobOf.map((m) => {
      const j = m.get(node);
      if (!j) return null;
      return {
        operation: j.operation,
        status: j.status,
        startedAt: j.startedAt,
        endedAt: j.endedAt,
        durationMs: j.durationMs,
        reused: j.status === 'cached' || j.cachedFrom !== null,
      };
    }),
  }));

  const attributes: AttributeRow[] = [];
  let sameAttributes = 0;
  for (const node of nodeIds) {
    const names = union(runs.map((r) => Object.keys(r.attributes[node] ?? {})));
    for (const attribute of names) {
      const cells = runs.map((r, i): AttributeCell => {
        if (!nodeOf[i]!.has(node) && !jobOf[i]!.has(node)) return { kind: 'no-node' };
        const values = r.attributes[node];
        return values && Object.hasOwn(values, attribute)
          ? { kind: 'value', value: values[attribute] as JsonValue }
          : { kind: 'unset' };
      });
      const first = cells[0]!;
      const same = cells.every(
        (c) =>
          c.kind === first.kind &&
          (c.kind !== 'value' || sameJson(c.value, (first as { value: JsonValue }).value)),
      );
      if (same) sameAttributes++;
      else attributes.push({ node, attribute, cells });
    }
  }
  return { outcomes, attributes, sameAttributes, notes };
}

// ── code ────────────────────────────────────────────────────────────────────────────────────────────────────

/** One file of the runs' code snapshots: its text in each run (null where the run has no such file). */
export interface CodeFileTexts {
  path: string;
  /**
   * Per run, in the runs' order: the file's text, or null where the run has no such file. When `omitted` is set
   * (the file is too large to send), each run's content hash instead, so that equal still means unchanged.
   */
  texts: readonly (string | null)[];
  /** Why the texts were not sent (too large): the file is said to differ, without a diff. */
  omitted?: string;
}

export interface CodeChange {
  path: string;
  /** The operation the file holds (`operations/<Name>.py`); null for utils, serializers, architectures. */
  operation: string | null;
  change: 'added' | 'deleted' | 'modified';
  diff: FileDiff;
}

export function operationOfPath(path: string): string | null {
  return /^operations\/([A-Za-z_][A-Za-z0-9_]*)\.py$/.exec(path)?.[1] ?? null;
}

/**
 * What changed in the code from the baseline run to run `other`: operations first (by name), then the other
 * files. A file only the baseline has was deleted (an operation deleted before the other run), one only the other
 * run has was added. Diffs are core's readable diffs (the History view's), bounded by FILE_DIFF_LIMITS.
 */
export function codeChanges(files: readonly CodeFileTexts[], baseline: number, other: number): CodeChange[] {
  const out: CodeChange[] = [];
  for (const f of files) {
    if (baseline >= f.texts.length || other >= f.texts.length)
      throw new RangeError(`${f.path}: no text for run ${Math.max(baseline, other) + 1}`);
    const before = f.texts[baseline] ?? null;
    const after = f.texts[other] ?? null;
    if (before === after) continue;
    const change = before === null ? 'added' : after === null ? 'deleted' : 'modified';
    const diff: FileDiff =
      f.omitted === undefined
        ? diffProjectFile(f.path, before, after)
        : { type: 'too-large', message: f.omitted };
    if (diff.type === 'unchanged') continue;
    out.push({ path: f.path, operation: operationOfPath(f.path), change, diff });
  }
  const rank = (c: CodeChange): string => `${c.operation === null ? 1 : 0}${c.path}`;
  return out.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
}

// ── figures ─────────────────────────────────────────────────────────────────────────────────────────────────

/** The parts of a captured figure (the runtime's plot event) that matching and overlaying read. */
export interface FigureLine {
  label?: string;
  x: readonly (number | null)[];
  y: readonly (number | null)[];
}
export interface FigureAxes {
  kind: '2d' | '3d';
  title?: string;
  xlabel?: string;
  ylabel?: string;
  lines: readonly FigureLine[];
}
export interface ComparedFigure {
  /** The job (node id) that drew it. */
  node: string;
  /** matplotlib's figure number in the job's process. */
  figure: number;
  title?: string;
  axes: readonly FigureAxes[];
}

export interface FigureGroup<F extends ComparedFigure> {
  /** Stable across renders: node and what matched. */
  key: string;
  node: string;
  title: string;
  /** How the runs' figures were paired: by an equal title, or (titles differing or absent) by figure number. */
  matchedBy: 'title' | 'figure';
  /** One per run; null where the run has no matching figure. */
  figures: (F | null)[];
}

/** A figure's title as the Plots tab shows it: the figure's, else its first axes'. */
export function figureTitle(f: ComparedFigure): string | undefined {
  return f.title ?? f.axes[0]?.title;
}

/**
 * Pairs the runs' figures, job by job: first by title where a title is unique within the job (a figure titled
 * "Loss" is the same figure whatever its number), then what is left by figure number (matplotlib numbers figures
 * in the order the code makes them, so the same code numbers them alike). A figure no other run has gets a group
 * of its own. Groups come in node order of first appearance, then by figure number.
 */
export function matchFigures<F extends ComparedFigure>(runs: readonly (readonly F[])[]): FigureGroup<F>[] {
  const nodes = union(runs.map((figs) => figs.map((f) => f.node)));
  const groups: FigureGroup<F>[] = [];
  for (const node of nodes) {
    const left = runs.map((figs) =>
      [...figs.filter((f) => f.node === node)].sort((a, b) => a.figure - b.figure),
    );
    const nodeGroups: (FigureGroup<F> & { order: number })[] = [];
    // Titles unique within each run's job: a title two figures of one job share says nothing about which is which.
    const uniqueTitles = left.map((figs) => {
      const counts = new Map<string, number>();
      for (const f of figs) {
        const t = figureTitle(f);
        if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
      }
      return new Set([...counts].filter(([, n]) => n === 1).map(([t]) => t));
    });
    const titles = union(
      left.map((figs, i) => figs.map(figureTitle).filter((t): t is string => !!t && uniqueTitles[i]!.has(t))),
    );
    for (const title of titles) {
      const figures = left.map((figs, i) =>
        uniqueTitles[i]!.has(title) ? (figs.find((f) => figureTitle(f) === title) ?? null) : null,
      );
      if (figures.filter((f) => f !== null).length < 2) continue;
      for (let i = 0; i < left.length; i++) left[i] = left[i]!.filter((f) => f !== figures[i]);
      const order = Math.min(...figures.filter((f): f is F => f !== null).map((f) => f.figure));
      nodeGroups.push({
        key: `${node}\u0000title\u0000${title}`,
        node,
        title,
        matchedBy: 'title',
        figures,
        order,
      });
    }
    const numbers = union(left.map((figs) => figs.map((f) => f.figure))).sort((a, b) => a - b);
    for (const n of numbers) {
      const figures = left.map((figs) => figs.find((f) => f.figure === n) ?? null);
      const titled = figures.find((f) => f !== null && figureTitle(f));
      nodeGroups.push({
        key: `${node}\u0000figure\u0000${n}`,
        node,
        title: (titled && figureTitle(titled)) ?? `Figure ${n}`,
        matchedBy: 'figure',
        figures,
        order: n,
      });
    }
    nodeGroups.sort((a, b) => a.order - b.order);
    for (const { order: _order, ...g } of nodeGroups) groups.push(g);
  }
  return groups;
}

export interface OverlaySeries {
  /** Which run drew it (index into the runs), for its colour and legend. */
  run: number;
  label: string;
  points: { x: number; y: number }[];
}
export interface OverlayAxes {
  /** The axes' index in the figures. */
  index: number;
  title?: string;
  xlabel?: string;
  ylabel?: string;
  series: OverlaySeries[];
}
export type FigureOverlay = { kind: 'overlay'; axes: OverlayAxes[] } | { kind: 'none'; reason: string };

function linePoints(line: FigureLine): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  const n = Math.min(line.x.length, line.y.length);
  for (let k = 0; k < n; k++) {
    const x = line.x[k];
    const y = line.y[k];
    if (typeof x === 'number' && typeof y === 'number' && Number.isFinite(x) && Number.isFinite(y))
      out.push({ x, y });
  }
  return out;
}

/**
 * The line data of matching figures on one chart per axes, each line named after its run: axes are paired by
 * their place in the figure, and drawn where at least two runs have lines on them. Images, 3D axes and scatters
 * carry no lines to overlay; the reason says so.
 */
export function overlayFigures(
  group: FigureGroup<ComparedFigure>,
  runNames: readonly string[],
): FigureOverlay {
  const present = group.figures.filter((f) => f !== null).length;
  if (present < 2) return { kind: 'none', reason: 'only one execution has this figure' };
  const axesCount = Math.max(...group.figures.map((f) => f?.axes.length ?? 0));
  const axes: OverlayAxes[] = [];
  for (let index = 0; index < axesCount; index++) {
    const series: OverlaySeries[] = [];
    const drawing = new Set<number>();
    let first: FigureAxes | undefined;
    group.figures.forEach((f, run) => {
      const a = f?.axes[index];
      if (!a || a.kind !== '2d') return;
      const lines = a.lines
        .map((l, j) => ({ l, j, points: linePoints(l) }))
        .filter((l) => l.points.length > 0);
      if (lines.length === 0) return;
      first ??= a;
      drawing.add(run);
      const name = runNames[run] ?? `execution ${run + 1}`;
      for (const { l, j, points } of lines) {
        series.push({
          run,
          label: a.lines.length === 1 ? name : `${name} · ${l.label ?? `line ${j + 1}`}`,
          points,
        });
      }
    });
    if (drawing.size < 2 || !first) continue;
    const at: FigureAxes = first;
    axes.push({
      index,
      ...(at.title !== undefined ? { title: at.title } : {}),
      ...(at.xlabel !== undefined ? { xlabel: at.xlabel } : {}),
      ...(at.ylabel !== undefined ? { ylabel: at.ylabel } : {}),
      series,
    });
  }
  if (axes.length === 0)
    return {
      kind: 'none',
      reason: 'no line data to overlay (images, 3D axes and scatters are shown side by side only)',
    };
  return { kind: 'overlay', axes };
}
