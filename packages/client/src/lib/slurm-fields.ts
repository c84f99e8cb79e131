import type { SlurmJobOptions } from '@deepforge/protocol';
import { parseSlurmAssignment, slurmValueProblem } from '@deepforge/protocol';
import type { Parsed } from './placement.js';

/** The execute dialog's Slurm fields (compute `slurm`), in the order shown. */
export const SLURM_FIELDS: readonly { key: keyof SlurmJobOptions; label: string; example: string }[] = [
  { key: 'partition', label: 'Partition', example: 'gpu' },
  { key: 'account', label: 'Account', example: 'lab' },
  { key: 'time', label: 'Time limit', example: '2:00:00' },
  { key: 'gres', label: 'Generic resources (gres)', example: 'gpu:1' },
  { key: 'mem', label: 'Memory', example: '16G' },
  { key: 'cpusPerTask', label: 'CPUs per task', example: '4' },
];

/**
 * The options of every job, from the fields as typed (empty: the server's default), each checked as sbatch would
 * take it: the options, or the problem of each field that has one.
 */
export function slurmOptions(
  fields: Partial<Record<keyof SlurmJobOptions, string>>,
):
  | { ok: true; value: SlurmJobOptions }
  | { ok: false; errors: Partial<Record<keyof SlurmJobOptions, string>> } {
  const value: Record<string, string | number> = {};
  const errors: Partial<Record<keyof SlurmJobOptions, string>> = {};
  for (const { key } of SLURM_FIELDS) {
    const text = fields[key]?.trim() ?? '';
    if (text === '') continue;
    const v = key === 'cpusPerTask' && /^\d+$/.test(text) ? Number(text) : text;
    const problem = slurmValueProblem(key, v);
    if (problem === undefined) value[key] = v;
    else errors[key] = problem;
  }
  return Object.keys(errors).length > 0
    ? { ok: false, errors }
    : { ok: true, value: value as SlurmJobOptions };
}

/**
 * Options of some nodes, one `node.key=value` per line (or separated by spaces), as `deepforge run --slurm` takes
 * them: node id → its options; the first problem otherwise, naming the line.
 */
export function parseNodeSlurm(text: string): Parsed<Record<string, SlurmJobOptions>> {
  const out: Record<string, Record<string, string | number>> = {};
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    const parsed = parseSlurmAssignment(word);
    if ('error' in parsed) return { ok: false, error: parsed.error };
    if (parsed.node === undefined) {
      return {
        ok: false,
        error: `${word}: name the node it is for, as node.${parsed.key}=${String(parsed.value)} (the fields above are every job's)`,
      };
    }
    (out[parsed.node] ??= {})[parsed.key] = parsed.value;
  }
  return { ok: true, value: out as Record<string, SlurmJobOptions> };
}
