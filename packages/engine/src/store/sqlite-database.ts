import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

let addonFile: string | null | undefined;

/**
 * better-sqlite3's compiled addon where its install puts it (`build/Release`), found once; null when it is not
 * there, and the library's own lookup (the `bindings` package: folders tried from its caller's file) finds it.
 * Named directly it costs one `dlopen`, and the library's code can travel inside the CLI's bundle, whose file that
 * lookup would take for the library's (scripts/bundle-cli.mjs).
 */
function nativeAddon(): string | null {
  if (addonFile === undefined) {
    try {
      const root = dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json'));
      const file = join(root, 'build', 'Release', 'better_sqlite3.node');
      addonFile = existsSync(file) ? file : null;
    } catch {
      addonFile = null;
    }
  }
  return addonFile;
}

/** A better-sqlite3 database, its addon loaded from where it was installed (see nativeAddon). */
export function sqliteDatabase(file: string, options: BetterSqlite3.Options = {}): BetterSqlite3.Database {
  const addon = nativeAddon();
  return new BetterSqlite3(file, addon === null ? options : { ...options, nativeBinding: addon });
}
