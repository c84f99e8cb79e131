import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactor } from '../compute/local.compute.js';
import { openSqliteStores, type SqliteStores } from '../store/sqlite.store.js';
import { makeTempDir, removeTree } from '../test-support/index.js';
import { ACCESS_CACHE_MS, AccountService, SESSION_IDLE_MS, SESSION_MAX_MS } from './accounts.service.js';
import { SecretBox } from './secret-box.js';

let dir: string;
let stores: SqliteStores;
let clock: number;
let accounts: AccountService;

beforeEach(async () => {
  dir = await makeTempDir('accounts');
  stores = await openSqliteStores(join(dir, 'deepforge.db'));
  clock = 1_800_000_000_000;
  let box: Promise<SecretBox> | undefined;
  accounts = new AccountService(
    stores.accounts,
    () => (box ??= SecretBox.open(join(dir, 'secret.key'))),
    () => clock,
  );
});
afterEach(async () => {
  await stores.close();
  await removeTree(dir);
});

/** Everything the database holds on disk, WAL included: what a stolen copy would reveal. */
async function databaseBytes(): Promise<string> {
  const parts = await Promise.all(
    ['deepforge.db', 'deepforge.db-wal'].map((f) => readFile(join(dir, f)).catch(() => Buffer.alloc(0))),
  );
  return Buffer.concat(parts).toString('latin1');
}

describe('users', () => {
  it('refuses names that are not allowed and short passwords, naming the rule', async () => {
    for (const name of ['', 'Ada', 'a b', '-ada', 'ada-', 'x'.repeat(41), '../etc', 'ada@example.org']) {
      await expect(accounts.createUser(name, 'long enough'), name).rejects.toMatchObject({
        code: 'bad-name',
      });
    }
    await expect(accounts.createUser('ada', 'short')).rejects.toMatchObject({
      code: 'bad-password',
      message: expect.stringMatching(/at least 8/),
    });
    await expect(accounts.createUser('ada', 'x'.repeat(2000))).rejects.toMatchObject({
      code: 'bad-password',
    });
    expect(await accounts.listUsers()).toEqual([]);
  });

  it('stores an argon2id hash, never the password, and checks it', async () => {
    const ada = await accounts.createUser('ada', 'correct horse', { admin: true });
    expect(ada.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await databaseBytes()).not.toContain('correct horse');
    expect((await accounts.checkPassword('ada', 'correct horse'))?.id).toBe(ada.id);
    expect(await accounts.checkPassword('ada', 'wrong horse')).toBeUndefined();
    expect(await accounts.checkPassword('nobody', 'correct horse')).toBeUndefined();
    expect(await accounts.checkPassword('NOT A NAME', 'correct horse')).toBeUndefined();
    await expect(accounts.createUser('ada', 'another one')).rejects.toMatchObject({ code: 'exists' });
  });

  it('keeps at least one admin', async () => {
    await accounts.createUser('ada', 'correct horse', { admin: true });
    await accounts.createUser('bob', 'correct horse');
    await expect(accounts.setAdmin('ada', false)).rejects.toMatchObject({ code: 'last-admin' });
    await expect(accounts.removeUser('ada', async () => undefined)).rejects.toMatchObject({
      code: 'last-admin',
    });
    await accounts.setAdmin('bob', true);
    await accounts.setAdmin('ada', false);
    await accounts.removeUser('ada', async () => undefined);
    expect((await accounts.listUsers()).map((u) => [u.name, u.admin])).toEqual([['bob', true]]);
  });

  it('does not remove the last owner of a project, and names the project', async () => {
    await accounts.createUser('root', 'correct horse', { admin: true });
    const ada = await accounts.createUser('ada', 'correct horse');
    const bob = await accounts.createUser('bob', 'correct horse');
    await accounts.setMember('p1', ada, 'owner');
    await accounts.setMember('p1', bob, 'reader');
    await expect(accounts.removeUser('ada', async () => 'Vision')).rejects.toThrow(/last owner of "Vision"/);
    await expect(accounts.removeMember('p1', ada)).rejects.toMatchObject({ code: 'last-owner' });
    await expect(accounts.setMember('p1', ada, 'writer')).rejects.toMatchObject({ code: 'last-owner' });
    await accounts.setMember('p1', bob, 'owner');
    await accounts.removeMember('p1', ada);
    expect(await accounts.roleOf('p1', ada)).toBeUndefined();
    expect(await accounts.roleOf('p1', bob)).toBe('owner');
  });
});

