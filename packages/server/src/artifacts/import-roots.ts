import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { HttpError, badRequest } from '../http/http-error.js';

export const IMPORT_ROOTS_SETTING = 'artifacts.importRoots';

/** Whether `path` is `root` itself or below it (both absolute and already resolved). */
function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

function outsideRoots(path: string, roots: readonly string[]): HttpError {
  const message =
    roots.length === 0
      ? `body.path: this server imports no files by path (${IMPORT_ROOTS_SETTING} is empty); upload the file instead`
      : `body.path: ${path} is outside the folders this server imports from (${IMPORT_ROOTS_SETTING}: ${roots.join(', ')}); upload the file instead, or add its folder with \`deepforge config ${IMPORT_ROOTS_SETTING}\``;
  return new HttpError(403, 'forbidden', message, { field: 'body.path' });
}

/**
 * The real path of a file the server may import as an artifact by path: one inside a folder of
 * `artifacts.importRoots` once every symbolic link (of the path and of the roots) is resolved, so a link inside a
 * root cannot lead out of it. Outside: 403 naming the setting. A path that does not resolve is a 400 only when it
 * is inside a root, so the answers tell nothing about files elsewhere. The caller reads the returned path, not the
 * one asked for.
 */
export async function importablePath(path: string, roots: readonly string[]): Promise<string> {
  if (!isAbsolute(path)) throw badRequest('body.path', 'must be an absolute path on the server machine');
  const realRoots = (await Promise.all(roots.map((r) => realpath(r).catch(() => undefined)))).filter(
    (r): r is string => r !== undefined,
  );
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined) {
    const asked = resolve(path);
    if (!roots.some((r) => isWithin(r, asked)) && !realRoots.some((r) => isWithin(r, asked)))
      throw outsideRoots(path, roots);
    throw badRequest('body.path', `there is no file ${path} on the server machine`);
  }
  if (!realRoots.some((r) => isWithin(r, real))) throw outsideRoots(path, roots);
  if (!(await stat(real).catch(() => undefined))?.isFile()) {
    throw badRequest('body.path', `${path} is not a file`);
  }
  return real;
}
