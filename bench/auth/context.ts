import type { HostStats, Servers } from './host-protocol.js';

/** What every accounts benchmark gets: the servers, how much to measure, and a place to say what it does. */
export interface AuthBenchContext {
  host: Servers;
  /** The accounts stores' writes so far, counted in the processes of the servers with accounts on. */
  hostStats(): Promise<HostStats>;
  /** Measured blocks (the spread across them is reported), after a warm-up. */
  blocks: number;
  /** requests: rounds per block; coedit: edits per block. */
  rounds: number;
  /** Warm-up rounds (requests) or edits (co-editing), not counted. */
  warmup: number;
  /** Co-editing: signed-in clients on the document, the typist included. */
  clients: number;
  log: (line: string) => void;
}

export interface AuthBenchResult {
  /** One line for the terminal. */
  summaryLine: string;
  /** The block's body in docs/benchmarks.md. */
  markdown: string;
  /** Raw numbers, for bench/results/. */
  raw: unknown;
}

/** Milliseconds with the precision sub-millisecond latencies need. */
export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100) return `${x.toFixed(0)} ms`;
  if (a >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function signedMs(x: number): string {
  return `${x >= 0 ? '+' : '−'}${fmtMs(Math.abs(x))}`;
}
