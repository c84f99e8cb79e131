import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempDir, removeTree, useTestDatabase } from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

const database = useTestDatabase('cli');
let tmp: string;
let dataDir: string;
beforeEach(async () => {
  tmp = await makeTempDir('cli-db');
  dataDir = join(tmp, 'data');
});
afterEach(async () => {
  await removeTree(tmp);
});

describe('database.url on the command line', () => {
  it('is shown with its password masked by deepforge config, also in errors', async () => {
    const env = cleanEnv({
      DEEPFORGE_DATA_DIR: dataDir,
      DEEPFORGE_DATABASE_URL: 'postgres://df:hunter2@db.lab:5433/deepforge',
    });
    for (const args of [['config'], ['config', '--list'], ['config', 'database.url']]) {
      const r = await cli(args, env);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('postgres://df:***@db.lab:5433/deepforge');
      expect(r.stdout).not.toContain('hunter2');
    }
    const set = await cli(['config', 'database.url', 'postgresql://df:swordfish@db.lab/deepforge'], {
      ...env,
      DEEPFORGE_DATABASE_URL: undefined,
    });
    expect(set).toMatchObject({ code: 0, stdout: 'database.url = "postgresql://df:***@db.lab/deepforge"\n' });
    const bad = await cli(['config', 'database.url', 'mysql://df:swordfish@db.lab/deepforge'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('mysql://df:***@db.lab/deepforge');
    expect(bad.stderr).not.toContain('swordfish');
  });

  it('points deepforge users at PostgreSQL, and an unreachable one is named without its password', async () => {
    const url = await database.fresh();
    const env = cleanEnv({ DEEPFORGE_DATA_DIR: dataDir, DEEPFORGE_DATABASE_URL: url });
    const added = await cli(['users', 'add', 'ada', '--admin'], env, tmp, 'correct horse\n');
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect((await cli(['users', 'list'], env)).stdout).toMatch(/^NAME\s+ADMIN\s+CREATED\nada\s+yes/);
    expect(existsSync(join(dataDir, 'deepforge.db'))).toBe(false);

    const gone = await cli(['users', 'list'], {
      ...env,
      DEEPFORGE_DATABASE_URL: 'postgres://df:hunter2@127.0.0.1:1/deepforge',
    });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('cannot reach PostgreSQL at 127.0.0.1:1');
    expect(gone.stderr).not.toContain('hunter2');
  });
});
