import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import {
  AccountError,
  AccountService,
  loadSettings,
  openDatabase,
  resolveDataDir,
  userNameProblem,
} from '@deepforge/engine';
import type { DatabaseStores } from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { formatTime, table } from '../render/format.js';
import { InputPrompt } from './input-prompt.js';

interface DataDirOptions {
  dataDir?: string;
}

type UserAction = 'user-add' | 'user-remove' | 'password-change' | 'admin-on' | 'admin-off';

const DATA_DIR_HELP = 'the data dir whose accounts to change (default: DEEPFORGE_DATA_DIR or ~/.deepforge)';

/**
 * Works on the accounts of the data dir's database directly, without an engine (no runner, no recovery of jobs):
 * whoever can write the data dir is its administrator, also while a server runs on it.
 */
async function withAccounts<T>(
  ctx: CliContext,
  opts: DataDirOptions,
  fn: (accounts: AccountService, stores: DatabaseStores, dataDir: string) => Promise<T>,
): Promise<T> {
  const dataDir = resolveDataDir({
    ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
    env: ctx.env,
  });
  // The database the data dir's settings choose: its SQLite file, or the PostgreSQL of database.url.
  const stores = await openDatabase(await loadSettings({ dataDir, env: ctx.env }));
  try {
    // `users` never reads or writes project secrets, so it never needs the data dir's secret key.
    const accounts = new AccountService(stores.accounts, () =>
      Promise.reject(new Error('deepforge users does not handle project secrets')),
    );
    return await fn(accounts, stores, dataDir);
  } finally {
    await stores.close();
  }
}

function audit(accounts: AccountService, action: UserAction, target: string): Promise<unknown> {
  return accounts.audit({ actorId: null, actorName: '(cli)', action, target, detail: null, ip: null });
}

function onOff(value: string): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError(`expected "on" or "off", got ${JSON.stringify(value)}`);
}

export function registerUsersCommand(program: Command, ctx: CliContext): void {
  const users = program
    .command('users')
    .description('manage the accounts people sign in with when accounts are on (auth.enabled)')
    .addHelpText(
      'after',
      `
Passwords are never arguments: on a terminal they are asked for (twice, not shown); piped, the first line of stdin
is the password (a second line, if any, must repeat it). Each change is written to the audit log as "(cli)".

Turning accounts on:
  deepforge config auth.enabled true
  deepforge users add alice --admin
  printf '%s\\n' "$PASSWORD" | deepforge users add bob`,
    );

  users
    .command('add')
    .description('create a user (asks for the password)')
    .argument('<name>', 'the sign-in name: 1 to 40 lowercase letters, digits, ".", "_" or "-"')
    .option('--admin', 'make the user an admin')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (name: string, opts: DataDirOptions & { admin?: boolean }) => {
      await withAccounts(ctx, opts, async (accounts, _stores, dataDir) => {
        // Say what is wrong with the name before asking for a password twice.
        const problem = userNameProblem(name);
        if (problem) throw new AccountError('bad-name', problem);
        if (await accounts.store.getUserByName(name)) {
          throw new AccountError('exists', `there is already a user "${name}"`);
        }
        const password = await new InputPrompt(ctx).newPassword(`Password for ${name}: `);
        const user = await accounts.createUser(name, password, { admin: opts.admin === true });
        await audit(accounts, 'user-add', name);
        ctx.out.write(`added ${user.name}${user.admin ? ' (admin)' : ''}\n`);
        const settings = await loadSettings({ dataDir, env: ctx.env });
        if (!settings.values['auth.enabled']) {
          ctx.out.write(
            'Accounts are off, so nobody needs to sign in yet: `deepforge config auth.enabled true` turns them on.\n',
          );
        }
      });
    });

  users
    .command('list')
    .description('list users: name, admin or not, when created')
    .option('--json', 'print JSON')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (opts: DataDirOptions & { json?: boolean }) => {
      await withAccounts(ctx, opts, async (accounts) => {
        const list = await accounts.listUsers();
        if (opts.json) {
          const items = list.map((u) => ({ name: u.name, admin: u.admin, createdAt: u.createdAt }));
          ctx.out.write(JSON.stringify(items, null, 2) + '\n');
          return;
        }
        if (list.length === 0) {
          ctx.out.write('No users yet. `deepforge users add <name> --admin` creates the first one.\n');
          return;
        }
        const c = pc.createColors(Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR);
        ctx.out.write(
          table([
            ['NAME', 'ADMIN', 'CREATED'].map((h) => c.bold(h)),
            ...list.map((u) => [u.name, u.admin ? 'yes' : 'no', formatTime(u.createdAt)]),
          ]) + '\n',
        );
      });
    });

  users
    .command('remove')
    .description('remove a user: they can no longer sign in, their sessions and tokens stop working')
    .argument('<name>', 'the user')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (name: string, opts: DataDirOptions) => {
      await withAccounts(ctx, opts, async (accounts, stores) => {
        await accounts.removeUser(name, async (id) => (await stores.projects.getProject(id))?.name);
        await audit(accounts, 'user-remove', name);
        ctx.out.write(`removed ${name}\n`);
      });
    });

  users
    .command('passwd')
    .description("set a user's password (asks for it); they are signed out everywhere, their tokens stay")
    .argument('<name>', 'the user')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (name: string, opts: DataDirOptions) => {
      await withAccounts(ctx, opts, async (accounts) => {
        await accounts.userByName(name);
        const password = await new InputPrompt(ctx).newPassword(`New password for ${name}: `);
        await accounts.setPassword(name, password);
        await audit(accounts, 'password-change', name);
        ctx.out.write(`changed the password of ${name}\n`);
      });
    });

  users
    .command('admin')
    .description('make a user an admin, or not (the last admin stays one)')
    .argument('<name>', 'the user')
    .argument('<on|off>', 'on: admin; off: not', onOff)
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (name: string, admin: boolean, opts: DataDirOptions) => {
      await withAccounts(ctx, opts, async (accounts) => {
        const before = await accounts.userByName(name);
        if (before.admin === admin) {
          ctx.out.write(`${name} is ${admin ? 'already' : 'not'} an admin\n`);
          return;
        }
        await accounts.setAdmin(name, admin);
        await audit(accounts, admin ? 'admin-on' : 'admin-off', name);
        ctx.out.write(`${name} is ${admin ? 'now' : 'no longer'} an admin\n`);
      });
    });
}
