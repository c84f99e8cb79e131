import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jobDirOf } from './execution/execution-files.js';
import { INLINE_OUTPUT_MAX_BYTES } from './execution/job-runner.js';
import { LocalBlobStorage } from './storage/local-blob.storage.js';
import { engineFixture, type EngineFixture } from './test-support/engine-fixture.js';
import { chain, py } from './test-support/project-files.js';
import { removeTree } from './test-support/temp-dir.js';

const ops = {
  Make: py('class Make():', '    def execute(self):', '        value = 41', '        return value'),
  Inc: py(
    'class Inc():',
    '    def execute(self, value):',
    '        value = value + 1',
    '        return value',
  ),
  // Outputs over the size that comes in an event (INLINE_OUTPUT_MAX_BYTES): written as files.
  MakeBig: py(
    'class MakeBig():',
    '    def execute(self):',
    `        value = b"x" * ${INLINE_OUTPUT_MAX_BYTES + 1000}`,
    '        return value',
  ),
  Grow: py(
    'class Grow():',
    '    def execute(self, value):',
    '        value = value + b"y"',
    '        return value',
  ),
  // Says it saved its output, in an event of its own whose bytes do not match the size it gives, and leaves.
  Forge: py(
    'import json, os',
    'class Forge():',
    '    def execute(self):',
    '        event = {"v": 1, "t": 0, "type": "output", "name": "value", "file": "value", "serializer": "pickle",',
    '                 "pyType": "builtins.int", "size": 7, "data": "AAAA"}',
    '        os.write(3, (json.dumps(event) + "\\n").encode())',
    '        os._exit(0)',
    '        value = 1',
    '        return value',
  ),
  // Its first output is written, its second cannot be (a generator does not pickle): the job fails with a file
  // of it already written.
  Half: py(
    'class Half():',
    '    def execute(self):',
    `        first = b"x" * ${INLINE_OUTPUT_MAX_BYTES + 1000}`,
    '        second = (x for x in [])',
    '        return first, second',
  ),
};

const pipelines = {
  big: chain(
    [
      { id: 'make', operation: 'MakeBig' },
      { id: 'grow', operation: 'Grow' },
    ],
    [['make.value', 'grow.value']],
  ),
  forge: chain([{ id: 'forge', operation: 'Forge' }], []),
  pair: chain(
    [
      { id: 'make', operation: 'Make' },
      { id: 'inc', operation: 'Inc' },
    ],
    [['make.value', 'inc.value']],
  ),
  half: chain([{ id: 'half', operation: 'Half' }], []),
};

async function entries(dir: string): Promise<string[] | undefined> {
  return readdir(dir).catch(() => undefined);
}

describe("engine: where a job's outputs are written", () => {
  let f: EngineFixture;
  let elsewhere: string | undefined;
  /** A fresh engine (with `settings`) runs one of the pipelines above to its end. */
  async function run(pipelineName: string, settings: Parameters<typeof engineFixture>[0] = {}) {
    f = await engineFixture(settings);
    const { project } = await f.project({ operations: ops, pipelines });
    return (await f.engine.startExecution({ project, pipelineName })).done;
  }
  /** Where the blob store keeps a `sha256:` blob. */
  const blobPath = (hash: string): string =>
    join(f.engine.settings.values['blob.dir'], 'sha256', hash.slice(7, 9), hash.slice(7));

  afterEach(async () => {
    vi.restoreAllMocks();
    await f.cleanup();
    if (elsewhere) await removeTree(elsewhere);
    elsewhere = undefined;
  });

  it('in its own folder, renamed from there into the store: no staging folder is made or removed', async () => {
    const staging = vi.spyOn(LocalBlobStorage.prototype, 'createStagingDir');
    const done = await run('big');
    expect(done.status).toBe('success');
    expect(staging).not.toHaveBeenCalled();
    for (const node of ['make', 'grow']) {
      // Taken into the store: the folder the harness made is left empty.
      expect(await entries(join(jobDirOf(f.dataDir, done.id, node), 'outputs'))).toEqual([]);
    }
    const value = done.jobs.find((j) => j.node === 'grow')!.outputs[0]!;
    expect(value.size).toBeGreaterThan(INLINE_OUTPUT_MAX_BYTES);
    expect((await stat(blobPath(value.hash))).size).toBe(value.size);
    expect(await entries(join(f.engine.settings.values['blob.dir'], 'staging'))).toEqual([]);
  });

  it('small outputs come in their events: no file at all, the bytes stored as they came', async () => {
    const done = await run('pair');
    expect(done.status).toBe('success');
    for (const node of ['make', 'inc']) {
      expect(await entries(join(jobDirOf(f.dataDir, done.id, node), 'outputs'))).toBeUndefined();
    }
    // inc read make's output from the store: 41 + 1, pickled (protocol 4 or 5: an int of one byte).
    const value = done.jobs.find((j) => j.node === 'inc')!.outputs[0]!;
    const bytes = await readFile(blobPath(value.hash));
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(value.hash);
    expect(bytes.length).toBe(value.size);
    expect(bytes.subarray(-3).toString('latin1')).toBe('K*.');
  });

  it('fails a job whose output event carries other bytes than it says, storing nothing of it', async () => {
    const done = await run('forge');
    expect(done.status).toBe('failed');
    const forge = done.jobs.find((j) => j.node === 'forge')!;
    expect(forge.error?.kind).toBe('output');
    expect(forge.error?.message).toBe(
      `output value is corrupt: its event carried 3 bytes, not the 7 it announced (at most ${INLINE_OUTPUT_MAX_BYTES} come in an event)`,
    );
    expect(forge.outputs).toEqual([]);
  });

  it('what a job that failed wrote is removed with its outputs folder', async () => {
    const done = await run('half');
    expect(done.status).toBe('failed');
    const half = done.jobs.find((j) => j.node === 'half')!;
    expect(half.error?.message).toMatch(/second/);
    const jobDir = jobDirOf(f.dataDir, done.id, 'half');
    expect(await entries(jobDir)).toBeDefined();
    expect(await entries(join(jobDir, 'outputs'))).toBeUndefined();
  });

  it('in a staging folder of the store when the store is on another filesystem, removed after the job', async () => {
    // /dev/shm is a tmpfs where there is one: the blob store there, the data dir on the disk.
    const shm = await stat('/dev/shm').catch(() => undefined);
    const disk = await stat(tmpdir());
    if (!shm?.isDirectory() || shm.dev === disk.dev) return;
    elsewhere = await mkdtemp('/dev/shm/deepforge-blobs-');
    const staging = vi.spyOn(LocalBlobStorage.prototype, 'createStagingDir');
    const done = await run('big', { 'blob.dir': elsewhere });
    expect(done.status).toBe('success');
    expect(staging).toHaveBeenCalledTimes(2);
    const made = await Promise.all(staging.mock.results.map((r) => r.value as Promise<string>));
    for (const dir of made) expect(dir.startsWith(join(elsewhere, 'staging'))).toBe(true);
    expect(await entries(join(elsewhere, 'staging'))).toEqual([]);
    expect(await entries(join(jobDirOf(f.dataDir, done.id, 'make'), 'outputs'))).toBeUndefined();
  });
});
