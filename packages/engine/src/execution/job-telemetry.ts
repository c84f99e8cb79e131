import type { Logger } from 'pino';
import { assertNever, type JsonValue } from '@deepforge/core';
import type { RuntimeEvent } from '@deepforge/protocol';
import type { TelemetryStore } from '../store/telemetry.store.js';
import type { ExecutionEvents } from './execution-events.js';
import { TelemetryBuffer } from './telemetry-buffer.js';

/**
 * What jobs report while they run (plots, metrics, progress): sent live at once, and stored in batches (the
 * latest plot per figure and state per bar).
 */
export class JobTelemetry {
  private readonly buffer: TelemetryBuffer;

  constructor(
    private readonly store: TelemetryStore,
    private readonly events: Pick<ExecutionEvents, 'emitJob'>,
    logger: Logger,
  ) {
    this.buffer = new TelemetryBuffer(store, logger);
  }

  /** A runtime event of the job of `node` (id `jobId`); events that are not telemetry are left alone. */
  record(node: string, jobId: string, e: Exclude<RuntimeEvent, { type: 'log' }>): void {
    switch (e.type) {
      case 'plot': {
        const payload = {
          figure: e.figure,
          seq: e.seq,
          ...(e.title !== undefined ? { title: e.title } : {}),
          ...(e.svg !== undefined ? { svg: e.svg } : {}),
          ...(e.png !== undefined ? { png: e.png } : {}),
          axes: e.axes,
        };
        this.buffer.plot({
          jobId,
          figure: e.figure,
          seq: e.seq,
          payload: payload as Record<string, JsonValue>,
          t: e.t,
        });
        this.events.emitJob(node, { type: 'job.plot', ...payload });
        return;
      }
      case 'metric':
        for (const [name, value] of Object.entries(e.values)) {
          this.buffer.metric({ jobId, step: e.step, name, value, t: e.t });
        }
        this.events.emitJob(node, { type: 'job.metric', step: e.step, values: e.values });
        return;
      case 'progress': {
        const payload = {
          bar: e.bar,
          ...(e.desc !== undefined ? { desc: e.desc } : {}),
          n: e.n,
          total: e.total,
          ...(e.unit !== undefined ? { unit: e.unit } : {}),
          ...(e.rate !== undefined ? { rate: e.rate } : {}),
          ...(e.done !== undefined ? { done: e.done } : {}),
        };
        this.buffer.progress({
          jobId,
          bar: e.bar,
          payload: payload as Record<string, JsonValue>,
          t: e.t,
        });
        this.events.emitJob(node, { type: 'job.progress', ...payload });
        return;
      }
      case 'hello':
      case 'phase':
      case 'output':
      case 'error':
      case 'usage':
        return;
      default:
        assertNever(e, 'runtime event');
    }
  }

  /** Writes what is buffered; resolves once it is stored (or the failure logged). */
  flush(): Promise<void> {
    return this.buffer.flush();
  }

  /** Forgets what a job reported in an earlier attempt, when it starts again. */
  clear(jobId: string): Promise<void> {
    return this.store.clearTelemetry(jobId);
  }
}
