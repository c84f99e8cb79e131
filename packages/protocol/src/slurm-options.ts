import { z } from 'zod';

/**
 * Where and how long a job runs on Slurm (docs/adr/0016): defaults from the `compute.slurm.*` settings, then an
 * execution's options, then a node's own. Each value becomes one `#SBATCH` line, so each is checked here to be a
 * single word of the form sbatch takes: nothing can smuggle another option or a shell command into the script.
 */
const SLURM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

/** sbatch's `--time` forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (or UNLIMITED). */
const SLURM_TIME =
  /^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/;

export const SlurmJobOptionsSchema = z.strictObject({
  /** `--partition`: the partition (queue) to submit to. */
  partition: z
    .string()
    .max(128)
    .regex(SLURM_NAME, 'a partition name: letters, digits, `_`, `.`, `+`, `-`')
    .optional(),
  /** `--account`: the account charged. */
  account: z
    .string()
    .max(128)
    .regex(SLURM_NAME, 'an account name: letters, digits, `_`, `.`, `+`, `-`')
    .optional(),
  /** `--time`: the job's time limit; Slurm ends it (state TIMEOUT) once it is reached. */
  time: z
    .string()
    .regex(
      SLURM_TIME,
      'a time limit as sbatch takes it: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS',
    )
    .optional(),
  /** `--gres`: generic resources, e.g. `gpu:1` or `gpu:a100:2`. */
  gres: z
    .string()
    .max(256)
    .regex(/^[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$/, 'generic resources such as gpu:1 or gpu:a100:2,shard:1')
    .optional(),
  /** `--mem`: memory per node, e.g. `4G` or `500M`; past it Slurm ends the job (OUT_OF_MEMORY). */
  mem: z
    .string()
    .regex(/^\d+[KMGT]?$/, 'an amount of memory such as 4G, 500M or 2048 (MB)')
    .optional(),
  /** `--cpus-per-task`. */
  cpusPerTask: z.number().int().min(1).max(4096).optional(),
});
export type SlurmJobOptions = z.infer<typeof SlurmJobOptionsSchema>;

/** The options of a job: later sources win, key by key. */
export function mergeSlurmOptions(...sources: (SlurmJobOptions | undefined)[]): SlurmJobOptions {
  const out: SlurmJobOptions = {};
  for (const source of sources) {
    if (!source) continue;
    for (const [key, value] of Object.entries(source) as [keyof SlurmJobOptions, unknown][]) {
      if (value !== undefined) (out as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}

/** The option names, as `--slurm key=value` and the execute dialog take them. */
export const SLURM_OPTION_KEYS = Object.keys(SlurmJobOptionsSchema.shape) as (keyof SlurmJobOptions)[];

/** One option of every job (`time=2:00:00`) or of a node's (`train.gres=gpu:1`), as people type it. */
export interface SlurmAssignment {
  node?: string;
  key: keyof SlurmJobOptions;
  value: string | number;
}

/**
 * `[node.]key=value` → the option, or what is wrong: the form, the key, or the value (checked as sbatch would take
 * it, the node's existence left to the engine). `cpusPerTask` takes a number.
 */
export function parseSlurmAssignment(text: string): SlurmAssignment | { error: string } {
  const m = /^(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z]+)=(.+)$/.exec(text.trim());
  if (!m) {
    return {
      error: `expected [node.]key=value, such as time=2:00:00 or train.gres=gpu:1; got ${JSON.stringify(text.slice(0, 200))}`,
    };
  }
  const [, node, key, raw] = m as unknown as [string, string | undefined, string, string];
  if (!(SLURM_OPTION_KEYS as string[]).includes(key)) {
    return { error: `unknown Slurm option ${JSON.stringify(key)}; known: ${SLURM_OPTION_KEYS.join(', ')}` };
  }
  const value = key === 'cpusPerTask' && /^\d+$/.test(raw) ? Number(raw) : raw;
  const problem = slurmValueProblem(key as keyof SlurmJobOptions, value);
  if (problem !== undefined) return { error: `${node === undefined ? '' : `${node}.`}${key}: ${problem}` };
  return { ...(node === undefined ? {} : { node }), key: key as keyof SlurmJobOptions, value };
}

/** What is wrong with a value of one option, or undefined when sbatch would take it. */
export function slurmValueProblem(key: keyof SlurmJobOptions, value: string | number): string | undefined {
  const parsed = SlurmJobOptionsSchema.shape[key].safeParse(value);
  if (parsed.success) return undefined;
  return parsed.error.issues[0]?.message ?? 'invalid';
}
