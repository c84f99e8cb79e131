import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { formatDiagnostics, resolveDataDir } from '@deepforge/engine';
import type { Diagnostic } from '@deepforge/core';
import { SESSION_COOKIE } from '@deepforge/protocol/engine';
import type { AuthStatus, CreatedAccessToken, UserDto } from '@deepforge/protocol';
import type { CliContext } from '../cli-context.js';
import { formatTime } from '../render/format.js';
import { UsageError } from '../usage-error.js';
import { credentialsFilePath, readCredentials, updateCredential } from './credentials-file.js';
import { InputPrompt } from './input-prompt.js';

/** How long the token `deepforge login` makes stays valid. */
export const LOGIN_TOKEN_DAYS = 90;
const REQUEST_TIMEOUT_MS = 30_000;

interface LoginOptions {
  name?: string;
  dataDir?: string;
}

/** The server's origin (`http://host:port`): a URL copied from the browser, path and all, names the same server. */
export function originOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `${JSON.stringify(url)} is not a URL: give the server's, e.g. http://localhost:8888`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`${JSON.stringify(url)} is not an http or https URL`);
  }
  return parsed.origin;
}

function credentialsFile(ctx: CliContext, opts: { dataDir?: string }): string {
  return credentialsFilePath(
    resolveDataDir({
      ...(opts.dataDir !== undefined ? { dataDir: resolve(ctx.cwd, opts.dataDir) } : {}),
      env: ctx.env,
    }),
  );
}

