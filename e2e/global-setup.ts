import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM } from './support/browser.js';
import { ROOT } from './support/server.js';

/** Sources the built client is made of: its own, and the workspace packages Vite reads from source. */
const CLIENT_INPUTS = [
  'packages/client/src',
  'packages/client/public',
  'packages/client/index.html',
  'packages/client/vite.config.ts',
  'packages/client/package.json',
  'packages/core/src',
  'packages/protocol/src',
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return /\.test\.tsx?$/.test(path) ? 0 : st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Runs a build step; its output is shown only when it fails. */
function run(command: string, args: string[], what: string, env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env });
  if (r.status !== 0) {
    console.error(`${r.stdout}${r.stderr}`);
    throw new Error(`e2e setup: ${what} failed (exit ${r.status}); see above`);
  }
}

/**
 * What the e2e tests and the UI benchmarks run: the server (`packages/cli/dist`; `tsc -b` is incremental) and the
 * web client it serves (`packages/client/dist`, rebuilt when missing or older than any of its sources), and the
 * browser. A server serves the client files that existed when it started: build before starting one.
 */
export function ensureBuilt(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `e2e: ${CHROMIUM} is missing. Install Debian's Chromium (npm run setup does, as root: apt-get install -y chromium).`,
    );
  run(
    process.execPath,
    [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'packages/cli'],
    'tsc -b',
  );
  const built = join(ROOT, 'packages', 'client', 'dist', 'index.html');
  const builtAt = existsSync(built) ? statSync(built).mtimeMs : 0;
  const sourcesAt = Math.max(...CLIENT_INPUTS.map((p) => newestMtime(join(ROOT, p))));
  if (sourcesAt > builtAt) {
    const started = Date.now();
    run(
      process.platform === 'win32' ? 'npm.cmd' : 'npm',
      ['run', 'build', '-w', '@deepforge/client'],
      'vite build',
      // Vitest sets NODE_ENV=test, and Vite builds for the NODE_ENV it finds: React's development build (several
      // times slower) would be what the tests and the UI benchmarks measure, not what `npm start` serves.
      { ...process.env, NODE_ENV: 'production' },
    );
    console.log(
      `[e2e] built the web client (${builtAt === 0 ? 'no build yet' : 'sources changed'}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
}

/** Before any e2e file. */
export default function setup(): void {
  ensureBuilt();
}
