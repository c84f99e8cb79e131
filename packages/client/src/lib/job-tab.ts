/** The tabs of a job in the execution view. */
export type JobTab = 'console' | 'plots' | 'metrics' | 'outputs' | 'error';

/**
 * The tab a job opens on: the one asked for (the URL's `tab`) while the job has it, else its Error for a job that
 * failed with one (what a user opens a failed node for), else its Console.
 */
export function jobTab(requested: string | null, hasError: boolean): string {
  if (requested && (requested !== 'error' || hasError)) return requested;
  return hasError ? 'error' : 'console';
}

/**
 * The `tab` to keep in the URL when another node is selected in the trace: a failed node's Error (issue 13: it
 * opened on Console), none (its default) instead of an Error the new node does not have, else the same tab, so
 * one can go through the nodes' metrics or plots.
 */
export function tabOnSelect(current: string | null, hasError: boolean): string | null {
  if (hasError) return 'error';
  return current === 'error' ? null : current;
}