/** A request to the server; a server that cannot be reached is a UsageError naming it. */
export async function request(
  origin: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  try {
    return await fetch(`${origin}${path}`, {
      method,
      headers: {
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      redirect: 'error',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new UsageError(`cannot reach ${origin}: ${why}`);
  }
}

/** The message of an answer in the API's error shape, else its status. */
export async function failure(origin: string, res: Response): Promise<UsageError> {
  const text = await res.text();
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = JSON.parse(text) as { message?: unknown; diagnostics?: unknown };
    if (typeof body.message === 'string') message = body.message;
    // A pipeline that cannot run (422): what is wrong with it, as a local run lists it.
    const errors = (Array.isArray(body.diagnostics) ? (body.diagnostics as Diagnostic[]) : []).filter(
      (d) => d?.severity === 'error' && typeof d.message === 'string' && typeof d.code === 'string',
    );
    if (errors.length > 0) message += `\n${formatDiagnostics(errors)}`;
  } catch {
    // Not the API's error shape (a proxy's page, say): the status says enough.
  }
  return new UsageError(`${origin}: ${message}`);
}

function sessionCookieOf(res: Response): string | undefined {
  for (const cookie of res.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const eq = pair!.indexOf('=');
    if (eq > 0 && pair!.slice(0, eq).trim() === SESSION_COOKIE) return pair!.slice(eq + 1).trim();
  }
  return undefined;
}

export function registerLoginCommands(program: Command, ctx: CliContext): void {
  program
    .command('login')
    .description(
      'sign in to a DeepForge server with accounts and keep an access token for it on this machine',
    )
    .argument('<url>', 'the server, e.g. https://deepforge.example.org or http://localhost:8888')
    .option('--name <name>', 'your sign-in name (asked for on a terminal)')
    .option(
      '--data-dir <dir>',
      'where credentials.json is kept (default: DEEPFORGE_DATA_DIR or ~/.deepforge)',
    )
    .addHelpText(
      'after',
      `
Signs in with your name and password (asked for on a terminal; piped, the first line of stdin is the password),
makes an access token named "deepforge CLI on <this machine>" that expires in ${LOGIN_TOKEN_DAYS} days, signs the
session out again and stores the token in <data dir>/credentials.json (readable by you only), under the server's
origin. Signing in again replaces it and revokes the one before. The token is a password: revoke it on your profile
page in the web IDE, or with \`deepforge logout <url>\`.

Examples:
  deepforge login https://deepforge.example.org
  printf '%s\\n' "$PASSWORD" | deepforge login http://localhost:8888 --name alice`,
    )
    .action(async (url: string, opts: LoginOptions) => {
      const origin = originOf(url);
      const file = credentialsFile(ctx, opts);
      const credentials = await readCredentials(file);

      const statusRes = await request(origin, 'GET', '/api/auth/status');
      if (!statusRes.ok) throw await failure(origin, statusRes);
      const status = (await statusRes.json()) as AuthStatus;
      if (!status.enabled) {
        throw new UsageError(`${origin} has accounts off: it needs no sign-in (and takes no tokens)`);
      }
      if (status.needsFirstUser) {
        throw new UsageError(
          `nobody can sign in to ${origin} yet: on its machine, \`deepforge users add <name> --admin\` creates the first user`,
        );
      }

      const prompt = new InputPrompt(ctx);
      if (opts.name === undefined && !prompt.interactive) {
        throw new UsageError('stdin is not a terminal: give the name with --name (and pipe the password)');
      }
      const name = (opts.name ?? (await prompt.line('Name: ')) ?? '').trim();
      if (name === '') throw new UsageError('no name given');
      const password = await prompt.secret('Password: ');
      if (password === undefined || password === '') {
        throw new UsageError(
          'no password given: type it at the prompt (in a terminal) or pipe it to stdin (first line)',
        );
      }

      const loginRes = await request(origin, 'POST', '/api/auth/login', { body: { name, password } });
      if (!loginRes.ok) throw await failure(origin, loginRes);
      const user = (await loginRes.json()) as UserDto;
      const session = sessionCookieOf(loginRes);
      if (session === undefined) {
        throw new UsageError(`${origin} signed you in but sent no ${SESSION_COOKIE} cookie`);
      }
      const cookie = { cookie: `${SESSION_COOKIE}=${session}` };
      let created: CreatedAccessToken;
      try {
        const tokenName = `deepforge CLI on ${hostname()}`.slice(0, 100);
        const tokenRes = await request(origin, 'POST', '/api/auth/tokens', {
          body: { name: tokenName, expiresInDays: LOGIN_TOKEN_DAYS },
          headers: cookie,
        });
        if (tokenRes.status !== 201) throw await failure(origin, tokenRes);
        created = (await tokenRes.json()) as CreatedAccessToken;
        const previous = credentials.servers[origin];
        if (previous !== undefined && previous.user === user.name) {
          // One token per server and machine: the one this replaces would otherwise stay valid, unused.
          await request(origin, 'DELETE', `/api/auth/tokens/${encodeURIComponent(previous.tokenId)}`, {
            headers: cookie,
          }).catch(() => undefined);
        }
      } finally {
        // The token is what the CLI keeps; the session it was made with ends now.
        await request(origin, 'POST', '/api/auth/logout', { headers: cookie }).catch(() => undefined);
      }

      await updateCredential(file, origin, {
        user: user.name,
        token: created.token,
        tokenId: created.info.id,
        tokenName: created.info.name,
        createdAt: created.info.createdAt,
        expiresAt: created.info.expiresAt,
      });
      const expires =
        created.info.expiresAt === null ? 'never expires' : `expires ${formatTime(created.info.expiresAt)}`;
      ctx.out.write(
        `Signed in to ${origin} as ${user.name}${user.admin ? ' (admin)' : ''}.\n` +
          `  access token "${created.info.name}" (${created.info.prefix}…, ${expires}) stored in ${file}\n`,
      );
    });

  program
    .command('logout')
    .description('revoke the access token `deepforge login` stored for a server, and forget it')
    .argument('<url>', 'the server, as given to `deepforge login`')
    .option(
      '--data-dir <dir>',
      'where credentials.json is kept (default: DEEPFORGE_DATA_DIR or ~/.deepforge)',
    )
    .action(async (url: string, opts: { dataDir?: string }) => {
      const origin = originOf(url);
      const file = credentialsFile(ctx, opts);
      const credentials = await readCredentials(file);
      const stored = credentials.servers[origin];
      if (stored === undefined) {
        ctx.out.write(`Not signed in to ${origin}.\n`);
        return;
      }
      let revoked: string;
      try {
        const res = await request(
          origin,
          'DELETE',
          `/api/auth/tokens/${encodeURIComponent(stored.tokenId)}`,
          {
            headers: { authorization: `Bearer ${stored.token}` },
          },
        );
        // 401: the token was revoked or expired already, so it no longer works either way.
        revoked =
          res.status === 204 || res.status === 401
            ? 'the token is revoked'
            : `the server did not revoke the token (${(await failure(origin, res)).message}): revoke it on your profile page`;
      } catch (err) {
        revoked = `${(err as Error).message}; the token stays valid until it expires or is revoked on your profile page`;
      }
      await updateCredential(file, origin, undefined);
      ctx.out.write(`Signed out of ${origin} (${stored.user}): ${revoked}.\n`);
    });
}
