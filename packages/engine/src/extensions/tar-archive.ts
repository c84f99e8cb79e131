import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** Limits on a tarball read (an extension is code and a few small data files). */
export interface TarLimits {
  /** The most bytes the unpacked tar may be: decompression stops there. */
  maxBytes: number;
  /** The most entries (files and folders). */
  maxEntries: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = { maxBytes: 64 * 1024 * 1024, maxEntries: 5000 };

/** A tarball that cannot be read or breaks a rule; the message names the entry. */
export class TarArchiveError extends Error {
  override readonly name = 'TarArchiveError';
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

function octal(block: Buffer, start: number, length: number, what: string): number {
  const raw = text(block, start, length).trim();
  if (raw === '') return 0;
  if (!/^[0-7]+$/.test(raw))
    throw new TarArchiveError(`not a tar archive: bad ${what} field "${raw.slice(0, 20)}"`);
  return parseInt(raw, 8);
}

/** `path=…` records of a pax extended header. */
function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(data.subarray(at, space).toString('ascii'));
    if (!Number.isInteger(length) || length <= 0 || at + length > data.length) break;
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0 && record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += length;
  }
  return path;
}

/** A relative POSIX path that stays inside the folder it is unpacked into, or the reason it does not. */
export function entryPathProblem(path: string): string | null {
  if (path === '' || path.length > 1000) return 'an empty or overlong name';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'an absolute path';
  if (path.includes('\\')) return 'a backslash in the name';
  if (path.includes('\0')) return 'a NUL in the name';
  if (path.split('/').some((p) => p === '..')) return 'a path going up (..)';
  return null;
}

/**
 * The files of a gzipped tar (what `npm pack` writes), read in memory within `limits`: regular files and folders
 * only (links, devices and the rest are refused, naming the entry), no name leaving the archive's folder. Folders
 * are implied by the files' paths, so only files are returned.
 */
export async function readTarGz(
  gz: Buffer,
  limits: TarLimits = DEFAULT_TAR_LIMITS,
): Promise<{ path: string; data: Buffer }[]> {
  let tar: Buffer;
  try {
    // maxOutputLength stops a small archive that unpacks to gigabytes as soon as it passes the limit.
    tar = await gunzipAsync(gz, { maxOutputLength: limits.maxBytes });
  } catch (err) {
    if (err instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TarArchiveError(`the tarball unpacks to more than ${limits.maxBytes} bytes`);
    }
    throw new TarArchiveError(`not a gzipped tarball: ${(err as Error).message}`);
  }
  const files: { path: string; data: Buffer }[] = [];
  let entries = 0;
  let offset = 0;
  let nextPath: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
    if (sum !== octal(header, 148, 8, 'checksum'))
      throw new TarArchiveError('not a tar archive: a header checksum is wrong');
    const size = octal(header, 124, 12, 'size');
    const type = String.fromCharCode(header[156] as number);
    const start = offset + 512;
    if (start + size > tar.length) throw new TarArchiveError('the tarball is truncated');
    const data = tar.subarray(start, start + size);
    offset = start + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      nextPath = paxPath(data);
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') {
      nextPath = text(data, 0, data.length);
      continue;
    }
    const prefix = text(header, 345, 155);
    const name = nextPath ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    nextPath = undefined;
    if (++entries > limits.maxEntries) {
      throw new TarArchiveError(`the tarball has more than ${limits.maxEntries} entries`);
    }
    const clean = name.replace(/^(\.\/)+/, '');
    // `tar -C dir .` starts with the folder itself.
    if (type === '5' && (clean === '' || clean === '.' || clean === './')) continue;
    const problem = entryPathProblem(clean);
    if (problem) throw new TarArchiveError(`the tarball's entry "${name.slice(0, 200)}" has ${problem}`);
    if (type === '5') continue;
    if (type === '1' || type === '2') {
      throw new TarArchiveError(
        `the tarball's entry "${name}" is a link: extensions may only hold files and folders`,
      );
    }
    if (type !== '0' && type !== '\0' && type !== '7') {
      throw new TarArchiveError(
        `the tarball's entry "${name}" is not a file or folder (type ${JSON.stringify(type)})`,
      );
    }
    files.push({ path: clean.replace(/\/+$/, ''), data: Buffer.from(data) });
  }
  return files;
}
