import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain, py } from './test-support/project-files.js';

let f: EngineFixture;
beforeEach(async () => {
  f = await engineFixture({ 'executions.concurrency': 1 });
});
afterEach(async () => {
  await f.cleanup();
});

describe('the engine clock', () => {
  it('stamps wall-clock times however many metrics, lines and events a job reports', async () => {
    const { project } = await f.project({
      operations: {
        Chatty: py(
          'import deepforge',
          'class Chatty():',
          '    def execute(self):',
          '        for i in range(100000):',
          '            deepforge.log(step=i, loss=1.0 / (i + 1))',
          '        for i in range(5000):',
          '            print("line", i)',
          '        done = True',
          '        return done',
        ),
      },
      pipelines: { p: chain([{ id: 'n', operation: 'Chatty' }], []) },
    });
    const before = Date.now();
    const started = await f.engine
      .startExecution({ project, pipelineName: 'p' })
      .catch((err: { diagnostics?: unknown }) => {
        throw new Error(JSON.stringify(err.diagnostics));
      });
    const ended = await started.done;
    const after = Date.now();
    expect(ended.status).toBe('success');

    // Every stored time lies within the wall-clock window of the run, and durations fit in it.
    for (const t of [ended.createdAt, ended.startedAt, ended.endedAt]) {
      expect(t).toBeGreaterThanOrEqual(before);
      expect(t).toBeLessThanOrEqual(after);
    }
    const job = ended.jobs[0]!;
    expect(job.startedAt).toBeGreaterThanOrEqual(before);
    expect(job.endedAt).toBeLessThanOrEqual(after);
    expect(ended.endedAt! - ended.createdAt).toBeLessThanOrEqual(after - before);

    const telemetry = await f.engine.getJobTelemetry(ended.id, 'n');
    expect(telemetry.metrics).toHaveLength(100_000);
    const times = telemetry.metrics.map((m) => m.t);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(before);
    expect(Math.max(...times)).toBeLessThanOrEqual(after);

    const events = f.events.filter((e) => e.executionId === ended.id);
    expect(events.length).toBeGreaterThan(5000);
    for (const e of events) {
      expect(e.t).toBeGreaterThanOrEqual(before);
      expect(e.t).toBeLessThanOrEqual(after);
    }

    // The next execution is stamped now, not minutes ahead.
    const next = await f.engine.startExecution({ project, pipelineName: 'p' });
    const stamped = (await f.engine.getExecution(next.id)).createdAt;
    expect(stamped).toBeLessThanOrEqual(Date.now());
    await next.done;
  }, 120_000);
});
