import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactStore } from './artifact.store.js';
import type { StoreHarness } from './store.harness.js';

/** The behaviour every ArtifactStore adapter must have. Call it in a test file with the adapter's harness. */
export function describeArtifactStoreConformance(name: string, create: () => Promise<StoreHarness>): void {
  describe(`ArtifactStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let artifacts: ArtifactStore;
    beforeEach(async () => {
      h = await create();
      artifacts = h.stores.artifacts;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('keeps artifacts with provenance and finds them by name, hash prefix and id prefix', async () => {
      const h1 = `sha256:${'1'.repeat(64)}`;
      const h2 = `sha256:${'2'.repeat(64)}`;
      const first = await artifacts.insertArtifact({
        name: 'data',
        hash: h1,
        size: 10,
        serializer: 'pickle',
        pyType: 'numpy.ndarray',
        createdAt: 100,
        provenance: { kind: 'import', source: '/tmp/data.pkl' },
      });
      const second = await artifacts.insertArtifact({
        name: 'data',
        hash: h2,
        size: 20,
        serializer: 'pickle',
        pyType: null,
        createdAt: 200,
        provenance: { kind: 'execution', executionId: 'e1', jobId: 'e1.n', node: 'n', output: 'out' },
      });
      await artifacts.insertArtifact({
        name: 'other',
        hash: h1,
        size: 10,
        serializer: 'pickle',
        pyType: null,
        createdAt: 150,
        provenance: { kind: 'upload' },
      });
      expect((await artifacts.getLatestArtifact('data'))!.id).toBe(second.id);
      expect(await artifacts.listArtifactNames()).toEqual(['data', 'other']);
      expect(await artifacts.getLatestArtifact('nothing')).toBeUndefined();
      expect((await artifacts.listArtifacts()).map((a) => a.createdAt)).toEqual([200, 150, 100]);
      expect((await artifacts.listArtifacts({ name: 'data' })).map((a) => a.id)).toEqual([
        second.id,
        first.id,
      ]);
      expect((await artifacts.findArtifactsByHashPrefix('111', 10)).map((a) => a.name)).toEqual([
        'other',
        'data',
      ]);
      expect(await artifacts.findArtifactsByHashPrefix('_', 10)).toEqual([]);
      // Content over 8 MiB has a sha256t: id (docs/adr/0006): a bare hex prefix finds both schemes.
      const h3 = `sha256t:${'1'.repeat(64)}`;
      await artifacts.insertArtifact({
        name: 'big',
        hash: h3,
        size: 9 << 20,
        serializer: 'numpy.ndarray',
        pyType: null,
        createdAt: 300,
        provenance: { kind: 'upload' },
      });
      const names = async (prefix: string): Promise<string[]> =>
        (await artifacts.findArtifactsByHashPrefix(prefix, 10)).map((a) => a.name);
      expect(await names('111')).toEqual(['big', 'other', 'data']);
      expect(await names('sha256:111')).toEqual(['other', 'data']);
      expect(await names('sha256t:111')).toEqual(['big']);
      expect(await names(h3)).toEqual(['big']);
      expect(await names(h1)).toEqual(['other', 'data']);
      expect(await names('sha256t:222')).toEqual([]);
      expect(await names('md5:111')).toEqual([]);
      expect(await names('sha256t:1%')).toEqual([]);
      expect((await artifacts.findArtifactsByIdPrefix(first.id.slice(0, 8), 10))[0]!.id).toBe(first.id);
      expect((await artifacts.getArtifact(second.id))!.provenance).toEqual({
        kind: 'execution',
        executionId: 'e1',
        jobId: 'e1.n',
        node: 'n',
        output: 'out',
      });
    });

    it('scopes artifacts by project, counts hash uses and forgets artifacts', async () => {
      const h = `sha256:${'2'.repeat(64)}`;
      const base = {
        hash: h,
        size: 5,
        serializer: 'pickle',
        pyType: null,
        provenance: { kind: 'upload' } as const,
      };
      const cli = await artifacts.insertArtifact({ ...base, name: 'data', createdAt: 10 });
      const p1 = await artifacts.insertArtifact({ ...base, name: 'data', projectId: 'p1', createdAt: 20 });
      await artifacts.insertArtifact({ ...base, name: 'Other_%', projectId: 'p1', createdAt: 30 });
      expect(cli.projectId).toBe('');
      expect((await artifacts.getLatestArtifact('data', ''))!.id).toBe(cli.id);
      expect((await artifacts.getLatestArtifact('data', 'p1'))!.id).toBe(p1.id);
      expect((await artifacts.getLatestArtifact('data'))!.id).toBe(p1.id);
      expect(await artifacts.getLatestArtifact('data', 'p2')).toBeUndefined();
      expect(await artifacts.listArtifactNames('p1')).toEqual(['Other_%', 'data']);
      expect(await artifacts.countArtifacts({ projectId: 'p1' })).toBe(2);
      expect(await artifacts.countArtifacts({ projectId: 'p1', search: 'other_%' })).toBe(1);
      expect(await artifacts.countArtifacts({ search: '_%' })).toBe(1);
      expect(
        (await artifacts.listArtifacts({ projectId: 'p1', limit: 1, offset: 1 })).map((a) => a.id),
      ).toEqual([p1.id]);
      expect(await artifacts.countArtifactsWithHash(h)).toBe(3);
      // A type read from the data is recorded where none was given, and never replaces one.
      expect(await artifacts.setDetectedPyType(p1.id, 'numpy.ndarray')).toBe(true);
      expect((await artifacts.getArtifact(p1.id))!.pyType).toBe('numpy.ndarray');
      expect(await artifacts.setDetectedPyType(p1.id, 'builtins.list')).toBe(false);
      expect((await artifacts.getArtifact(p1.id))!.pyType).toBe('numpy.ndarray');
      expect(await artifacts.setDetectedPyType('nope', 'builtins.list')).toBe(false);
      expect(await artifacts.deleteArtifact(cli.id)).toBe(true);
      expect(await artifacts.deleteArtifact(cli.id)).toBe(false);
      expect(await artifacts.countArtifactsWithHash(h)).toBe(2);
    });

    it('keeps artifacts across a reopen', async () => {
      const a = await artifacts.insertArtifact({
        name: 'kept',
        hash: `sha256:${'4'.repeat(64)}`,
        size: 7,
        serializer: 'pickle',
        pyType: 'builtins.int',
        createdAt: 5,
        provenance: { kind: 'import', source: '/data/kept.pkl' },
      });
      artifacts = (await h.reopen()).artifacts;
      expect(await artifacts.getArtifact(a.id)).toEqual(a);
    });
  });
}
