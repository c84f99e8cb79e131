import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccountService, openSqliteStores } from '@deepforge/engine';
import { cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { CLI_MAIN, cli } from './test-support/run-cli.js';

let tmp: string;
let dataDir: string;
let env: Record<string, string | undefined>;
beforeEach(async () => {
  tmp = await makeTempDir('cli-users');
  dataDir = join(tmp, 'data');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: dataDir, NO_COLOR: '1' });
});
afterEach(async () => {
  await removeTree(tmp);
});

/** The data dir's accounts, opened the way a server would, to check what the CLI stored. */
async function withStoredAccounts<T>(fn: (accounts: AccountService) => Promise<T>): Promise<T> {
  const stores = await openSqliteStores(join(dataDir, 'deepforge.db'));
  try {
    return await fn(new AccountService(stores.accounts, () => Promise.reject(new Error('no secrets here'))));
  } finally {
    await stores.close();
  }
}

describe('deepforge users', () => {
  it('adds, lists, changes passwords and admins, and removes users, with passwords piped on stdin, each in the audit log', async () => {
    const empty = await cli(['users', 'list'], env);
    expect(empty).toMatchObject({ code: 0, stderr: '' });
    expect(empty.stdout).toMatch(/No users yet\. `deepforge users add <name> --admin`/);

    const alice = await cli(['users', 'add', 'alice', '--admin'], env, tmp, 'correct horse\ncorrect horse\n');
    expect(alice).toMatchObject({ code: 0, stderr: '' });
    expect(alice.stdout).toMatch(/^added alice \(admin\)\n/);
    // Accounts are off: the CLI says how to turn them on.
    expect(alice.stdout).toMatch(/`deepforge config auth\.enabled true` turns them on/);
    // A single line (no repeat) is enough when piped; CRLF is accepted.
    const bob = await cli(
      ['users', 'add', 'bob'],
      { ...env, DEEPFORGE_AUTH: 'true' },
      tmp,
      'battery staple\r\n',
    );
    expect(bob).toMatchObject({ code: 0, stdout: 'added bob\n', stderr: '' });

    const list = await cli(['users', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      /^NAME\s+ADMIN\s+CREATED\nalice\s+yes\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\nbob\s+no\s+\d{4}-/,
    );
    const json = JSON.parse((await cli(['users', 'list', '--json'], env)).stdout) as unknown[];
    expect(json).toEqual([
      { name: 'alice', admin: true, createdAt: expect.any(Number) },
      { name: 'bob', admin: false, createdAt: expect.any(Number) },
    ]);

    const passwd = await cli(['users', 'passwd', 'bob'], env, tmp, 'a new password\n');
    expect(passwd).toMatchObject({ code: 0, stdout: 'changed the password of bob\n', stderr: '' });
    await withStoredAccounts(async (accounts) => {
      expect(await accounts.checkPassword('bob', 'battery staple')).toBeUndefined();
      expect((await accounts.checkPassword('bob', 'a new password'))?.name).toBe('bob');
      expect((await accounts.checkPassword('alice', 'correct horse'))?.admin).toBe(true);
    });

    expect(await cli(['users', 'admin', 'bob', 'on'], env)).toMatchObject({
      code: 0,
      stdout: 'bob is now an admin\n',
    });
    expect((await cli(['users', 'admin', 'bob', 'on'], env)).stdout).toBe('bob is already an admin\n');
    expect(await cli(['users', 'admin', 'alice', 'off'], env)).toMatchObject({
      code: 0,
      stdout: 'alice is no longer an admin\n',
    });
    expect(await cli(['users', 'remove', 'alice'], env)).toMatchObject({
      code: 0,
      stdout: 'removed alice\n',
    });
    expect((await cli(['users', 'list'], env)).stdout).toMatch(
      /^NAME\s+ADMIN\s+CREATED\nbob\s+yes\s+\d{4}-[^\n]*\n$/,
    );

    const audit = await withStoredAccounts((accounts) => accounts.listAudit({ limit: 100, offset: 0 }));
    expect(
      audit.items
        .map((e) => ({ actorName: e.actorName, actorId: e.actorId, action: e.action, target: e.target }))
        .reverse(),
    ).toEqual(
      [
        ['user-add', 'alice'],
        ['user-add', 'bob'],
        ['password-change', 'bob'],
        ['admin-on', 'bob'],
        ['admin-off', 'alice'],
        ['user-remove', 'alice'],
      ].map(([action, target]) => ({ actorName: '(cli)', actorId: null, action, target })),
    );
  });

  it('refuses a repeat that does not match, a short password, a name that is not allowed, a taken name and a password argument', async () => {
    const mismatch = await cli(['users', 'add', 'carol'], env, tmp, 'first password\nsecond password\n');
    expect(mismatch).toMatchObject({ code: 1, stdout: '' });
    expect(mismatch.stderr).toBe('error: the two passwords do not match; nothing changed\n');

    const short = await cli(['users', 'add', 'carol'], env, tmp, 'short\n');
    expect(short).toMatchObject({ code: 1, stdout: '' });
    expect(short.stderr).toBe('error: a password needs at least 8 characters; nothing changed\n');

    const none = await cli(['users', 'add', 'carol'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /no password given: type it at the prompt \(in a terminal\) or pipe it to stdin/,
    );

    for (const name of ['Carol', 'carol!', 'carol-', 'a'.repeat(41), '']) {
      const bad = await cli(['users', 'add', name], env, tmp, 'good password\n');
      expect(bad.code, name).toBe(1);
      expect(bad.stderr, name).toMatch(/is not an allowed account name: 1 to 40 lowercase letters, digits/);
    }

    // A password given as an argument is not taken (it would show in `ps` and the shell history).
    const argument = await cli(['users', 'add', 'carol', 'good password'], env, tmp, 'good password\n');
    expect(argument.code).not.toBe(0);
    expect(argument.stderr).toMatch(/too many arguments/);

    expect((await cli(['users', 'list', '--json'], env)).stdout).toBe('[]\n');
    expect((await cli(['users', 'add', 'carol'], env, tmp, 'good password\n')).code).toBe(0);
    const taken = await cli(['users', 'add', 'carol'], env, tmp, 'other password\n');
    expect(taken).toMatchObject({ code: 1, stderr: 'error: there is already a user "carol"\n' });
    const passwdShort = await cli(['users', 'passwd', 'carol'], env, tmp, 'short\n');
    expect(passwdShort.stderr).toBe('error: a password needs at least 8 characters; nothing changed\n');
    const unknown = await cli(['users', 'passwd', 'dave'], env, tmp, 'good password\n');
    expect(unknown).toMatchObject({ code: 1, stderr: 'error: there is no user "dave"\n' });
    expect((await cli(['users', 'remove', 'dave'], env)).stderr).toBe('error: there is no user "dave"\n');
    const onOff = await cli(['users', 'admin', 'carol', 'yes'], env);
    expect(onOff.code).not.toBe(0);
    expect(onOff.stderr).toMatch(/expected "on" or "off", got "yes"/);
    await withStoredAccounts(async (accounts) => {
      expect((await accounts.checkPassword('carol', 'good password'))?.name).toBe('carol');
    });
  });

  it('neither removes nor demotes the last admin', async () => {
    expect((await cli(['users', 'add', 'root', '--admin'], env, tmp, 'root password\n')).code).toBe(0);
    const remove = await cli(['users', 'remove', 'root'], env);
    expect(remove).toMatchObject({
      code: 1,
      stderr: 'error: "root" is the last admin: make another user admin first\n',
    });
    const demote = await cli(['users', 'admin', 'root', 'off'], env);
    expect(demote).toMatchObject({
      code: 1,
      stderr: 'error: "root" is the last admin: make another user admin first\n',
    });
    expect((await cli(['users', 'add', 'second', '--admin'], env, tmp, 'second password\n')).code).toBe(0);
    expect((await cli(['users', 'admin', 'root', 'off'], env)).code).toBe(0);
    expect((await cli(['users', 'remove', 'second'], env)).stderr).toMatch(/"second" is the last admin/);
    const audit = await withStoredAccounts((accounts) => accounts.listAudit({ limit: 100, offset: 0 }));
    expect(audit.items.map((e) => e.action).sort()).toEqual(['admin-off', 'user-add', 'user-add']);
  });

  it('never writes the password to the database', async () => {
    const password = 'Unmistakable-Passw0rd-7f3a';
    expect((await cli(['users', 'add', 'erin'], env, tmp, `${password}\n`)).code).toBe(0);
    expect((await cli(['users', 'passwd', 'erin'], env, tmp, `${password}-2\n`)).code).toBe(0);
    const files = (await readdir(dataDir)).filter((f) => f.startsWith('deepforge.db'));
    expect(files).toContain('deepforge.db');
    for (const f of files) {
      const bytes = await readFile(join(dataDir, f));
      for (const form of [
        Buffer.from(password, 'utf8'),
        Buffer.from(password, 'utf16le'),
        Buffer.from(Buffer.from(password).toString('base64')),
        Buffer.from(Buffer.from(password).toString('hex')),
      ]) {
        expect(bytes.includes(form), `${f} holds ${form.toString()}`).toBe(false);
      }
    }
    await withStoredAccounts(async (accounts) => {
      const [user] = await accounts.listUsers();
      expect(user!.passwordHash).toMatch(/^\$argon2id\$/);
    });
  });

  it('reads the password from a pipe to the real process', async () => {
    const child = spawn(process.execPath, [CLI_MAIN, 'users', 'add', 'gina', '--admin'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = once(child, 'exit');
    child.stdin.end('piped password\n');
    expect(((await exited) as [number])[0]).toBe(0);
    expect(output).toMatch(/^added gina \(admin\)\n/);
    await withStoredAccounts(async (accounts) => {
      expect((await accounts.checkPassword('gina', 'piped password'))?.admin).toBe(true);
    });
  });

  it('on a terminal, asks for the password twice without showing it', async () => {
    // `script` gives the CLI a real terminal; what is typed goes through it like keystrokes.
    const child = spawn(
      'script',
      ['-qec', `"${process.execPath}" "${CLI_MAIN}" users add frank`, '/dev/null'],
      {
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let screen = '';
    const waiters: { pattern: RegExp; resolve: () => void }[] = [];
    child.stdout.on('data', (c: Buffer) => {
      screen += c.toString();
      for (const w of waiters.splice(0)) {
        if (w.pattern.test(screen)) w.resolve();
        else waiters.push(w);
      }
    });
    const showing = (pattern: RegExp) =>
      new Promise<void>((resolve) => {
        if (pattern.test(screen)) resolve();
        else waiters.push({ pattern, resolve });
      });
    const exited = once(child, 'exit');
    await showing(/Password for frank: /);
    child.stdin.write('secret-typed-1\x7f2\r');
    await showing(/Repeat it: /);
    child.stdin.write('secret-typed-2\r');
    const [code] = (await exited) as [number];
    expect(screen).not.toMatch(/secret-typed/);
    expect(screen).toMatch(/added frank\r?\n/);
    expect(code).toBe(0);
    await withStoredAccounts(async (accounts) => {
      expect((await accounts.checkPassword('frank', 'secret-typed-2'))?.name).toBe('frank');
    });
  });
});
