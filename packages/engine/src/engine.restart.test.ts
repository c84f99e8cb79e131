import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from './compute/process-tree.js';
import { openEngine, type Engine } from './engine.js';
import { contentHashOf } from './storage/content-hasher.js';
import { spawnScript, waitForScript } from './test-support/node-script.js';
import { chain, cleanEnv, py, writeProjectFolder } from './test-support/project-files.js';
import { TEST_PYTHON, makeTempDir, removeTree } from './test-support/temp-dir.js';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Restart safety with a real kill -9: an engine in another Node process runs `first` (quick, saved as an
 * artifact) then `second`, which starts a grandchild and sleeps until a marker file exists. The engine process
 * is killed while `second` runs; the harness dies with it (PR_SET_PDEATHSIG), the grandchild does not.
 */
describe('engine: restart after kill -9', () => {
  let root: string;
  let dataDir: string;
  let projectDir: string;
  let engine: Engine | undefined;
  const counter = () => join(root, 'counter.txt');
  const pidFile = () => join(root, 'pids');
  const marker = () => join(root, 'marker');

  beforeEach(async () => {
    root = await makeTempDir('restart');
    dataDir = join(root, 'data');
    projectDir = await writeProjectFolder(join(root, 'project'), {
      operations: {
        First: py(
          'class First():',
          '    def __init__(self, counter=""):',
          '        self.counter = counter',
          '',
          '    def execute(self):',
          '        with open(self.counter, "a") as f: f.write("First\\n")',
          '        value = 21',
          '        return value',
        ),
        Second: py(
          'import os, subprocess, time',
          'class Second():',
          '    def __init__(self, counter="", pid_file="", marker=""):',
          '        self.counter = counter',
          '        self.pid_file = pid_file',
          '        self.marker = marker',
          '',
          '    def execute(self, value):',
          '        with open(self.counter, "a") as f: f.write("Second\\n")',
          '        if not os.path.exists(self.marker):',
          '            child = subprocess.Popen(["sleep", "1000"])',
          '            with open(self.pid_file, "w") as f: f.write("%d %d" % (os.getpid(), child.pid))',
          '            time.sleep(1000)',
          '        doubled = value * 2',
          '        return doubled',
        ),
      },
      pipelines: {
        restart: chain(
          [
            { id: 'first', operation: 'First', attributes: { counter: counter() } },
            { id: 'keep', operation: 'Output', attributes: { saveName: 'first-out' } },
            {
              id: 'second',
              operation: 'Second',
              attributes: { counter: counter(), pid_file: pidFile(), marker: marker() },
            },
            { id: 'save', operation: 'Output', attributes: { saveName: 'second-out' } },
          ],
          [
            ['first.value', 'keep.data'],
            ['first.value', 'second.value'],
            ['second.doubled', 'save.data'],
          ],
        ),
      },
    });
  });

  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    await removeTree(root);
  });

  /** Starts the pipeline in a child engine, waits until `second` runs, then kill -9s the engine. */
  async function runAndKill(): Promise<{ id: string; pids: number[] }> {
    const child = spawnScript('run-pipeline.script.ts', [dataDir, projectDir, 'restart'], cleanEnv());
    const exited = waitForScript(child);
    let stdout = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const id = await waitFor('the execution id', async () => /"id":"(\w+)"/.exec(stdout)?.[1]);
    const pids = await waitFor('the pids of second', async () => {
      const text = await readFile(pidFile(), 'utf8').catch(() => '');
      const p = text.trim().split(/\s+/).filter(Boolean).map(Number);
      return p.length === 2 ? p : undefined;
    });
    process.kill(child.pid!, 'SIGKILL');
    const result = await exited;
    expect(result.signal).toBe('SIGKILL');
    return { id, pids };
  }

  it('fails the running job with "runner died", keeps what finished, kills the orphans', async () => {
    const { id, pids } = await runAndKill();
    const [, grandchild] = pids as [number, number];
    // The grandchild outlived the engine: only recovery can clean it up.
    expect(await isProcessAlive(grandchild)).toBe(true);

    engine = await openEngine({ dataDir, env: cleanEnv(), settings: { python: TEST_PYTHON } });
    expect(engine.recovery!.failedJobs).toEqual([`${id}.second`]);
    expect(engine.recovery!.failedExecutions).toEqual([id]);
    for (const pid of pids) expect(await isProcessAlive(pid)).toBe(false);

    const details = await engine.getExecution(id);
    expect(details.status).toBe('failed');
    const byNode = Object.fromEntries(details.jobs.map((j) => [j.node, j]));
    expect(byNode.first!.status).toBe('success');
    expect(byNode.first!.outputs.length).toBe(1);
    expect(byNode.keep!.status).toBe('success');
    expect(byNode.second!.status).toBe('failed');
    expect(byNode.second!.error).toMatchObject({ kind: 'runner-died' });
    expect(byNode.second!.error!.message).toMatch(/^runner died/);
    expect(byNode.save!.status).toBe('canceled');
    const artifact = await engine.getArtifact('first-out');
    expect(artifact.hash).toBe(byNode.first!.outputs[0]!.hash);
    // `first` returned 21: the stored bytes are its pickle (protocol 5, what the harness writes), read back
    // through the engine, and they hash to the id they are stored under.
    const bytes = await buffer(await engine.openArtifact('first-out'));
    expect(bytes.toString('hex')).toBe('80054b152e');
    expect(artifact.size).toBe(bytes.length);
    expect(contentHashOf(bytes)).toBe(artifact.hash);
    // Only the new runner is registered.
    const again = await openEngine({ dataDir, env: cleanEnv(), settings: { python: TEST_PYTHON } });
    expect(again.recovery!.deadRunners).toEqual([]);
    await again.close();
  });

  it('with executions.onRestart=requeue, runs the job again to success and reuses the rest', async () => {
    const { id, pids } = await runAndKill();
    await writeFile(marker(), '');
    engine = await openEngine({
      dataDir,
      env: cleanEnv({ DEEPFORGE_ON_RESTART: 'requeue' }),
      settings: { python: TEST_PYTHON },
    });
    for (const pid of pids) expect(await isProcessAlive(pid)).toBe(false);
    const done = await engine.waitForExecution(id);
    expect(done).toBeDefined();
    const details = await done!;
    expect(details.status).toBe('success');
    expect(details.jobs.map((j) => [j.node, j.status, j.attempt])).toEqual([
      ['first', 'success', 1],
      ['keep', 'success', 1],
      ['second', 'success', 2],
      ['save', 'success', 1],
    ]);
    expect((await readFile(counter(), 'utf8')).trim().split('\n')).toEqual(['First', 'Second', 'Second']);
    expect((await engine.getArtifact('second-out')).size).toBeGreaterThan(0);
  });
});
