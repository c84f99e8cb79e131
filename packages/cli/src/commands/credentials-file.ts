import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock, writeFileAtomic } from '@deepforge/engine';
import { UsageError } from '../usage-error.js';

export const CREDENTIALS_FILE_NAME = 'credentials.json';

/** The access token `deepforge login` made on one server. */
export interface StoredCredential {
  user: string;
  token: string;
  /** The token's id on the server, to revoke it on `deepforge logout`. */
  tokenId: string;
  tokenName: string;
  createdAt: number;
  expiresAt: number | null;
}

/** `credentials.json`: tokens keyed by server origin (`http://host:port`). Mode 0600: it holds secrets. */
export interface Credentials {
  servers: Record<string, StoredCredential>;
}

export function credentialsFilePath(dataDir: string): string {
  return join(dataDir, CREDENTIALS_FILE_NAME);
}

export async function readCredentials(file: string): Promise<Credentials> {
  return { servers: (await readServersFile(file, '{"servers": {…}}')) as Record<string, StoredCredential> };
}

/**
 * The `servers` object of one of the CLI's per-server JSON files (credentials.json, server-projects.json): empty
 * when the file does not exist; a UsageError naming the file, and `shape` (what it must hold), when it cannot be
 * read or is not such an object. What each server's entry holds is the caller's to check.
 */
export async function readServersFile(file: string, shape: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON (${(err as Error).message}); fix or delete it`);
  }
  const servers = (parsed as { servers?: unknown } | null)?.servers;
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
    throw new UsageError(`${file} must hold ${shape}; fix or delete it`);
  }
  return servers as Record<string, unknown>;
}

/**
 * Changes one server's entry: the file is read again under its lock, changed and replaced at once (readers see
 * the old or the new one), readable by this user only; the other servers' entries stay, those another command
 * writes at the same time included. `entry` undefined removes it.
 */
export async function updateCredential(
  file: string,
  origin: string,
  entry: StoredCredential | undefined,
): Promise<void> {
  await withFileLock(file, async () => {
    const credentials = await readCredentials(file);
    if (entry === undefined) delete credentials.servers[origin];
    else credentials.servers[origin] = entry;
    await writeFileAtomic(file, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  });
}
