// The server leases a worker's slot again once the job in it has reported its end (its usage event), while its
// process still exits; the worker starts the next job only once that process has gone: a 1-slot worker never runs
// two operations' processes at once, however long one takes to exit.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { createServer, type DeepForgeServer } from '../server.app.js';
import type { WorkerAgent } from './worker.agent.js';
import { startTestAgent } from '../test-support/worker-agent.js';

let root: string;
let server: DeepForgeServer | undefined;
let agent: WorkerAgent | undefined;

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await server?.close();
  server = undefined;
  await removeTree(root);
});

describe('a worker’s slots', () => {
  it('start a job leased while the last one exits only once its process has gone', async () => {
    root = await makeTempDir('worker-slots');
    const lives = join(root, 'lives.txt');
    server = await createServer({
      dataDir: join(root, 'server'),
      env: cleanEnv(),
      compute: 'none',
      settings: { python: TEST_PYTHON },
    });
    const url = await server.listen(0, '127.0.0.1');
    const { token } = await server.engine.workerTokens.create('slots', 'test');
    agent = startTestAgent({
      serverUrl: url,
      token,
      slots: 1,
      workDir: join(root, 'worker'),
      warmWorker: true,
    });
    // Each process writes when it starts and, after a slow exit handler, when it ends.
    const dir = join(root, 'project');
    await writeProjectFolder(dir, {
      operations: {
        SlowExit: py(
          'import atexit',
          'import os',
          'import time',
          '',
          '',
          'class SlowExit():',
          '    def __init__(self, path="", name=""):',
          '        self.path = path',
          '        self.name = name',
          '',
          '    def execute(self):',
          '        def note(what):',
          '            with open(self.path, "a") as file:',
          '                file.write("%s %s %f\\n" % (self.name, what, time.time()))',
          '',
          '        note("start")',
          '        atexit.register(lambda: (time.sleep(0.4), note("end")))',
          '        done = 1',
          '        return done',
        ),
      },
      pipelines: {
        three: {
          nodes: ['a', 'b', 'c'].map((id) => ({
            id,
            operation: 'SlowExit',
            attributes: { path: lives, name: id },
          })),
          connections: [],
        },
      },
    });
    const { project } = await server.engine.loadProjectFolder(dir);
    const started = await server.engine.startExecution({ project, projectDir: dir, pipelineName: 'three' });
    const done = await server.engine.waitForExecution(started.id);
    expect(done?.status).toBe('success');

    const lines = (await readFile(lives, 'utf8')).trim().split('\n');
    const spans = new Map<string, { start: number; end: number }>();
    for (const line of lines) {
      const [name, what, at] = line.split(' ') as [string, 'start' | 'end', string];
      spans.set(name, { ...(spans.get(name) ?? { start: NaN, end: NaN }), [what]: Number(at) });
    }
    const ordered = [...spans.values()].sort((x, y) => x.start - y.start);
    expect(ordered).toHaveLength(3);
    for (let i = 1; i < ordered.length; i++) {
      // The next one's process started after the last one's exit handler had finished.
      expect(ordered[i]!.start).toBeGreaterThan(ordered[i - 1]!.end);
    }
  });
});
