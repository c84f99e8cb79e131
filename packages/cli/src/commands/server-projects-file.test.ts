import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCredentials, updateCredential } from './credentials-file.js';
import { readServerProjects, rememberServerProject } from './server-projects-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'df-cli-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the CLI's per-server files", () => {
  it('keep every folder a run remembers, when runs remember theirs at the same time', async () => {
    const file = join(dir, 'server-projects.json');
    const folders = Array.from({ length: 8 }, (_, i) => `/work/p${i}`);
    await Promise.all(
      folders.map((folder, i) =>
        rememberServerProject(file, i % 2 ? 'http://a:1' : 'http://b:2', folder, {
          projectId: `id${i}`,
          name: `p${i}`,
          usedAt: i,
        }),
      ),
    );
    const { servers } = await readServerProjects(file);
    expect(Object.keys(servers['http://a:1']!).sort()).toEqual(folders.filter((_, i) => i % 2).sort());
    expect(Object.keys(servers['http://b:2']!).sort()).toEqual(folders.filter((_, i) => !(i % 2)).sort());
  });

  it('keep every server signed in to at the same time, and forget only the one signed out of', async () => {
    const file = join(dir, 'credentials.json');
    const entry = (user: string) => ({
      user,
      token: `t-${user}`,
      tokenId: user,
      tokenName: 'cli',
      createdAt: 1,
      expiresAt: null,
    });
    const origins = ['http://a:1', 'http://b:2', 'http://c:3', 'http://d:4'];
    await Promise.all(origins.map((o, i) => updateCredential(file, o, entry(`u${i}`))));
    expect(Object.keys((await readCredentials(file)).servers).sort()).toEqual(origins);
    await Promise.all([
      updateCredential(file, 'http://b:2', undefined),
      updateCredential(file, 'http://e:5', entry('e')),
    ]);
    expect(Object.keys((await readCredentials(file)).servers).sort()).toEqual([
      'http://a:1',
      'http://c:3',
      'http://d:4',
      'http://e:5',
    ]);
  });
});
