import type { ExecutionDetails, ExecutionSummary, JobTelemetry } from '@deepforge/engine';
import type { ExecutionDetailsDto, ExecutionSummaryDto } from '@deepforge/protocol';
import type { z } from 'zod';
import type { ListPlotsResponseSchema, ListProgressResponseSchema } from '@deepforge/protocol';

/** The wire form of an execution: without the server's file paths. */
export function executionSummaryDto(e: ExecutionSummary): ExecutionSummaryDto {
  return {
    id: e.id,
    name: e.name,
    projectId: e.projectId,
    pipeline: e.pipeline,
    status: e.status,
    createdAt: e.createdAt,
    startedAt: e.startedAt,
    endedAt: e.endedAt,
    durationMs: e.durationMs,
    jobCounts: e.jobCounts,
    ...(e.version !== null ? { version: e.version } : {}),
  };
}

export function executionDetailsDto(e: ExecutionDetails): ExecutionDetailsDto {
  const overrides = e.options.overrides;
  return {
    ...executionSummaryDto(e),
    options: {
      cache: e.options.cache === true,
      concurrency: typeof e.options.concurrency === 'number' ? e.options.concurrency : 1,
      overrides: Array.isArray(overrides) ? overrides.filter((o): o is string => typeof o === 'string') : [],
    },
    pipelineSnapshot: e.pipelineSnapshot,
    startedBy: typeof e.options.startedBy === 'string' ? e.options.startedBy : null,
    jobs: e.jobs.map((j) => ({
      id: j.id,
      node: j.node,
      operation: j.operation,
      status: j.status,
      attempt: j.attempt,
      startedAt: j.startedAt,
      endedAt: j.endedAt,
      durationMs: j.durationMs,
      exitCode: j.exitCode,
      error: j.error,
      cachedFrom: j.cachedFrom,
      outputs: j.outputs,
      usage: j.usage,
    })),
    failure: e.failure,
  };
}

type PlotDto = z.infer<typeof ListPlotsResponseSchema>['items'][number];
type ProgressDto = z.infer<typeof ListProgressResponseSchema>['items'][number];

export function plotsDto(t: JobTelemetry): PlotDto[] {
  return t.plots.map((p) => {
    const payload = p.payload as Partial<PlotDto>;
    return {
      figure: p.figure,
      seq: p.seq,
      ...(payload.title !== undefined ? { title: payload.title } : {}),
      ...(payload.svg !== undefined ? { svg: payload.svg } : {}),
      ...(payload.png !== undefined ? { png: payload.png } : {}),
      axes: payload.axes ?? [],
      t: p.t,
    };
  });
}

export function progressDto(t: JobTelemetry): ProgressDto[] {
  return t.progress.map((p) => {
    const payload = p.payload as Partial<ProgressDto>;
    return {
      bar: p.bar,
      ...(payload.desc !== undefined ? { desc: payload.desc } : {}),
      n: payload.n ?? 0,
      total: payload.total ?? null,
      ...(payload.unit !== undefined ? { unit: payload.unit } : {}),
      ...(payload.rate !== undefined ? { rate: payload.rate } : {}),
      ...(payload.done !== undefined ? { done: payload.done } : {}),
      t: p.t,
    };
  });
}
