import { MAX_NODE_GPUS, WorkerLabelSchema } from '@deepforge/core';
import type { Platform } from '@deepforge/protocol';

/**
 * Where jobs may run, as people type it (docs/project-format.md, docs/web-server.md): worker labels as a list
 * separated by commas or spaces, and a number of GPUs. Both are checked here the way the server checks them, so
 * the field says what is wrong before anything is stored or sent.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** `gpu, a100` → ['gpu', 'a100'] (duplicates dropped, order kept); empty text → []. */
export function parseLabels(text: string): Parsed<string[]> {
  const labels: string[] = [];
  for (const word of text.split(/[\s,]+/)) {
    if (word === '') continue;
    const parsed = WorkerLabelSchema.safeParse(word);
    if (!parsed.success) {
      return {
        ok: false,
        error: `"${word}" is not a label: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      };
    }
    if (!labels.includes(word)) labels.push(word);
  }
  if (labels.length > 64) return { ok: false, error: 'at most 64 labels' };
  return { ok: true, value: labels };
}

/** `2` → 2; empty text → undefined (none asked for); anything but a whole number from 0 to 64 is an error. */
export function parseGpus(text: string | number): Parsed<number | undefined> {
  const t = String(text).trim();
  if (t === '') return { ok: true, value: undefined };
  const n = Number(t);
  if (!/^\d+$/.test(t) || !Number.isInteger(n) || n > MAX_NODE_GPUS) {
    return { ok: false, error: `GPUs must be a whole number from 0 to ${MAX_NODE_GPUS}` };
  }
  return { ok: true, value: n };
}

/** The compute the execute dialog starts with: the first the server offers that is available, else none. */
export function defaultCompute(compute: readonly Platform[] | undefined): string | null {
  return compute?.find((p) => p.available)?.id ?? null;
}

/**
 * Whether a node or execution placement applies on this compute: labels on workers; GPUs there, locally, and on
 * Slurm (asked for as `--gres=gpu:N` unless a gres option is given).
 */
export function placementFields(compute: string | null): { labels: boolean; gpus: boolean } {
  return {
    labels: compute === 'workers',
    gpus: compute === 'workers' || compute === 'local' || compute === 'slurm',
  };
}