describe('sessions', () => {
  it('store only a hash, expire when idle or old, and end with a new password or sign-out', async () => {
    const ada = await accounts.createUser('ada', 'correct horse');
    const { secret } = await accounts.createSession(ada, 'test');
    expect(await databaseBytes()).not.toContain(secret);
    expect((await accounts.resolveSession(secret))?.user.name).toBe('ada');
    expect(await accounts.resolveSession(secret + 'x')).toBeUndefined();

    clock += SESSION_IDLE_MS - 1000;
    expect(await accounts.resolveSession(secret)).toBeDefined(); // used: the idle time starts again
    clock += SESSION_IDLE_MS - 1000;
    expect(await accounts.resolveSession(secret)).toBeDefined();
    clock += SESSION_IDLE_MS + 1;
    expect(await accounts.resolveSession(secret)).toBeUndefined();

    const busy = await accounts.createSession(ada, undefined);
    for (let t = 0; t < SESSION_MAX_MS; t += SESSION_IDLE_MS / 2) {
      clock += SESSION_IDLE_MS / 2;
      if (t + SESSION_IDLE_MS / 2 < SESSION_MAX_MS)
        expect(await accounts.resolveSession(busy.secret)).toBeDefined();
    }
    expect(await accounts.resolveSession(busy.secret)).toBeUndefined();

    const a = await accounts.createSession(ada, undefined);
    const b = await accounts.createSession(ada, undefined);
    expect(await accounts.revokeSession(a.secret)).toBe(true);
    expect(await accounts.resolveSession(a.secret)).toBeUndefined();
    clock += 1;
    await accounts.setPassword('ada', 'battery staple');
    expect(await accounts.resolveSession(b.secret)).toBeUndefined();
  });
});

describe('the access cache', () => {
  it("reuses what it resolved for a few seconds; its own changes apply at once, another process's within ACCESS_CACHE_MS", async () => {
    const ada = await accounts.createUser('ada', 'correct horse');
    const { secret } = await accounts.createSession(ada, undefined);
    await accounts.setMember('p1', ada, 'writer');
    expect(await accounts.resolveSession(secret)).toBeDefined();
    expect(await accounts.roleOf('p1', ada)).toBe('writer');
    // Another process (the CLI) on the same database revokes the sessions and changes the role.
    const other = new AccountService(
      stores.accounts,
      () => SecretBox.open(join(dir, 'secret.key')),
      () => clock,
    );
    await other.setPassword('ada', 'battery staple');
    await stores.accounts.setMember({ projectId: 'p1', userId: ada.id, role: 'reader', addedAt: clock });
    expect(await accounts.resolveSession(secret)).toBeDefined();
    expect(await accounts.roleOf('p1', ada)).toBe('writer');
    clock += ACCESS_CACHE_MS;
    expect(await accounts.resolveSession(secret)).toBeUndefined();
    expect(await accounts.roleOf('p1', ada)).toBe('reader');
    // This process's own changes apply at once.
    await accounts.setMember('p1', ada, 'owner');
    expect(await accounts.roleOf('p1', ada)).toBe('owner');
    const again = await accounts.createSession(ada, undefined);
    expect(await accounts.resolveSession(again.secret)).toBeDefined();
    await accounts.revokeSession(again.secret);
    expect(await accounts.resolveSession(again.secret)).toBeUndefined();
  });
});

