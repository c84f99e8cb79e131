import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FILE_DIFF_LIMITS } from '@deepforge/core';
import type { ExecutionComparisonDto } from '@deepforge/protocol';
import { payloadTooLarge } from '../http/http-error.js';

/**
 * The limits of reading code snapshots for a comparison: a snapshot is the project's code, so these are far above
 * a real project and only stop a hostile or broken one from making the server read and send without end.
 */
export const COMPARED_CODE_LIMITS = {
  /** Files in one snapshot. */
  files: 2000,
  /** A file larger than this is compared by its content hash and not sent (core could not diff it anyway). */
  fileBytes: FILE_DIFF_LIMITS.chars,
  /** Text sent in all; files past it are compared by hash and not sent. */
  totalBytes: 16 * 1024 * 1024,
} as const;

type ComparedCode = ExecutionComparisonDto['code'];

async function listFiles(codeDir: string, executionId: string): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) {
        if (files.size >= COMPARED_CODE_LIMITS.files) {
          throw payloadTooLarge(
            `execution ${executionId}: its code snapshot has more than ${COMPARED_CODE_LIMITS.files} files, too many to compare`,
          );
        }
        files.set(relative(codeDir, full).split(sep).join('/'), (await stat(full)).size);
      }
    }
  };
  await walk(codeDir);
  return files;
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  // Streamed: a large file is hashed chunk by chunk between other requests.
  await pipeline(createReadStream(file), hash);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * The code files whose text differs between the executions' snapshots (`code/` of each), with each one's text;
 * files the same everywhere are only counted. Bounded by COMPARED_CODE_LIMITS.
 */
export async function comparedCode(runs: readonly { id: string; codeDir: string }[]): Promise<ComparedCode> {
  const listings = await Promise.all(runs.map((r) => listFiles(r.codeDir, r.id)));
  const paths = [...new Set(listings.flatMap((l) => [...l.keys()]))].sort();
  const files: ComparedCode['files'] = [];
  let unchanged = 0;
  let sent = 0;
  for (const path of paths) {
    const sizes = listings.map((l) => l.get(path));
    const present = sizes.filter((s): s is number => s !== undefined);
    const bytes = present.reduce((a, b) => a + b, 0);
    const tooLarge = present.some((s) => s > COMPARED_CODE_LIMITS.fileBytes);
    const overBudget = sent + bytes > COMPARED_CODE_LIMITS.totalBytes;
    if (tooLarge || overBudget) {
      const hashes = await Promise.all(
        runs.map((r, i) => (sizes[i] === undefined ? null : hashFile(join(r.codeDir, path)))),
      );
      if (hashes.every((h) => h !== null && h === hashes[0])) unchanged++;
      else
        files.push({
          path,
          texts: hashes,
          omitted: tooLarge
            ? `too large to compare here: more than ${Math.ceil(COMPARED_CODE_LIMITS.fileBytes / 1024)} KiB`
            : `not sent: the comparison already holds ${COMPARED_CODE_LIMITS.totalBytes / 1024 / 1024} MiB of code`,
        });
      continue;
    }
    const texts = await Promise.all(
      runs.map((r, i) => (sizes[i] === undefined ? null : readFile(join(r.codeDir, path), 'utf8'))),
    );
    if (texts.every((t) => t !== null && t === texts[0])) {
      unchanged++;
      continue;
    }
    sent += bytes;
    files.push({ path, texts });
  }
  return { files, unchanged };
}
