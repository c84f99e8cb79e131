import { constants } from 'node:os';

/** How a Slurm job ended, as the job's process exit: `endedBy` when Slurm ended it rather than the harness. */
export interface SlurmJobEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  endedBy?: string;
}

/** `scontrol show job -o` output (`Key=Value` pairs separated by spaces) as a record; values may not hold spaces. */
export function parseScontrolJob(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const pair of text.trim().split(/\s+/)) {
    const eq = pair.indexOf('=');
    // The first of a key wins: later ones of the same name belong to nested sections (steps, TRES).
    if (eq > 0 && !(pair.slice(0, eq) in fields)) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return fields;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** Why Slurm ended a job, in words, by its final state (Slurm's own reason follows in parentheses). */
const ENDED_BY_SLURM: Record<string, (f: Record<string, string>) => string> = {
  TIMEOUT: (f) => `it reached its time limit${f.TimeLimit ? ` of ${f.TimeLimit}` : ''}`,
  OUT_OF_MEMORY: () => 'it used more memory than it was given (--mem)',
  PREEMPTED: () => 'a job of higher priority took its resources',
  CANCELLED: () => 'cancelled outside DeepForge (scancel, or an administrator)',
  NODE_FAIL: (f) => `its node${f.NodeList ? ` ${f.NodeList}` : ''} failed`,
  BOOT_FAIL: () => 'its node failed to boot',
  DEADLINE: () => 'it reached its deadline',
};

/**
 * The exit of a job from its final JobState, ExitCode (`code:signal`) and Reason. COMPLETED and FAILED are the
 * harness's own ending (its exit code and error event say why); any other end is Slurm's doing, and the job fails
 * with Slurm's state and reason.
 */
export function slurmEnd(fields: Record<string, string>): SlurmJobEnd {
  const state = (fields.JobState ?? '').split(' ')[0]!;
  const [codeText, signalText] = (fields.ExitCode ?? '').split(':');
  const signalNumber = Number(signalText);
  const signal = signalNumber > 0 ? (SIGNAL_NAMES.get(signalNumber) ?? null) : null;
  const code = signal ? null : codeText !== undefined && /^\d+$/.test(codeText) ? Number(codeText) : null;
  const reason = fields.Reason && fields.Reason !== 'None' ? fields.Reason : '';
  const id = fields.JobId ? ` ${fields.JobId}` : '';
  if (state === 'COMPLETED' || (state === 'FAILED' && (code !== 0 || signal))) return { code, signal };
  const words = ENDED_BY_SLURM[state]?.(fields);
  const detail = [words, reason && `reason ${reason}`].filter(Boolean).join('; ');
  return {
    code,
    signal,
    endedBy: `Slurm ended job${id}: ${state || 'unknown state'}${detail ? ` (${detail})` : ''}`,
  };
}
