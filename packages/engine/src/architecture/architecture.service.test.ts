import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Project } from '@deepforge/core';
import { makeTempDir, removeTree, TEST_PYTHON } from '../test-support/temp-dir.js';
import { ArchitecturePythonError, ArchitectureService } from './architecture.service.js';

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir('architecture-service');
});
afterAll(async () => {
  await removeTree(tmp);
});

const project = (utils: Record<string, string> = {}): Project => ({
  manifest: { name: 'p', formatVersion: 1 },
  operations: {},
  pipelines: {},
  utils,
  serializers: {},
  artifacts: {},
  resources: {
    Net: {
      name: 'Net',
      layers: [
        { id: 'x', layer: 'Input', shape: ['N', 3], attributes: {} },
        { id: 'scale', layer: 'utils.layers.Scale', attributes: { factor: 2 } },
        { id: 'fc', layer: 'Linear', attributes: { in_features: 3, out_features: 2 } },
      ],
      edges: [
        { from: 'x', to: 'scale' },
        { from: 'scale', to: 'fc' },
      ],
      outputs: ['fc'],
    },
  },
});

const LAYERS =
  'import torch.nn as nn\n\nclass Scale(nn.Module):\n    def __init__(self, factor: float):\n        super().__init__()\n        self.factor = factor\n\n    def forward(self, x):\n        return x * self.factor\n';

describe('ArchitectureService', () => {
  it("reads the catalog with the project's layers, once per interpreter and utils code", async () => {
    const service = new ArchitectureService({ python: TEST_PYTHON, cacheDir: join(tmp, 'catalog') });
    const first = service.catalog(project({ layers: LAYERS }));
    expect(service.catalog(project({ layers: LAYERS }))).toBe(first);
    const catalog = await first;
    expect(catalog.layers['utils.layers.Scale']?.arguments).toEqual([
      { name: 'factor', required: true, annotation: 'float', types: ['float'] },
    ]);
    expect(catalog.layers.Linear?.source).toBe('torch');
    expect(service.catalog(project({ layers: `${LAYERS}\n` }))).not.toBe(first);
  }, 60_000);

  it('checks an architecture with a custom layer: shapes and parameters by PyTorch', async () => {
    const service = new ArchitectureService({ python: TEST_PYTHON, cacheDir: join(tmp, 'catalog') });
    const check = await service.check(project({ layers: LAYERS }), 'Net');
    expect(check.diagnostics).toEqual([]);
    expect(check.shapes?.ok).toBe(true);
    expect(check.shapes?.edges).toEqual([
      { from: 'x', to: 'scale', shape: ['N', 3] },
      { from: 'scale', to: 'fc', shape: ['N', 3] },
    ]);
    expect(check.shapes?.total).toEqual({ parameters: 8, trainable: 8 });
  }, 60_000);

  it('stops a Python that takes too long, and says so', async () => {
    const service = new ArchitectureService({ python: TEST_PYTHON, timeoutMs: 50 });
    await expect(service.catalog(project())).rejects.toThrow(
      new ArchitecturePythonError('PyTorch did not answer within 50 ms'),
    );
  });

  it('names an interpreter that does not exist', async () => {
    const service = new ArchitectureService({ python: join(tmp, 'no-python') });
    await expect(service.catalog(project())).rejects.toThrow(/cannot run .*no-python: spawn .* ENOENT/);
  });

  it('persistent: one Python answers request after request, reading changed custom layers again', async () => {
    const service = new ArchitectureService({ python: TEST_PYTHON, persistent: true });
    try {
      const first = await service.check(project({ layers: LAYERS }), 'Net');
      expect(first.shapes?.total.parameters).toBe(8);
      const changed = LAYERS.replace(
        'def __init__(self, factor: float)',
        'def __init__(self, factor: int, bias=1)',
      );
      const catalog = await service.catalog(project({ layers: changed }));
      expect(catalog.layers['utils.layers.Scale']?.arguments.map((a) => a.name)).toEqual(['factor', 'bias']);
      const second = await service.check(project({ layers: changed }), 'Net');
      expect(second.shapes?.edges[1]).toEqual({ from: 'scale', to: 'fc', shape: ['N', 3] });
      // The catalog is read once per utils/ code, not with every check of a graph.
      const third = await service.check(project({ layers: changed }), 'Net');
      expect(third.catalog).toBe(second.catalog);
      expect(third.shapes).toEqual(second.shapes);
      const back = await service.check(project({ layers: LAYERS }), 'Net');
      expect(back.catalog.layers['utils.layers.Scale']?.arguments.map((a) => a.name)).toEqual(['factor']);
      expect(back.shapes?.total.parameters).toBe(8);
    } finally {
      service.close();
    }
  }, 60_000);

  it('persistent: a request that hangs is stopped, and the next one gets a new Python', async () => {
    const service = new ArchitectureService({ python: TEST_PYTHON, persistent: true, timeoutMs: 8000 });
    try {
      const hangs = project({ slow: 'import time\ntime.sleep(600)\n' });
      await expect(service.catalog(hangs)).rejects.toThrow('PyTorch did not answer within 8 s');
      const ok = await service.check(project({ layers: LAYERS }), 'Net');
      expect(ok.shapes?.ok).toBe(true);
    } finally {
      service.close();
    }
  }, 60_000);
});
