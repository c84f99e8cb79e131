import { appendFile, mkdir } from 'node:fs/promises';
import type { ExecutionStatus, JobStatus } from '@deepforge/core';
import type { JobError, RuntimeEvent } from '@deepforge/protocol';
import { EXECUTION_EVENTS_VERSION } from '@deepforge/protocol/engine';
import type { EventBus } from '../event-bus.js';
import type { ExecutionRecord } from '../store/execution.store.js';
import { consoleLogOf, jobDirOf } from './execution-files.js';

/** A job's live event, without what every event of the execution carries (version, time, ids). */
export type JobEvent =
  | {
      type: 'job.status';
      operation: string;
      status: JobStatus;
      attempt: number;
      exitCode?: number;
      error?: JobError;
      cachedFrom?: string;
    }
  | { type: 'job.log'; stream: 'stdout' | 'stderr' | 'engine'; text: string; transient?: boolean }
  | {
      type: 'job.plot';
      figure: number;
      seq: number;
      title?: string;
      svg?: string;
      png?: string;
      axes: Extract<RuntimeEvent, { type: 'plot' }>['axes'];
    }
  | { type: 'job.metric'; step: number | null; values: Record<string, number> }
  | {
      type: 'job.progress';
      bar: string;
      desc?: string;
      n: number;
      total: number | null;
      unit?: string;
      rate?: number | null;
      done?: boolean;
    };

export interface ExecutionEventsContext {
  bus: EventBus;
  dataDir: string;
  now(): number;
  /** What every execution event names; none of it changes while the execution runs. */
  execution: Pick<ExecutionRecord, 'id' | 'pipeline' | 'project' | 'projectId'>;
  /** The id of the job of a node. */
  jobIdOf(node: string): string;
}

/** What one execution tells its observers: its status, its jobs' events, and the engine's lines in their consoles. */
export class ExecutionEvents {
  constructor(private readonly ctx: ExecutionEventsContext) {}

  emitExecution(status: ExecutionStatus): void {
    const { execution } = this.ctx;
    this.ctx.bus.emit({
      v: EXECUTION_EVENTS_VERSION,
      t: this.ctx.now(),
      executionId: execution.id,
      type: 'execution.status',
      status,
      pipeline: execution.pipeline,
      project: execution.project,
      projectId: execution.projectId,
    });
  }

  emitJob(node: string, event: JobEvent): void {
    this.ctx.bus.emit({
      v: EXECUTION_EVENTS_VERSION,
      t: this.ctx.now(),
      executionId: this.ctx.execution.id,
      jobId: this.ctx.jobIdOf(node),
      node,
      ...event,
    });
  }

  /** A line of the engine's own in the job's console log, and live. */
  async logLine(node: string, text: string): Promise<void> {
    const { dataDir, execution } = this.ctx;
    const file = consoleLogOf(dataDir, execution.id, node);
    await mkdir(jobDirOf(dataDir, execution.id, node), { recursive: true });
    await appendFile(file, text + '\n').catch(() => undefined);
    this.emitJob(node, { type: 'job.log', stream: 'engine', text });
  }
}
