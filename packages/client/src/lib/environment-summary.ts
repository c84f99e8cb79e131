import { needsEnvironment, parseEnvironmentFile } from '@deepforge/core';

/** What the Environment tab says about an operation's environment file, as the engine will read it. */
export type EnvironmentSummary =
  | { kind: 'none' }
  | { kind: 'problems'; problems: { line: number; column: number; message: string }[] }
  | {
      kind: 'ready';
      /** The pip requirements installed into the operation's venv; empty: it runs with the machine's Python. */
      packages: string[];
      /** The python constraint checked against the interpreter, as written. */
      python: string | null;
      notes: { line: number; message: string }[];
    };

export function summarizeEnvironment(text: string): EnvironmentSummary {
  const parsed = parseEnvironmentFile(text);
  if (!parsed.ok) return { kind: 'problems', problems: parsed.problems };
  const { plan } = parsed;
  if (!needsEnvironment(plan) && !plan.python) return { kind: 'none' };
  return {
    kind: 'ready',
    packages: plan.requirements.map((r) => r.pip),
    python: plan.python?.written ?? null,
    notes: plan.notes,
  };
}
