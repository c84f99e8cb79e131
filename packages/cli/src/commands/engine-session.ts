import { InvalidArgumentError } from 'commander';
import type { Engine, ExecutionDetails, StartedExecution } from '@deepforge/engine';
import { openEngine } from '@deepforge/engine';
import type { ExecutionEvent } from '@deepforge/protocol';
import type { CliContext } from '../cli-context.js';
import { openRunRenderer } from '../render/run.renderer.js';
import type { RenderedJob } from '../render/run.renderer.js';

export interface SessionOptions {
  timeout?: number;
  json?: boolean;
  color?: boolean;
}

/** `warmUp`: the command runs a pipeline next (OpenEngineOptions.warmUp). */
export async function openCliEngine(
  ctx: CliContext,
  opts: SessionOptions = {},
  { warmUp = false }: { warmUp?: boolean } = {},
): Promise<Engine> {
  return openEngine({
    env: ctx.env,
    warmUp,
    ...(warmUp && ctx.prestarted ? { prestarted: ctx.prestarted } : {}),
    // Jobs needing GPUs get this machine's (asked once, when the first such job starts).
    localGpus: async () => {
      const { detectGpus } = await import('@deepforge/server');
      return (await detectGpus(ctx.env)).map((g) => g.index);
    },
    ...(opts.timeout !== undefined ? { settings: { 'executions.timeout': opts.timeout } } : {}),
  });
}

/**
 * Starts an execution and reports it until it ends: live events to the terminal (or JSON lines), Ctrl-C cancels
 * it (a second Ctrl-C leaves at once), and the closing summary.
 */
export async function watchExecution(
  engine: Engine,
  ctx: CliContext,
  opts: SessionOptions,
  jobs: readonly RenderedJob[],
  start: () => Promise<StartedExecution>,
): Promise<ExecutionDetails> {
  const json = opts.json === true;
  const color = opts.color !== false && !json && Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR;
  const renderer = json
    ? null
    : await openRunRenderer(jobs, { out: ctx.out, live: Boolean(ctx.out.isTTY), color });
  // Events arrive from the moment the execution exists; buffer them until we know its id.
  let executionId: string | null = null;
  const early: ExecutionEvent[] = [];
  const onEvent = (event: ExecutionEvent): void => {
    if (executionId === null) {
      early.push(event);
      return;
    }
    if (event.executionId !== executionId) return;
    if (json) ctx.out.write(JSON.stringify(event) + '\n');
    else renderer!.handle(event);
  };
  const unsubscribe = engine.subscribe('*', onEvent);
  let interrupted = 0;
  const onSigint = (): void => {
    interrupted++;
    if (interrupted > 1 || executionId === null) process.exit(130);
    ctx.err.write('\nCanceling (Ctrl-C again to leave at once) …\n');
    void engine.cancelExecution(executionId);
  };
  process.on('SIGINT', onSigint);
  try {
    const started = await start();
    executionId = started.id;
    for (const e of early.splice(0)) onEvent(e);
    // The outcome when its jobs are done. The background checks of its outputs that are still running are left
    // to the next engine that opens the blob store (the caller closes with `leaveChecks`): re-reading what the
    // jobs have just written is not on the path of the command's exit (docs/adr/0005).
    const details = await started.done;
    if (json) {
      ctx.out.write(JSON.stringify({ type: 'run.result', ...resultOf(details) }) + '\n');
    } else {
      renderer!.finish({
        executionId: details.id,
        status: details.status,
        durationMs: details.durationMs,
        pipeline: details.pipeline,
      });
    }
    return details;
  } finally {
    process.off('SIGINT', onSigint);
    unsubscribe();
  }
}

function resultOf(d: ExecutionDetails) {
  return {
    executionId: d.id,
    name: d.name,
    project: d.project,
    projectId: d.projectId,
    pipeline: d.pipeline,
    status: d.status,
    durationMs: d.durationMs,
    jobs: d.jobs.map((j) => ({
      node: j.node,
      operation: j.operation,
      status: j.status,
      durationMs: j.durationMs,
      error: j.error,
      outputs: j.outputs,
      cachedFrom: j.cachedFrom,
    })),
  };
}

/** A commander parser for whole numbers ≥ min, with an error naming the option. */
export function positiveIntegerOption(option: string, min = 1) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(
        `${option} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}`,
      );
    }
    return n;
  };
}
