import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InterpreterError } from '../errors.js';
import type { Env } from '../settings.js';

/** Tried in this order when the `python` setting is unset: Debian's interpreter first (it has torch). */
export const PYTHON_CANDIDATES = ['/usr/bin/python3', 'python3', 'python'] as const;

/** Interpreter checks that passed, in the data dir (ProbeOptions.cacheFile). */
export const PYTHON_CHECKS_FILE = 'python-checks.json';

/**
 * The directory that holds the `deepforge` Python package (`<repo>/python`), found by walking up from this
 * module, so it works from src/ (tests, tsx) and from dist/ alike.
 */
export function findRuntimeDir(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const candidate = join(dir, 'python');
    if (existsSync(join(candidate, 'deepforge', '__init__.py'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new InterpreterError(
        `cannot find the DeepForge Python runtime (python/deepforge) above ${fileURLToPath(from)}`,
      );
    }
    dir = parent;
  }
}

export interface PythonInfo {
  /** The command as configured (`python3`, `/usr/bin/python3`). */
  command: string;
  /** sys.executable: the interpreter that actually runs. */
  executable: string;
  /** platform.python_version(), e.g. 3.11.2. */
  version: string;
  /** deepforge.__version__: part of every cache key. */
  runtimeVersion: string;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException;
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & { code?: unknown }) | null;
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
          error: err && typeof err.code === 'string' ? err : undefined,
        });
      },
    );
  });
}

export function pythonEnv(env: Env, runtimeDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.PYTHONPATH = [runtimeDir, env.PYTHONPATH].filter(Boolean).join(':');
  return out;
}

interface CheckReport {
  ok: boolean;
  problems: string[];
  runtime: string;
  protocol: number;
  python: { version: string; executable: string };
  /** sys.path's directories (a runtime older than this field leaves it out: nothing is cached then). */
  paths?: string[];
}

export interface ProbeOptions {
  runtimeDir: string;
  env: Env;
  timeoutMs?: number;
  /**
   * Where passed checks are remembered (a JSON file): a check is run again only when the interpreter's file,
   * the runtime's files, the variables Python reads at start or one of its import directories changed.
   */
  cacheFile?: string;
}

/** Interpreters remembered per cache file; the oldest go first. */
const MAX_CACHED_INTERPRETERS = 16;
/** Runtime files the check's answer depends on (its version, protocol and plot backend). */
const RUNTIME_FILES = ['deepforge/__init__.py', 'deepforge/check.py', 'deepforge/plots/backend.py'];
/** Variables that change what the interpreter imports. */
const PYTHON_ENV_KEYS = ['PYTHONPATH', 'PYTHONHOME', 'PYTHONNOUSERSITE', 'PYTHONUSERBASE', 'PYTHONSAFEPATH'];

interface CachedCheck {
  info: Omit<PythonInfo, 'command'>;
  /** Each import directory with what it was when checked: `<mtime ms>:<inode>`. */
  paths: Record<string, string>;
  at: number;
}

/** The file a command runs (searched on the environment's PATH like execFile does), resolved; undefined if none. */
async function commandFile(command: string, env: Record<string, string>): Promise<string | undefined> {
  const candidates = command.includes('/')
    ? [isAbsolute(command) ? command : resolve(command)]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, command));
  for (const c of candidates) {
    try {
      const st = await stat(c);
      if (st.isFile() && (st.mode & 0o111) !== 0) return await realpath(c);
    } catch {
      // Not this one.
    }
  }
  return undefined;
}

async function signature(path: string): Promise<string> {
  try {
    const st = await stat(path);
    return `${st.mtimeMs}:${st.ino}:${st.size}`;
  } catch {
    return 'absent';
  }
}

/**
 * What a check's answer depends on, short of the import directories: the interpreter's file (resolved through
 * links), the runtime's files and the variables Python reads at start. Undefined when the command is not a file
 * (it cannot be cached then, and the check says what is wrong).
 */
async function checkKey(
  command: string,
  env: Record<string, string>,
  runtimeDir: string,
): Promise<string | undefined> {
  const file = await commandFile(command, env);
  if (!file) return undefined;
  const parts = [
    command,
    file,
    await signature(file),
    runtimeDir,
    ...(await Promise.all(RUNTIME_FILES.map((f) => signature(join(runtimeDir, f))))),
    ...PYTHON_ENV_KEYS.map((k) => `${k}=${env[k] ?? ''}`),
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

async function readCache(file: string): Promise<Record<string, CachedCheck>> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, CachedCheck>)
      : {};
  } catch {
    // None yet, or unreadable: checked again and written anew.
    return {};
  }
}

