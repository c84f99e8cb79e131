import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { environmentMaterial, type EnvironmentPlan } from '@deepforge/core';
import { LineSplitter } from '../compute/line-splitter.js';
import { EnvironmentError } from '../errors.js';
import type { Env } from '../settings.js';

/**
 * Operation environments on this machine (docs/adr/0017): one venv per environment key, on top of the
 * interpreter's system packages, with what the environment file lists installed by pip.
 *
 *   <dir>/envs/<key>/                 the venv; usable only once its marker is there
 *   <dir>/envs/<key>/deepforge-environment.json   the marker, written last (renamed into place)
 *   <dir>/locks/<key>.lock            held (flock) by the one process building that key
 *   <dir>/trash/                      environments being removed
 *
 * A venv is built where it stays, not built elsewhere and renamed: pip writes the venv's path into the scripts it
 * installs, so a moved venv has broken commands. What makes a build all-or-nothing is the marker: it is renamed
 * into place after pip succeeded, a venv without one is never used, and the next builder (holding the key's lock)
 * removes it first. Builds of one key in this process share one build; other processes wait for the lock, then
 * find the marker.
 */

export const ENVIRONMENT_MARKER = 'deepforge-environment.json';
const REQUIREMENTS_FILE = 'deepforge-requirements.txt';
const BUILD_LOG = 'deepforge-build.log';
/** Lines of a build kept for jobs that join it late, and for the error message. */
const KEPT_LINES = 2000;

export interface EnvironmentCacheOptions {
  dir: string;
  /** Environments beyond this many bytes (all together) are removed after a build, least recently used first. */
  maxBytes: number;
  /** Added to every `pip install` (the index, proxies): environments.pipArgs. */
  pipArgs: readonly string[];
  /** The environment the interpreter, venv and pip run with. */
  env: Env;
  /** An environment used more recently than this may be in use by another process: it is not removed. */
  recentUseMs?: number;
  now?: () => number;
}

/** What makes an interpreter the same interpreter: part of every environment key. */
export interface InterpreterIdentity {
  executable: string;
  realpath: string;
  version: string;
  cacheTag: string;
  machine: string;
}

export interface BuildProgress {
  n: number;
  total: number;
  desc: string;
  done?: boolean;
}

export interface EnsureEnvironmentRequest {
  /** The interpreter the venv is made from (the job's). */
  python: string;
  plan: EnvironmentPlan;
  signal?: AbortSignal;
  /** Each line of the build's log, as it comes (engine lines start with `[deepforge]`). */
  onLine(text: string): void;
  onProgress?(progress: BuildProgress): void;
}

export interface ReadyEnvironment {
  key: string;
  dir: string;
  /** The venv's interpreter: the job runs with it. */
  python: string;
  /** Whether this call built it (false: it was there, or another job or process built it). */
  built: boolean;
  /** Ends this job's use of it: until then it is never removed. */
  release(): void;
}

const IDENTITY_SCRIPT = `import json, os, platform, sys
print(json.dumps({"executable": sys.executable, "realpath": os.path.realpath(sys.executable),
  "version": platform.python_version(), "cacheTag": sys.implementation.cache_tag or "",
  "machine": platform.machine()}))`;

// Holds an exclusive flock on the file until its stdin closes: when the engine dies, the pipe closes, the helper
// exits and the kernel releases the lock, so a crashed builder never leaves a lock behind.
const LOCK_SCRIPT = `import fcntl, sys
f = open(sys.argv[1], "a")
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.stdout.write("waiting\\n"); sys.stdout.flush()
    fcntl.flock(f, fcntl.LOCK_EX)
sys.stdout.write("locked\\n"); sys.stdout.flush()
sys.stdin.read()`;

function abortError(): Error {
  const err = new Error('the job was stopped while its environment was being prepared');
  err.name = 'AbortError';
  return err;
}

interface Listener {
  onLine(text: string): void;
  onProgress?(progress: BuildProgress): void;
}

/** One build of one key in this process, shared by every job that needs it while it runs. */
class Build {
  readonly abort = new AbortController();
  readonly lines: string[] = [];
  private progress: BuildProgress | undefined;
  private readonly listeners = new Set<Listener>();
  done!: Promise<boolean>;

  line(text: string): void {
    if (this.lines.length >= KEPT_LINES) this.lines.shift();
    this.lines.push(text);
    for (const l of this.listeners) l.onLine(text);
  }

