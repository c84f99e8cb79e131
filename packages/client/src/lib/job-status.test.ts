import { JOB_STATUSES } from '@deepforge/core';
import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatDuration,
  formatRelativeTime,
  formatUsage,
  jobStatusStyle,
  liveDuration,
} from './job-status.js';

describe('jobStatusStyle', () => {
  it('uses the colours the DeepForge docs list for the execution trace', () => {
    expect(jobStatusStyle('pending').fill).toBe('#495057'); // dark gray
    expect(jobStatusStyle('queued').fill).toBe('#ced4da'); // light gray
    expect(jobStatusStyle('running').badge).toBe('yellow');
    expect(jobStatusStyle('canceled').badge).toBe('orange');
    expect(jobStatusStyle('success').badge).toBe('green');
    expect(jobStatusStyle('failed').badge).toBe('red');
  });

  it('gives every status its own fill, cached included', () => {
    const fills = JOB_STATUSES.map((s) => jobStatusStyle(s).fill);
    expect(new Set(fills).size).toBe(JOB_STATUSES.length);
    expect(jobStatusStyle('cached').fill).not.toBe(jobStatusStyle('success').fill);
  });

  it('keeps text readable on light fills', () => {
    expect(jobStatusStyle('queued').text).toBe('#212529');
    expect(jobStatusStyle('running').text).toBe('#212529');
  });
});

describe('formatting', () => {
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(420)).toBe('420 ms');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(75_000)).toBe('1m 15s');
    expect(formatDuration(2 * 3600_000 + 5 * 60_000)).toBe('2h 05m');
  });
  it('formats sizes', () => {
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(500 * 1024 * 1024)).toBe('500 MiB');
  });
  it("formats a job's usage, GPU memory only when there is some", () => {
    expect(formatUsage({ cpuSeconds: 0.61, peakRssBytes: 212 * 1024 * 1024 })).toBe(
      'CPU 610 ms · peak 212 MiB',
    );
    expect(formatUsage({ cpuSeconds: 75, peakRssBytes: 2 * 1024 ** 3, peakGpuBytes: 3 * 1024 ** 3 })).toBe(
      'CPU 1m 15s · peak 2.0 GiB · GPU 3.0 GiB',
    );
  });
  it('formats relative times', () => {
    expect(formatRelativeTime(1000, 5000)).toBe('just now');
    expect(formatRelativeTime(0, 5 * 60_000)).toBe('5 min ago');
    expect(formatRelativeTime(0, 3 * 3600_000)).toBe('3 h ago');
  });
});

describe('liveDuration', () => {
  it('moves while running, and is the recorded duration once ended or before the start', () => {
    expect(liveDuration({ startedAt: 1_000, endedAt: null, durationMs: 500 }, 4_000)).toBe(3_000);
    expect(liveDuration({ startedAt: 1_000, endedAt: 2_000, durationMs: 1_000 }, 9_000)).toBe(1_000);
    expect(liveDuration({ startedAt: null, endedAt: null, durationMs: null }, 9_000)).toBeNull();
    // Never below what the server said (a tab clock estimate a little behind).
    expect(liveDuration({ startedAt: 1_000, endedAt: null, durationMs: 2_500 }, 3_000)).toBe(2_500);
  });
});
