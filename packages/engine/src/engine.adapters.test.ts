import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { PROJECT_FORMAT_VERSION, type Project } from '@deepforge/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Compute, ComputeHandlers, ComputeJobRequest, RunningJob } from './compute/job.compute.js';
import { LocalCompute } from './compute/local.compute.js';
import { findRuntimeDir } from './compute/python-interpreter.js';
import { openEngine, type Engine } from './engine.js';
import type { ArtifactStorage, PutFileOptions } from './storage/artifact.storage.js';
import { LocalBlobStorage } from './storage/local-blob.storage.js';
import { openSqliteStores } from './store/sqlite.store.js';
import { chain, cleanEnv, py, writeProjectFolder } from './test-support/project-files.js';
import { TEST_PYTHON, makeTempDir, removeTree } from './test-support/temp-dir.js';

/** LocalCompute, counting the jobs it was asked to start and whether it was closed. */
class CountingCompute implements Compute {
  started: string[] = [];
  closed = false;
  private readonly inner = new LocalCompute({
    runtimeDir: findRuntimeDir(),
    env: cleanEnv(),
    logger: pino({ enabled: false }),
    killGraceMs: 500,
  });

  start(request: ComputeJobRequest, handlers: ComputeHandlers): Promise<RunningJob> {
    this.started.push(request.jobId);
    return this.inner.start(request, handlers);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner.close();
  }
}

/** A storage that keeps no local files as far as its users can tell: they must read through openRead. */
class NoLocalPathStorage implements ArtifactStorage {
  constructor(private readonly inner: LocalBlobStorage) {}
  putFile(path: string, options?: PutFileOptions) {
    return this.inner.putFile(path, options);
  }
  putStream(stream: Readable | AsyncIterable<Uint8Array>) {
    return this.inner.putStream(stream);
  }
  putBytes(data: Uint8Array) {
    return this.inner.putBytes(data);
  }
  has(hash: string) {
    return this.inner.has(hash);
  }
  size(hash: string) {
    return this.inner.size(hash);
  }
  path(): string | undefined {
    return undefined;
  }
  openRead(hash: string) {
    return this.inner.openRead(hash);
  }
  delete(hash: string) {
    return this.inner.delete(hash);
  }
  createStagingDir(label: string) {
    return this.inner.createStagingDir(label);
  }
}

function pickled(expression: string): Buffer {
  return execFileSync(TEST_PYTHON, [
    '-c',
    `import pickle, sys; sys.stdout.buffer.write(pickle.dumps(${expression}))`,
  ]);
}

describe('openEngine with the adapters it is given', () => {
  let root: string;
  let engine: Engine | undefined;

  beforeEach(async () => {
    root = await makeTempDir('adapters');
  });
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    await removeTree(root);
  });

  it('runs on the given database, storage and compute, and closes them with itself', async () => {
    const dataDir = join(root, 'data');
    const dbFile = join(root, 'elsewhere', 'deepforge.db');
    const blobs = join(root, 'elsewhere', 'blobs');
    const compute = new CountingCompute();
    engine = await openEngine({
      dataDir,
      env: cleanEnv(),
      settings: { python: TEST_PYTHON },
      store: await openSqliteStores(dbFile),
      storage: new LocalBlobStorage(blobs),
      compute,
    });
    const dir = await writeProjectFolder(join(root, 'project'), {
      operations: {
        Seven: py('class Seven():', '    def execute(self):', '        seven = 7', '        return seven'),
      },
      pipelines: {
        p: chain(
          [
            { id: 'seven', operation: 'Seven' },
            { id: 'save', operation: 'Output', attributes: { saveName: 'seven' } },
          ],
          [['seven.seven', 'save.data']],
        ),
      },
    });
    const { project } = await engine.loadProjectFolder(dir);
    const started = await engine.startExecution({ project, pipelineName: 'p', projectDir: dir });
    expect((await started.done).status).toBe('success');
    expect(compute.started).toEqual([`${started.id}.seven`]);
    const artifact = await engine.getArtifact('seven');
    expect(artifact.path?.startsWith(blobs)).toBe(true);
    await engine.close();
    engine = undefined;
    expect(compute.closed).toBe(true);
    // Nothing went to the data dir's own database or blob directory.
    expect(existsSync(join(dataDir, 'deepforge.db'))).toBe(false);
    expect(existsSync(join(dataDir, 'blobs'))).toBe(false);
    const again = await openSqliteStores(dbFile);
    try {
      expect((await again.executions.getExecution(started.id))?.status).toBe('success');
      expect((await again.artifacts.getLatestArtifact('seven'))?.hash).toBe(artifact.hash);
    } finally {
      await again.close();
    }
  });

  it('previews an artifact on a storage that keeps no local file, through a copy it removes after', async () => {
    const blobs = join(root, 'blobs');
    engine = await openEngine({
      dataDir: join(root, 'data'),
      env: cleanEnv(),
      settings: { python: TEST_PYTHON },
      storage: new NoLocalPathStorage(new LocalBlobStorage(blobs)),
    });
    const list = await engine.importArtifactStream(Readable.from([pickled('[1, 2, 3]')]), 'numbers', {
      pyType: 'builtins.list',
    });
    expect(list.path).toBeUndefined();
    expect(await engine.previewArtifact(list.id)).toEqual({
      pyType: 'builtins.list',
      repr: '[1, 2, 3]',
      length: 3,
    });
    // A custom serializer of the project reads its own format.
    const custom = await engine.importArtifactStream(Readable.from([Buffer.from('hello')]), 'greeting', {
      serializer: 'serializers.text.Greeting',
    });
    const serializers = {
      text: py(
        'import deepforge',
        'class Greeting(str):',
        '    pass',
        'def dump(obj, file): file.write(obj.encode())',
        'def load(file): return Greeting(file.read().decode())',
        'deepforge.serialization.register(Greeting, dump, load)',
      ),
    };
    const project = (code: {
      utils?: Record<string, string>;
      serializers: Record<string, string>;
    }): Project => ({
      manifest: { name: 'p', formatVersion: PROJECT_FORMAT_VERSION },
      operations: {},
      pipelines: {},
      utils: code.utils ?? {},
      serializers: code.serializers,
      artifacts: {},
    });
    expect(await engine.previewArtifact(custom.id, { project: project({ serializers }) })).toMatchObject({
      pyType: 'serializers.text.Greeting',
      repr: "'hello'",
    });
    // A serializer importing the project's utils loads as in a job (issue 13: "No module named 'utils'").
    const fromUtils = await engine.importArtifactStream(Readable.from([Buffer.from('hi')]), 'words', {
      serializer: 'utils.words.Word',
    });
    const withUtils = project({
      utils: { words: py('class Word(str):', '    pass') },
      serializers: {
        word: py(
          'import deepforge',
          'from utils.words import Word',
          'def dump(obj, file): file.write(obj.encode())',
          'def load(file): return Word(file.read().decode())',
          'deepforge.serialization.register(Word, dump, load)',
        ),
      },
    });
    const preview = await engine.previewArtifact(fromUtils.id, { project: withUtils });
    expect(preview.error).toBeUndefined();
    expect(preview).toMatchObject({ pyType: 'utils.words.Word', repr: "'hi'" });
    // The copies went to the storage's scratch space, and are gone.
    expect(await readdir(join(blobs, 'staging'))).toEqual([]);
  });
});