  step(progress: BuildProgress): void {
    this.progress = progress;
    for (const l of this.listeners) l.onProgress?.(progress);
  }

  /** Waits for the build on behalf of one job; the build stops when every job waiting for it has stopped. */
  join(listener: Listener, signal: AbortSignal | undefined): Promise<boolean> {
    for (const text of this.lines) listener.onLine(text);
    if (this.progress) listener.onProgress?.(this.progress);
    this.listeners.add(listener);
    return new Promise<boolean>((resolve, reject) => {
      const leave = (): void => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0) this.abort.abort();
        reject(abortError());
      };
      if (signal?.aborted) return leave();
      signal?.addEventListener('abort', leave, { once: true });
      this.done.then(
        (built) => {
          signal?.removeEventListener('abort', leave);
          this.listeners.delete(listener);
          resolve(built);
        },
        (err: unknown) => {
          signal?.removeEventListener('abort', leave);
          this.listeners.delete(listener);
          reject(err as Error);
        },
      );
    });
  }
}

export class EnvironmentCache {
  private readonly interpreters = new Map<string, Promise<InterpreterIdentity>>();
  private readonly builds = new Map<string, Build>();
  private readonly inUse = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: EnvironmentCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  get dir(): string {
    return this.options.dir;
  }

  /** The interpreter's identity, asked once per command. */
  interpreter(python: string): Promise<InterpreterIdentity> {
    let identity = this.interpreters.get(python);
    if (!identity) {
      identity = this.run(python, ['-I', '-c', IDENTITY_SCRIPT], undefined, () => undefined).then((r) => {
        if (r.code !== 0) {
          throw new EnvironmentError(
            `cannot ask ${python} what it is: ${r.tail.slice(-3).join(' ') || `exit ${r.code}`}`,
          );
        }
        return JSON.parse(r.stdout) as InterpreterIdentity;
      });
      identity.catch(() => this.interpreters.delete(python));
      this.interpreters.set(python, identity);
    }
    return identity;
  }

  /** An environment's key: what it installs and the interpreter it is made of (so never the same for two). */
  static keyOf(plan: EnvironmentPlan, identity: InterpreterIdentity): string {
    const material = JSON.stringify({
      plan: environmentMaterial(plan),
      python: [identity.realpath, identity.version, identity.cacheTag, identity.machine],
    });
    return createHash('sha256').update(material).digest('hex').slice(0, 32);
  }

  /**
   * The environment of `plan`, built first when this machine does not have it yet; rejects with an
   * EnvironmentError naming pip's complaint when it cannot be built, with an AbortError when `signal` stops it.
   */
  async ensure(request: EnsureEnvironmentRequest): Promise<ReadyEnvironment> {
    const identity = await this.interpreter(request.python);
    const key = EnvironmentCache.keyOf(request.plan, identity);
    const dir = join(this.options.dir, 'envs', key);
    const packages = request.plan.requirements.map((r) => r.pip).join(', ');
    let built = false;
    if (await this.isReady(dir)) {
      request.onLine(`[deepforge] environment ${key} (${packages}): ready, built before on this machine`);
    } else {
      let build = this.builds.get(key);
      if (build)
        request.onLine(`[deepforge] environment ${key}: being built for another job; waiting for it`);
      else {
        const b = new Build();
        build = b;
        b.done = this.build(b, key, dir, request.python, request.plan);
        this.builds.set(key, b);
        const forget = (): void => {
          if (this.builds.get(key) === b) this.builds.delete(key);
        };
        b.done.then(forget, forget);
      }
      built = await build.join(request, request.signal);
    }
    this.inUse.set(key, (this.inUse.get(key) ?? 0) + 1);
    await this.touch(dir);
    let released = false;
    return {
      key,
      dir,
      python: join(dir, 'bin', 'python'),
      built,
      release: () => {
        if (released) return;
        released = true;
        const n = (this.inUse.get(key) ?? 1) - 1;
        if (n > 0) this.inUse.set(key, n);
        else this.inUse.delete(key);
      },
    };
  }