describe('access tokens', () => {
  it('are shown once, stored hashed, refused when revoked, expired or forged', async () => {
    const ada = await accounts.createUser('ada', 'correct horse');
    const bob = await accounts.createUser('bob', 'correct horse');
    const { token, record } = await accounts.createToken(ada, 'laptop CLI', 30);
    expect(token).toMatch(/^dfp_[A-Za-z0-9_-]{43}$/);
    expect(record.prefix).toBe(token.slice(0, 10));
    expect(await databaseBytes()).not.toContain(token);
    expect(await accounts.resolveToken(token)).toMatchObject({
      user: { name: 'ada' },
      via: { kind: 'token', tokenName: 'laptop CLI' },
    });
    expect(
      await accounts.resolveToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')),
    ).toBeUndefined();
    expect(await accounts.resolveToken('not a token')).toBeUndefined();

    await expect(accounts.revokeToken(bob, record.id)).rejects.toMatchObject({ code: 'not-found' });
    await accounts.revokeToken(ada, record.id);
    expect(await accounts.resolveToken(token)).toBeUndefined();

    clock += 1;
    const short = await accounts.createToken(ada, 'ci', 1);
    clock += 24 * 3600 * 1000 + 1;
    expect(await accounts.resolveToken(short.token)).toBeUndefined();
    clock += 1;
    const forever = await accounts.createToken(ada, 'forever', null);
    clock += 400 * 24 * 3600 * 1000;
    expect(await accounts.resolveToken(forever.token)).toBeDefined();
    await expect(accounts.createToken(ada, '', 1)).rejects.toMatchObject({ code: 'bad-token-name' });
    await expect(accounts.createToken(ada, 'x', 0)).rejects.toMatchObject({ code: 'bad-token-name' });
    expect((await accounts.listTokens(ada)).map((t) => t.name)).toEqual(['forever', 'ci', 'laptop CLI']);
  });
});

describe('project secrets', () => {
  it('are encrypted with a key outside the database (mode 0600) and tied to their project and name', async () => {
    await accounts.putSecret('p1', 'WANDB_API_KEY', 'sk-live-1234567890', undefined);
    expect(await databaseBytes()).not.toContain('sk-live-1234567890');
    expect((await stat(join(dir, 'secret.key'))).mode & 0o777).toBe(0o600);
    expect(await accounts.secretValues('p1')).toEqual({ WANDB_API_KEY: 'sk-live-1234567890' });
    expect(await accounts.secretValues('p2')).toEqual({});
    expect((await accounts.listSecretNames('p1')).map((s) => s.name)).toEqual(['WANDB_API_KEY']);

    // A ciphertext copied to another project's row does not decrypt there.
    const [row] = await stores.accounts.listSecrets('p1');
    await stores.accounts.putSecret({ ...row!, projectId: 'p2' });
    await expect(accounts.secretValues('p2')).rejects.toThrow(/does not decrypt/);

    for (const name of ['1X', 'A-B', 'PATH', 'DEEPFORGE_JOB', 'PYTHONPATH', 'x'.repeat(200)]) {
      await expect(accounts.putSecret('p1', name, 'v', undefined), name).rejects.toMatchObject({
        code: 'bad-secret',
      });
    }
    await expect(accounts.putSecret('p1', 'EMPTY', '', undefined)).rejects.toMatchObject({
      code: 'bad-secret',
    });
  });

  it('are masked in what jobs print, longest first, values under 4 characters left alone', () => {
    const redact = redactor(['sk-live-1234567890', 'sk-live', 'abc']);
    expect(redact('key=sk-live-1234567890 and sk-live; abc')).toBe('key=*** and ***; abc');
    expect(redactor([])('plain')).toBe('plain');
    expect(redactor(['a.b*c'])('x a.b*c axbbc')).toBe('x *** axbbc');
  });
});
