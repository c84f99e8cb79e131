import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseError } from '../errors.js';
import { engineFixture, type EngineFixture } from '../test-support/engine-fixture.js';
import { chain, py } from '../test-support/project-files.js';
import { readExecutionSnapshot, readRunOptions, type ExecutionSnapshot } from './execution-snapshot.js';

const snapshot: ExecutionSnapshot = {
  version: 1,
  pipeline: {
    name: 'p',
    nodes: [
      { id: 'load', operation: 'Input', attributes: { artifact: 'data' }, references: {} },
      {
        id: 'train',
        operation: 'Train',
        attributes: { lr: 0.1 },
        references: { model: 'net' },
        // A node's placement is read back: a resumed or rerun execution places its jobs as the first did.
        labels: ['gpu', 'a100'],
        gpus: 2,
      },
    ],
    connections: [{ from: { node: 'load', port: 'data' }, to: { node: 'train', port: 'x' } }],
  },
  plan: {
    order: ['load', 'train'],
    nodes: {
      load: {
        id: 'load',
        operation: 'Input',
        kind: 'input',
        inputs: {},
        outputs: ['data'],
        upstream: [],
        downstream: ['train'],
      },
      train: {
        id: 'train',
        operation: 'Train',
        kind: 'operation',
        inputs: { x: { node: 'load', port: 'data' } },
        outputs: ['model'],
        upstream: ['load'],
        downstream: [],
      },
    },
  },
  attributes: { load: { artifact: 'data' }, train: { lr: 0.1 } },
  effectiveAttributes: { load: { artifact: 'data' }, train: { lr: 0.1, epochs: 3 } },
  artifacts: { net: { name: 'net', hash: `sha256:${'a'.repeat(64)}` } },
  projectDir: null,
};

describe('stored snapshots and run options', () => {
  it('reads back what was stored, without keys it does not know', () => {
    const stored = JSON.parse(JSON.stringify({ ...snapshot, codeHashes: { shared: 'x' } }));
    expect(readExecutionSnapshot({ id: 'e1', snapshot: stored })).toEqual(snapshot);
    expect(
      readRunOptions({ id: 'e1', options: { cache: true, concurrency: 2, overrides: ['train.lr=0.1'] } }),
    ).toEqual({ cache: true, concurrency: 2, overrides: ['train.lr=0.1'] });
    expect(
      readRunOptions({
        id: 'e1',
        options: { cache: false, concurrency: 1, overrides: [], startedBy: 'ada' },
      }),
    ).toEqual({ cache: false, concurrency: 1, overrides: [], startedBy: 'ada' });
    expect(
      readRunOptions({
        id: 'e1',
        options: { cache: false, concurrency: 1, overrides: [], gpus: 1, nodeGpus: { train: 2 } },
      }),
    ).toEqual({ cache: false, concurrency: 1, overrides: [], gpus: 1, nodeGpus: { train: 2 } });
  });

  it('refuses a damaged one with an error naming the execution and what is wrong', () => {
    const read = (s: unknown) => () => readExecutionSnapshot({ id: 'e42', snapshot: s as never });
    expect(read({})).toThrow(DatabaseError);
    expect(read({})).toThrow(/^execution e42: its stored snapshot cannot be read \(version: /);
    expect(read({ ...snapshot, plan: { ...snapshot.plan, order: ['load', 'ghost'] } })).toThrow(
      /execution e42: .*plan\.order: node "ghost" is in the order but not planned/,
    );
    expect(read({ ...snapshot, attributes: { train: 'lr=0.1' } })).toThrow(/attributes\.train: /);
    expect(() =>
      readRunOptions({ id: 'e42', options: { cache: 'yes', concurrency: 1, overrides: [] } }),
    ).toThrow(/^execution e42: its stored options cannot be read \(cache: /);
    expect(() =>
      readRunOptions({ id: 'e42', options: { cache: true, concurrency: 0, overrides: [] } }),
    ).toThrow(/concurrency: /);
  });
});

describe('engine: an execution whose stored snapshot is damaged', () => {
  let f: EngineFixture | undefined;
  afterEach(async () => {
    await f?.cleanup();
    f = undefined;
  });

  it('is refused by name when shown, resumed or re-run, and nothing is claimed', async () => {
    f = await engineFixture();
    const { project } = await f.project({
      operations: {
        Boom: py(
          'class Boom():',
          '    def execute(self):',
          '        result = 1 / 0',
          '        return result',
        ),
      },
      pipelines: { boom: chain([{ id: 'boom', operation: 'Boom' }], []) },
    });
    const started = await f.engine.startExecution({ project, pipelineName: 'boom' });
    expect((await started.done).status).toBe('failed');
    await f.engine.close();
    const db = new BetterSqlite3(join(f.dataDir, 'deepforge.db'));
    db.prepare('update executions set snapshot = ? where id = ?').run(
      '{"version": 1, "plan": 7}',
      started.id,
    );
    db.close();
    const engine = await f.reopen();
    const message = new RegExp(`^execution ${started.id}: its stored snapshot cannot be read`);
    await expect(engine.getExecution(started.id)).rejects.toThrow(message);
    await expect(engine.resumeExecution(started.id)).rejects.toThrow(message);
    await expect(engine.rerunExecution(started.id)).rejects.toThrow(message);
    // Still listed (the list needs no snapshot), still failed, claimed by no engine, and deletable.
    const [listed] = (await engine.queryExecutions({ limit: 10, offset: 0 })).items;
    expect(listed).toMatchObject({ id: started.id, status: 'failed' });
    await engine.deleteExecution(started.id);
    expect((await engine.queryExecutions({ limit: 10, offset: 0 })).total).toBe(0);
  });
});