  private async isReady(dir: string): Promise<boolean> {
    return stat(join(dir, ENVIRONMENT_MARKER)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** Marks the environment used now (its marker's mtime): eviction removes the least recently used first. */
  private async touch(dir: string): Promise<void> {
    const t = new Date(this.now());
    await utimes(join(dir, ENVIRONMENT_MARKER), t, t).catch(() => undefined);
  }

  private async build(
    b: Build,
    key: string,
    dir: string,
    python: string,
    plan: EnvironmentPlan,
  ): Promise<boolean> {
    const signal = b.abort.signal;
    const total = 2;
    await mkdir(join(this.options.dir, 'envs'), { recursive: true });
    await mkdir(join(this.options.dir, 'locks'), { recursive: true });
    const unlock = await this.lock(python, join(this.options.dir, 'locks', `${key}.lock`), signal, () =>
      b.line(`[deepforge] environment ${key}: another process is building it; waiting for it`),
    );
    try {
      if (await this.isReady(dir)) {
        b.line(`[deepforge] environment ${key}: built by another process meanwhile`);
        return false;
      }
      const started = this.now();
      const packages = plan.requirements.map((r) => r.pip);
      b.line(
        `[deepforge] preparing environment ${key}: a venv of ${python} with its system packages, and ${packages.length} package${packages.length === 1 ? '' : 's'} from pip (${packages.join(', ')})`,
      );
      for (const note of plan.notes) b.line(`[deepforge] line ${note.line}: ${note.message}`);
      // A venv without its marker is what a crashed build left: it is never used, and goes now.
      await rm(dir, { recursive: true, force: true });
      try {
        b.step({ n: 0, total, desc: 'preparing environment' });
        // pip comes from the system packages too: no ensurepip, no copy of pip in every environment.
        const venv = await this.run(
          python,
          ['-m', 'venv', '--system-site-packages', '--without-pip', dir],
          signal,
          (l) => b.line(l),
        );
        if (venv.code !== 0) {
          throw new EnvironmentError(
            `could not create a venv with ${python} -m venv (exit ${venv.code}): ${lastLines(venv.tail)}`,
          );
        }
        await writeFile(join(dir, REQUIREMENTS_FILE), packages.join('\n') + '\n');
        b.step({ n: 1, total, desc: 'preparing environment' });
        const args = [
          '-m',
          'pip',
          'install',
          '--disable-pip-version-check',
          '--no-input',
          '--progress-bar',
          'off',
          '--no-warn-script-location',
          ...this.options.pipArgs,
          // Each requirement one argument, never a requirements file: pip reads options, `-r` and
          // ${VARIABLES} inside those. The file beside is a record of what was installed.
          ...packages,
        ];
        b.line(`[deepforge] pip install ${[...this.options.pipArgs, ...packages].join(' ')}`);
        const pip = await this.run(join(dir, 'bin', 'python'), args, signal, (l) => b.line(`[pip] ${l}`));
        if (pip.code !== 0) {
          const noPip = pip.tail.some((l) => /No module named pip/.test(l));
          throw new EnvironmentError(
            noPip
              ? `pip is not installed for ${python} (on Debian: apt-get install python3-pip)`
              : `pip could not install the environment (exit ${pip.code}): ${pipErrors(pip.tail)}`,
          );
        }
        await writeFile(join(dir, BUILD_LOG), b.lines.join('\n') + '\n');
        const marker = {
          key,
          python,
          interpreter: await this.interpreter(python),
          requirements: packages,
          builtAt: new Date(this.now()).toISOString(),
          buildMs: this.now() - started,
        };
        const tmp = join(dir, `${ENVIRONMENT_MARKER}.tmp-${randomBytes(4).toString('hex')}`);
        await writeFile(tmp, JSON.stringify(marker, null, 2) + '\n');
        await rename(tmp, join(dir, ENVIRONMENT_MARKER));
      } catch (err) {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        if (signal.aborted) throw abortError();
        throw err;
      }
      b.step({ n: total, total, desc: 'preparing environment', done: true });
      b.line(`[deepforge] environment ${key}: built in ${((this.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      unlock();
    }
    await this.evict(key).catch((err: unknown) =>
      b.line(`[deepforge] could not remove old environments: ${(err as Error).message}`),
    );
    return true;
  }

  /** An exclusive lock across processes on this machine; resolves with its release. */
  private lock(
    python: string,
    file: string,
    signal: AbortSignal,
    onWaiting: () => void,
  ): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortError());
      const child = spawn(python, ['-I', '-c', LOCK_SCRIPT, file], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: this.processEnv(),
      });
      let locked = false;
      let stderr = '';
      const release = (): void => {
        child.stdin.end();
        child.kill();
      };
      const onAbort = (): void => {
        child.kill('SIGKILL');
        reject(abortError());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const lines = new LineSplitter((l) => {
        if (l.transient) return;
        if (l.text === 'waiting') onWaiting();
        else if (l.text === 'locked' && !locked) {
          locked = true;
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        }
      });
      child.stdout.on('data', (c: Buffer) => lines.push(c));
      child.stderr.on('data', (c: Buffer) => {
        if (stderr.length < 4096) stderr += c.toString();
      });
      child.stdin.on('error', () => undefined);
      child.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(new EnvironmentError(`cannot start ${python} to lock ${file}: ${err.message}`));
      });
      child.once('exit', (code) => {
        signal.removeEventListener('abort', onAbort);
        if (!locked) {
          reject(
            new EnvironmentError(
              `could not lock ${file} (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`,
            ),
          );
        }
      });
    });
  }

  /** The environment venv and pip run in: the engine's, without what would mix another Python's packages in. */
  private processEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.options.env)) if (v !== undefined) env[k] = v;
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;
    delete env.VIRTUAL_ENV;
    env.PYTHONNOUSERSITE = '1';
    env.PYTHONIOENCODING = 'utf-8:backslashreplace';
    return env;
  }

  /** Runs a command in a process group of its own (stopping it stops pip's children too), line by line. */
  private run(
    command: string,
    args: string[],
    signal: AbortSignal | undefined,
    onLine: (text: string) => void,
  ): Promise<{ code: number | null; stdout: string; tail: string[] }> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const child = spawn(command, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.processEnv(),
        detached: true,
      });
      const tail: string[] = [];
      let stdout = '';
      const take = (l: { text: string; transient: boolean }): void => {
        if (l.transient) return;
        if (tail.length >= 200) tail.shift();
        tail.push(l.text);
        onLine(l.text);
      };
      const out = new LineSplitter(take);
      const err = new LineSplitter(take);
      child.stdout.on('data', (c: Buffer) => {
        if (stdout.length < 64 * 1024) stdout += c.toString();
        out.push(c);
      });
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const onAbort = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.once('error', (e) => {
        signal?.removeEventListener('abort', onAbort);
        reject(new EnvironmentError(`cannot start ${command}: ${e.message}`));
      });
      child.once('close', (code) => {
        signal?.removeEventListener('abort', onAbort);
        out.end();
        err.end();
        if (signal?.aborted) reject(abortError());
        else resolve({ code, stdout, tail });
      });
    });
  }

  /**
   * Removes the environments used least recently until they fit in maxBytes: never `keep`, one a job of this
   * process runs in, or one used within recentUseMs (a job of another process may run in it).
   */
  private async evict(keep: string): Promise<void> {
    const root = join(this.options.dir, 'envs');
    const recent = this.options.recentUseMs ?? 3600_000;
    const envs: { key: string; dir: string; bytes: number; usedAt: number }[] = [];
    for (const key of await readdir(root)) {
      const dir = join(root, key);
      const marker = await stat(join(dir, ENVIRONMENT_MARKER)).catch(() => null);
      // One without a marker is being built (by another process: this one's are in `builds`) or was left by a
      // crash: its next builder removes it.
      if (!marker) continue;
      envs.push({ key, dir, bytes: await treeBytes(dir), usedAt: marker.mtimeMs });
    }
    let total = envs.reduce((s, e) => s + e.bytes, 0);
    if (total <= this.options.maxBytes) return;
    envs.sort((a, b) => a.usedAt - b.usedAt);
    const trash = join(this.options.dir, 'trash');
    await mkdir(trash, { recursive: true });
    for (const e of envs) {
      if (total <= this.options.maxBytes) break;
      if (e.key === keep || this.inUse.has(e.key) || this.now() - e.usedAt < recent) continue;
      // Renamed away first: no job can find half of it while it is removed.
      const gone = join(trash, `${e.key}-${randomBytes(4).toString('hex')}`);
      await rename(e.dir, gone);
      await rm(gone, { recursive: true, force: true });
      total -= e.bytes;
    }
  }
}

async function treeBytes(path: string): Promise<number> {
  const s = await lstat(path).catch(() => null);
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path).catch(() => [])) total += await treeBytes(join(path, name));
  return total;
}

function lastLines(lines: readonly string[]): string {
  return lines.slice(-3).join(' ').trim() || 'no output';
}

/** pip's own error lines (`ERROR: …`), or its last lines when it printed none. */
function pipErrors(lines: readonly string[]): string {
  const errors = lines.filter((l) => /^ERROR:/.test(l)).map((l) => l.replace(/^ERROR:\s*/, ''));
  return errors.length > 0 ? errors.slice(-5).join('; ') : lastLines(lines);
}
