import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Architecture } from '@deepforge/core';
import type { ApiError, ResourceResponse } from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';

let f: ServerFixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(() => f.cleanup());

const inject = (opts: InjectOptions) => f.server.app.inject(opts);

const NET: Architecture = {
  name: 'Net',
  layers: [
    { id: 'image', layer: 'Input', shape: ['N', 1, 28, 28], attributes: {} },
    { id: 'conv', layer: 'Conv2d', attributes: { in_channels: 1, out_channels: 4, kernel_size: 3 } },
    { id: 'flat', layer: 'Flatten', attributes: {} },
    { id: 'fc', layer: 'Linear', attributes: { in_features: 100, out_features: 10 } },
  ],
  edges: [
    { from: 'image', to: 'conv' },
    { from: 'conv', to: 'flat' },
    { from: 'flat', to: 'fc' },
  ],
  outputs: ['fc'],
};

describe('architectures over REST', () => {
  it('creates, reads with its code, checks with PyTorch, renames (references follow) and deletes', async () => {
    const p = await f.createProject({ name: 'Nets', example: 'fashion-mnist' });
    const base = `/api/projects/${p.id}/resources`;
    const list = await inject({ url: base });
    expect(list.json()).toEqual({
      items: [
        { name: 'FashionCNN', layers: 15, diagnostics: [] },
        { name: 'FashionVGG', layers: 23, diagnostics: [] },
      ],
    });

    const created = await inject({ method: 'PUT', url: `${base}/Net`, payload: NET });
    expect(created.statusCode).toBe(201);
    const body = created.json<ResourceResponse>();
    expect(body.code).toContain('class Net(nn.Module):');
    expect(body.diagnostics).toEqual([]);

    const check = await inject({ method: 'POST', url: `${base}/Net/check` });
    expect(check.statusCode).toBe(200);
    const { diagnostics, shapes } = check.json<{
      diagnostics: unknown[];
      shapes: {
        firstError: string;
        layers: { id: string; error?: string; fix?: unknown }[];
        edges: unknown[];
      };
    }>();
    expect(diagnostics).toEqual([]);
    expect(shapes.firstError).toBe('fc');
    expect(shapes.edges).toContainEqual({ from: 'conv', to: 'flat', shape: ['N', 4, 26, 26] });
    expect(shapes.layers.find((l) => l.id === 'fc')).toMatchObject({
      error: 'mat1 and mat2 shapes cannot be multiplied (Nx2704 and 100x10)',
      fix: { argument: 'in_features', value: 2704 },
    });

    // The editor's version (in_features fixed) is checked instead of the stored one; a different name is refused.
    const fixed: Architecture = {
      ...NET,
      layers: NET.layers.map((l) =>
        l.id === 'fc' ? { ...l, attributes: { in_features: 2704, out_features: 10 } } : l,
      ),
    };
    const sent = await inject({
      method: 'POST',
      url: `${base}/Net/check`,
      payload: { architecture: fixed },
    });
    expect(sent.statusCode).toBe(200);
    expect(sent.json<{ shapes: { ok: boolean; total: { parameters: number } } }>().shapes).toMatchObject({
      ok: true,
      total: { parameters: 40 + 2704 * 10 + 10 },
    });
    const misnamed = await inject({
      method: 'POST',
      url: `${base}/Net/check`,
      payload: { architecture: { ...fixed, name: 'Other' } },
    });
    expect(misnamed.statusCode).toBe(400);
    expect(misnamed.json<ApiError>()).toMatchObject({ field: 'body.architecture.name' });

    const layers = await inject({ url: `/api/projects/${p.id}/layers` });
    expect(layers.statusCode).toBe(200);
    expect(
      layers.json<{ layers: Record<string, { arguments: { name: string }[] }> }>().layers.Conv2d!
        .arguments[0]!.name,
    ).toBe('in_channels');

    const renamed = await inject({
      method: 'POST',
      url: `${base}/FashionCNN/rename`,
      payload: { to: 'Cnn' },
    });
    expect(renamed.statusCode).toBe(200);
    const train = await inject({ url: `/api/projects/${p.id}/pipelines/train` });
    expect(JSON.stringify(train.json())).toContain('"model":"Cnn"');

    expect((await inject({ method: 'DELETE', url: `${base}/Net` })).statusCode).toBe(204);
    expect((await inject({ url: `${base}/Net` })).statusCode).toBe(404);
  }, 60_000);

  it('refuses a broken architecture naming the field, and a name clash on rename', async () => {
    const p = await f.createProject({ name: 'Broken' });
    const base = `/api/projects/${p.id}/resources`;
    const bad = await inject({
      method: 'PUT',
      url: `${base}/Net`,
      payload: { ...NET, layers: [{ id: '1conv', layer: 'Conv2d' }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ApiError>().message).toMatch(/layers\[0\]\.id|must be a Python identifier/);
    const other = await inject({ method: 'PUT', url: `${base}/Other`, payload: NET });
    expect(other.statusCode).toBe(400);
    expect(other.json<ApiError>()).toMatchObject({ field: 'body.name' });
    expect((await inject({ url: base })).json()).toEqual({ items: [] });
    await inject({ method: 'PUT', url: `${base}/Net`, payload: NET });
    await inject({ method: 'PUT', url: `${base}/Two`, payload: { ...NET, name: 'Two' } });
    const clash = await inject({ method: 'POST', url: `${base}/Net/rename`, payload: { to: 'Two' } });
    expect(clash.statusCode).toBe(409);
  });
});