async function stillValid(entry: CachedCheck | undefined): Promise<boolean> {
  if (!entry || typeof entry.paths !== 'object' || typeof entry.info?.executable !== 'string') return false;
  for (const [dir, was] of Object.entries(entry.paths)) {
    try {
      const st = await stat(dir);
      if (`${st.mtimeMs}:${st.ino}` !== was) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function remember(file: string, key: string, info: PythonInfo, dirs: string[]): Promise<void> {
  const paths: Record<string, string> = {};
  for (const dir of dirs) {
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) return;
    paths[dir] = `${st.mtimeMs}:${st.ino}`;
  }
  const cache = await readCache(file);
  const { command: _command, ...rest } = info;
  cache[key] = { info: rest, paths, at: Date.now() };
  const kept = Object.entries(cache)
    .sort((a, b) => (b[1].at ?? 0) - (a[1].at ?? 0))
    .slice(0, MAX_CACHED_INTERPRETERS);
  await mkdir(dirname(file), { recursive: true });
  // Whole or not at all: written beside, then renamed over (another process may read it meanwhile).
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(Object.fromEntries(kept)) + '\n');
  await rename(tmp, file);
}

/** The remembered answer of a passed check of `command` (ProbeOptions.cacheFile), if it still holds. */
async function cachedCheck(
  command: string,
  key: string | undefined,
  opts: ProbeOptions,
): Promise<PythonInfo | undefined> {
  if (!opts.cacheFile || !key) return undefined;
  const entry = (await readCache(opts.cacheFile))[key];
  return (await stillValid(entry)) ? { command, ...entry!.info } : undefined;
}

/**
 * Asks an interpreter whether it can run operations (`-m deepforge.check`, which prints a JSON report) and what
 * it is. Resolves to the reason when it cannot.
 */
export async function probeInterpreter(
  command: string,
  opts: ProbeOptions,
): Promise<{ ok: true; info: PythonInfo } | { ok: false; reason: string }> {
  const env = pythonEnv(opts.env, opts.runtimeDir);
  const key = opts.cacheFile ? await checkKey(command, env, opts.runtimeDir) : undefined;
  const cached = await cachedCheck(command, key, opts);
  if (cached) return { ok: true, info: cached };
  // --no-torch: importing torch takes seconds, and operations that need it say so themselves.
  const check = await run(command, ['-m', 'deepforge.check', '--no-torch'], env, opts.timeoutMs ?? 60_000);
  if (check.error) {
    return {
      ok: false,
      reason: check.error.code === 'ENOENT' ? 'no such interpreter' : `cannot run it: ${check.error.message}`,
    };
  }
  let report: CheckReport | undefined;
  try {
    report = JSON.parse(check.stdout) as CheckReport;
  } catch {
    report = undefined;
  }
  if (check.code !== 0 || !report?.ok) {
    const said = report?.problems?.length
      ? report.problems.join('; ')
      : (check.stderr.trim() || check.stdout.trim()).split('\n').slice(-3).join(' ');
    return { ok: false, reason: said || `\`-m deepforge.check\` exited with ${check.code}` };
  }
  const info: PythonInfo = {
    command,
    executable: report.python.executable,
    version: report.python.version,
    runtimeVersion: report.runtime,
  };
  if (opts.cacheFile && key && Array.isArray(report.paths)) {
    // A cache that cannot be written costs the next run a check, nothing more.
    await remember(opts.cacheFile, key, info, report.paths).catch(() => undefined);
  }
  return { ok: true, info };
}

/**
 * The interpreter operations run with: the configured one (which must be usable), or the first usable
 * candidate. Throws an InterpreterError saying what was tried and why each was refused.
 */
export async function resolvePython(configured: string | undefined, opts: ProbeOptions): Promise<PythonInfo> {
  if (configured !== undefined) {
    const r = await probeInterpreter(configured, opts);
    if (r.ok) return r.info;
    throw new InterpreterError(
      `the configured Python interpreter ${configured} cannot run operations: ${r.reason}. ` +
        'Set another with `deepforge config python <path>` or DEEPFORGE_PYTHON.',
    );
  }
  const refusals: string[] = [];
  for (const candidate of PYTHON_CANDIDATES) {
    const r = await probeInterpreter(candidate, opts);
    if (r.ok) return r.info;
    refusals.push(`${candidate}: ${r.reason}`);
  }
  throw new InterpreterError(
    `no usable Python interpreter found (${refusals.join('; ')}). ` +
      'Install python3 with numpy, or set one with `deepforge config python <path>` or DEEPFORGE_PYTHON.',
  );
}

/**
 * What resolvePython would answer from the remembered checks alone, without starting an interpreter: undefined
 * when it would have to check one (none remembered, or no longer valid). `deepforge run` uses it to start the
 * interpreter's warm worker before the engine has loaded (docs/adr/0029); the engine resolves the interpreter
 * itself all the same.
 */
export async function cachedPython(
  configured: string | undefined,
  opts: ProbeOptions,
): Promise<PythonInfo | undefined> {
  const env = pythonEnv(opts.env, opts.runtimeDir);
  // The first candidate resolvePython would take: one whose check is not remembered stops the search, since its
  // check might pass.
  const command = configured ?? PYTHON_CANDIDATES[0];
  const key = opts.cacheFile ? await checkKey(command, env, opts.runtimeDir) : undefined;
  return cachedCheck(command, key, opts);
}
