import { assertNever, type ExecutionStatus, type JobStatus } from '@deepforge/core';

export interface StatusStyle {
  /** Fill of the node in the execution trace. */
  fill: string;
  /** Text drawn on the fill (contrast). */
  text: string;
  /** Mantine colour for badges. */
  badge: string;
  label: string;
}

/**
 * The trace colours of the DeepForge docs: dark gray pending, light gray queued, yellow running, orange canceled,
 * green success, red failed; cached (ours) is teal, so reused results stand apart from fresh successes.
 */
export function jobStatusStyle(status: JobStatus): StatusStyle {
  switch (status) {
    case 'pending':
      return { fill: '#495057', text: '#ffffff', badge: 'dark', label: 'Pending' };
    case 'queued':
      return { fill: '#ced4da', text: '#212529', badge: 'gray', label: 'Queued' };
    case 'running':
      return { fill: '#fcc419', text: '#212529', badge: 'yellow', label: 'Running' };
    case 'canceled':
      return { fill: '#fd7e14', text: '#ffffff', badge: 'orange', label: 'Canceled' };
    case 'success':
      return { fill: '#40c057', text: '#ffffff', badge: 'green', label: 'Succeeded' };
    case 'failed':
      return { fill: '#fa5252', text: '#ffffff', badge: 'red', label: 'Failed' };
    case 'cached':
      return { fill: '#15aabf', text: '#ffffff', badge: 'cyan', label: 'Cached' };
    default:
      return assertNever(status);
  }
}

export function executionStatusStyle(status: ExecutionStatus): StatusStyle {
  switch (status) {
    case 'pending':
    case 'running':
    case 'success':
    case 'failed':
    case 'canceled':
      return jobStatusStyle(status);
    default:
      return assertNever(status);
  }
}

/**
 * How long an execution or job has run: its recorded duration once it ended (or while it has not started), else
 * `serverNow − startedAt`, so that a running one's duration moves (the recorded one is as of the last fetch).
 */
export function liveDuration(
  item: { startedAt: number | null; endedAt: number | null; durationMs: number | null },
  serverNow: number,
): number | null {
  if (!isUnderway(item) || item.startedAt === null) return item.durationMs;
  return Math.max(item.durationMs ?? 0, serverNow - item.startedAt);
}

/** Started and not ended: its duration moves (see liveDuration). */
export function isUnderway(item: { startedAt: number | null; endedAt: number | null }): boolean {
  return item.startedAt !== null && item.endedAt === null;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.floor(s % 60);
  if (m < 60) return `${m}m ${String(rest).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, '0')}m`;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** What a job used, in one line: "CPU 1.2 s · peak 212 MiB · GPU 3.0 GiB" (GPU only when it used CUDA). */
export function formatUsage(usage: {
  cpuSeconds: number;
  peakRssBytes: number;
  peakGpuBytes?: number;
}): string {
  const parts = [`CPU ${formatDuration(usage.cpuSeconds * 1000)}`, `peak ${formatBytes(usage.peakRssBytes)}`];
  if (usage.peakGpuBytes !== undefined) parts.push(`GPU ${formatBytes(usage.peakGpuBytes)}`);
  return parts.join(' · ');
}

/** "3 min ago", "yesterday": times in lists, relative to `now`. */
export function formatRelativeTime(t: number, now: number): string {
  const d = Math.max(0, now - t) / 1000;
  if (d < 10) return 'just now';
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86_400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 2 * 86_400) return 'yesterday';
  if (d < 30 * 86_400) return `${Math.floor(d / 86_400)} days ago`;
  return new Date(t).toLocaleDateString();
}
