import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { LineSplitter } from './line-splitter.js';
import { signalGroup } from './process-tree.js';

/** A job's process as the local compute adapter watches it, however it was started. */
export interface JobProcess {
  pid: number;
  /** The process group to kill the job's tree with; absent: `pid`; 0: none on this machine (see `kill`). */
  pgid?: number;
  stdout: Readable;
  stderr: Readable;
  events: Readable;
  /**
   * Resolves once the process has exited (not waiting for its streams); `endedBy` when the system running it
   * killed it (a batch system's state and reason).
   */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; endedBy?: string }>;
  /**
   * Stops the job where it runs (a batch system's cancel); absent: signals go to the process group `pid` here, and
   * whatever is left in the group is killed once the process exits.
   */
  kill?(signal: 'SIGTERM' | 'SIGKILL'): void;
  /** Resolves when the job leaves a batch queue and runs (executions.timeout counts from then); absent: at once. */
  running?: Promise<void>;
}

/** A started interpreter (`child_process.spawn`) as a JobProcess. */
export function childJobProcess(child: ChildProcess, eventsFd: number): JobProcess {
  return {
    pid: child.pid!,
    stdout: child.stdout!,
    stderr: child.stderr!,
    events: child.stdio[eventsFd] as Readable,
    exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
}

export interface WarmWorkerOptions {
  python: string;
  /** How long a job may take to be forked and connected before the worker is given up (default 30 s). */
  forkTimeoutMs?: number;
  /** The environment the worker starts with: the jobs' environment without the per-job variables. */
  env: Record<string, string>;
  cwd: string;
  logger: WarmWorkerLogger;
}

/** What a warm worker reports to (the engine's logger; before the engine opens, see run-prestart.ts). */
export interface WarmWorkerLogger {
  warn(details: object, message: string): void;
  debug(details: object, message: string): void;
}

/** What a started warm worker must have been started with to be taken. */
export interface WarmWorkerWanted {
  env: Record<string, string>;
  cwd: string;
  forkTimeoutMs: number | undefined;
  /** Where it reports from now on (what it reported before is passed on). */
  logger: WarmWorkerLogger;
}

/** A warm worker started before the engine that may take it was opened (run-prestart.ts, docs/adr/0029). */
export interface PrestartedWarmWorker {
  /**
   * The worker of interpreter `python` when it was started with exactly `wanted`'s environment, folder and
   * timeout: then the taker's to close. Otherwise (or when taken already) undefined, and it is stopped: a job never
   * runs in an interpreter or environment other than the engine's own.
   */
  take(python: string, wanted: WarmWorkerWanted): WarmWorker | undefined;
  /** Stops it unless taken. */
  discard(): void;
}

export interface ForkRequest {
  spec: string;
  /** The spec file's content: the child reads no file (the engine may still be writing it). */
  specText?: string;
  /** The job's working directory: the child makes it when it is missing. */
  cwd: string;
  env: Record<string, string>;
}

type Reply =
  | { type: 'ready'; pid: number; python: string }
  | { type: 'started'; id: string; pid: number }
  | { type: 'exit'; pid: number; code: number | null; signal: number | null }
  | { type: 'failed'; id: string; message: string }
  | { type: 'preloaded'; module: string; ok: boolean; ms: number; error: string | null }
  | { type: 'spare'; token: string; pid: number | null; message?: string };

const TOKEN_BYTES = 16;
const HEADER_BYTES = TOKEN_BYTES * 2 + 2; // hex token, stream letter, newline
/** How long a job that exited may still take to connect the streams it opened before exiting. */
const LATE_CONNECTION_MS = 500;
/**
 * A worker busy for longer than this before forking a job (an import that hangs, a matplotlib font cache built
 * on a slow machine) is retired: the job starts as a new interpreter and the next one gets a new worker.
 */
const FORK_TIMEOUT_MS = 30_000;
/** Spares that may die before getting a job before the worker makes no more (it then forks each job). */
const MAX_SPARE_FAILURES = 3;

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

interface PendingFork {
  id: string;
  token: string;
  /** A spare child waiting for a job: its streams and exit are not a job's until it is given one. */
  spare?: boolean;
  pid?: number;
  streams: Partial<Record<'o' | 'e' | 'v', Readable>>;
  /** A spare's event connection, which its job is written to (a job's child only writes to it). */
  eventSocket?: Socket;
  /** The job given to a spare whose event connection is not in yet: written to it as it comes. */
  assignment?: string;
  exited?: { code: number | null; signal: NodeJS.Signals | null };
  resolve(process: JobProcess): void;
  reject(err: Error): void;
  exitResolve?: (value: { code: number | null; signal: NodeJS.Signals | null }) => void;
  settled: boolean;
}

/**
 * The engine's side of `python -m deepforge.zygote` (python/deepforge/zygote.py, docs/adr/0006): an interpreter
 * that has imported the runtime and the heavy libraries jobs use, forking one child per job. Each child connects
 * its stdout, stderr and event channel to a Unix socket of ours (abstract namespace) and is otherwise the
 * process `python -m deepforge.harness job.json` would have been: its own process group, its own pid.
 */
export class WarmWorker {
  readonly ready: Promise<boolean>;
  private readonly child: ChildProcess;
  private readonly server: Server;
  /** The socket the children connect to, in a directory only we can enter (a path: Node pads abstract names). */
  private readonly socketDir = mkdtempSync(join(tmpdir(), 'deepforge-warm-'));
  private serverClosed = false;
  private readonly address = join(this.socketDir, 'jobs.sock');
  private readonly byToken = new Map<string, PendingFork>();
  private readonly byId = new Map<string, PendingFork>();
  private readonly byPid = new Map<number, PendingFork>();
  private nextId = 0;
  private alive = true;
  /** Stopped by close() (the engine closing, or retired): its exit is no news. */
  private closing = false;
  /** Takes no new jobs; closes once its running jobs have ended. */
  private retired = false;
  /** A child forked ahead of the next job, its streams connecting (docs/adr/0006: spares). */
  private spare: PendingFork | undefined;
  /** Spares that died before they got a job: after a few, no more are made. */
  private spareFailures = 0;

  constructor(private readonly options: WarmWorkerOptions) {
    this.server = createServer((socket) => this.accept(socket));
    const listening = new Promise<boolean>((resolve) => {
      this.server.once('error', (err) => {
        options.logger.warn({ err }, 'warm worker: cannot listen on a Unix socket');
        resolve(false);
      });
      this.server.listen(this.address, () => resolve(true));
    });
    this.child = spawn(options.python, ['-m', 'deepforge.zygote'], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    this.child.stdin!.on('error', () => undefined);
    const log = (stream: string) =>
      new LineSplitter((l) => {
        if (!l.transient) options.logger.debug({ stream, text: l.text }, 'warm worker output');
      });
    const out = log('stdout');
    const err = log('stderr');
    const stderrTail: string[] = [];
    this.child.stdout!.on('data', (c: Buffer) => out.push(c));
    this.child.stderr!.on('data', (c: Buffer) => {
      err.push(c);
      stderrTail.push(c.toString('utf8'));
      if (stderrTail.length > 20) stderrTail.shift();
    });
    let readyResolve!: (ok: boolean) => void;
    const gotReady = new Promise<boolean>((resolve) => (readyResolve = resolve));
    const replies = new LineSplitter((l) => {
      if (l.transient || l.text.trim() === '') return;
      let reply: Reply;
      try {
        reply = JSON.parse(l.text) as Reply;
      } catch {
        options.logger.warn({ line: l.text.slice(0, 200) }, 'warm worker: unreadable reply');
        return;
      }
      if (reply.type === 'ready') readyResolve(true);
      else this.onReply(reply);
    });
    (this.child.stdio[3] as Readable).on('data', (c: Buffer) => replies.push(c));
    // Not started at all (no such interpreter): no 'exit' follows.
    this.child.on('error', (error) => {
      if (this.child.pid !== undefined) return;
      this.alive = false;
      options.logger.warn({ err: error }, 'warm worker: cannot start the interpreter');
      readyResolve(false);
      this.closeServer();
    });
    this.child.once('exit', (code, signal) => {
      this.alive = false;
      readyResolve(false);
      if ((code !== 0 || signal) && !this.closing)
        options.logger.warn(
          { code, signal, stderr: stderrTail.join('').slice(-2000) },
          'warm worker exited; jobs start as new interpreters until another one is up',
        );
      this.closeServer();
      // Its children die with it (PR_SET_PDEATHSIG): nobody will report their exit any more.
      for (const pending of new Set([
        ...this.byId.values(),
        ...this.byPid.values(),
        ...this.byToken.values(),
      ])) {
        this.settleExit(pending, { code: null, signal: 'SIGKILL' });
        if (!pending.settled) pending.reject(new Error('the warm worker exited before the job started'));
      }
      this.byId.clear();
    });
    this.ready = Promise.all([listening, gotReady]).then(([a, b]) => {
      if (!(a && b)) this.close();
      return a && b && this.alive;
    });
  }

  get usable(): boolean {
    return this.alive && !this.retired;
  }

  /**
   * Forks a job (or gives it the spare child forked ahead, when its streams are connected); resolves once its
   * process exists and its streams are connected (or it already ended).
   */
  fork(request: ForkRequest): Promise<JobProcess> {
    if (!this.usable) return Promise.reject(new Error('the warm worker is not taking jobs'));
    const id = String(++this.nextId);
    const spare = this.takeSpare();
    const timeoutMs = this.options.forkTimeoutMs ?? FORK_TIMEOUT_MS;
    const started = new Promise<JobProcess>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (pending.settled) return;
        // Never run twice: a child forked after all is killed as soon as it is reported (see 'started').
        this.byId.delete(id);
        if (pending.pid !== undefined) {
          this.byPid.delete(pending.pid);
          signalGroup(pending.pid, 'SIGKILL');
        }
        pending.reject(new Error(`the warm worker did not start the job within ${timeoutMs / 1000} s`));
        this.options.logger.warn({ timeoutMs }, 'warm worker too slow to fork a job; retiring it');
        this.retire();
      }, timeoutMs);
      timer.unref();
      const pending: PendingFork = spare ?? {
        id,
        token: randomBytes(TOKEN_BYTES).toString('hex'),
        streams: {},
        settled: false,
        resolve: () => undefined,
        reject: () => undefined,
      };
      pending.id = id;
      pending.spare = false;
      pending.resolve = (p) => {
        clearTimeout(timer);
        pending.settled = true;
        resolve(p);
      };
      pending.reject = (e) => {
        clearTimeout(timer);
        pending.settled = true;
        this.byToken.delete(pending.token);
        reject(e);
      };
      this.byToken.set(pending.token, pending);
      const spec = {
        spec: request.spec,
        ...(request.specText !== undefined ? { specText: request.specText } : {}),
      };
      const job = { ...spec, cwd: request.cwd, env: request.env };
      if (spare) {
        // Straight to the spare, not through the worker: one process less to wake on the way. The worker
        // hears of it after, to import what the job uses for the next ones.
        this.assign(spare, JSON.stringify(job) + '\n');
        this.child.stdin!.write(JSON.stringify({ type: 'assigned', ...spec }) + '\n');
        this.maybeResolve(pending);
      } else {
        this.byId.set(id, pending);
        this.child.stdin!.write(
          JSON.stringify({ id, ...job, socket: this.address, token: pending.token }) + '\n',
        );
      }
    });
    // The next job's child is forked now, after this one (and the libraries it makes the worker import): one job
    // alone (`deepforge run` of one operation) makes none.
    if (this.nextId > 1) this.requestSpare();
    return started;
  }

  /**
   * The spare, unless it died: given a job even while it is still being forked or connecting its streams (the
   * job is written to its event connection as that comes, and a fork already under way is ready sooner than a
   * new one; the job's start resolves once the spare's pid and its three streams are in, as any fork's).
   */
  private takeSpare(): PendingFork | undefined {
    const spare = this.spare;
    if (!spare || spare.exited) return undefined;
    this.spare = undefined;
    return spare;
  }

  /** Writes a spare's job to its event connection, now or as soon as that is connected. */
  private assign(spare: PendingFork, line: string): void {
    if (spare.eventSocket) spare.eventSocket.write(line);
    else spare.assignment = line;
  }

  private requestSpare(): void {
    if (!this.usable || this.spare || this.spareFailures >= MAX_SPARE_FAILURES) return;
    const token = randomBytes(TOKEN_BYTES).toString('hex');
    const spare: PendingFork = {
      id: '',
      token,
      spare: true,
      streams: {},
      settled: false,
      resolve: () => undefined,
      reject: () => undefined,
    };
    this.spare = spare;
    this.byToken.set(token, spare);
    this.child.stdin!.write(JSON.stringify({ type: 'spare', socket: this.address, token }) + '\n');
  }

  /** A spare that will never get a job (it died, or the worker retires): forgotten, its streams closed. */
  private dropSpare(spare: PendingFork, failed: boolean): void {
    if (this.spare === spare) this.spare = undefined;
    this.byToken.delete(spare.token);
    if (spare.pid !== undefined) this.byPid.delete(spare.pid);
    for (const stream of Object.values(spare.streams)) stream?.destroy();
    if (failed) this.spareFailures++;
  }

  /**
   * Takes no new jobs: those waiting to be forked are refused (they start as new interpreters), and the worker
   * closes once the jobs it runs have ended.
   */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    const spare = this.spare;
    if (spare) {
      if (spare.pid !== undefined) signalGroup(spare.pid, 'SIGKILL');
      this.dropSpare(spare, false);
    }
    for (const pending of [...this.byId.values()]) {
      this.byId.delete(pending.id);
      pending.reject(new Error('the warm worker was retired'));
    }
    if (this.byPid.size === 0) this.close();
  }

  /** Stops the worker (its running children die with it). */
  close(): void {
    this.alive = false;
    this.closing = true;
    this.child.stdin!.end();
    // It keeps no state; it may be busy in an import and not reading its stdin.
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    timer.unref();
    this.child.once('exit', () => clearTimeout(timer));
    this.closeServer();
  }

  private closeServer(): void {
    if (this.serverClosed) return;
    this.serverClosed = true;
    this.server.close();
    // Closing the server removes its socket (libuv unlinks it), so the folder is empty unless something else was
    // left in it: removed then as a tree.
    try {
      rmdirSync(this.socketDir);
    } catch {
      rmSync(this.socketDir, { recursive: true, force: true });
    }
  }

  private onReply(reply: Exclude<Reply, { type: 'ready' }>): void {
    switch (reply.type) {
      case 'started': {
        const pending = this.byId.get(reply.id);
        if (!pending) {
          // A job given up on (too slow, or the worker retired) was forked after all: it must not run.
          signalGroup(reply.pid, 'SIGKILL');
          return;
        }
        this.byId.delete(reply.id);
        pending.pid = reply.pid;
        this.byPid.set(reply.pid, pending);
        this.maybeResolve(pending);
        return;
      }
      case 'failed': {
        const pending = this.byId.get(reply.id);
        if (!pending) return;
        this.byId.delete(reply.id);
        pending.reject(new Error(reply.message));
        return;
      }
      case 'exit': {
        const pending = this.byPid.get(reply.pid);
        if (!pending) return;
        if (pending.spare) {
          this.dropSpare(pending, true);
          if (this.retired && this.byPid.size === 0) this.close();
          return;
        }
        this.byPid.delete(reply.pid);
        const signal = reply.signal === null ? null : (SIGNAL_NAMES.get(reply.signal) ?? 'SIGKILL');
        this.settleExit(pending, { code: reply.code, signal });
        if (!pending.settled) {
          // Exited before connecting everything: give connections already on their way a moment.
          setTimeout(() => this.resolveWith(pending), LATE_CONNECTION_MS).unref();
        }
        if (this.retired && this.byPid.size === 0) this.close();
        return;
      }
      case 'spare': {
        const spare = this.byToken.get(reply.token);
        if (!spare || spare.settled) {
          // Dropped meanwhile (the worker retired): it must not wait forever.
          if (reply.pid !== null) signalGroup(reply.pid, 'SIGKILL');
          return;
        }
        if (reply.pid === null) {
          this.options.logger.debug({ message: reply.message }, 'warm worker could not fork a spare');
          if (spare.spare) this.dropSpare(spare, true);
          else {
            // Already given a job: that job starts another way (LocalCompute starts an interpreter).
            this.spareFailures++;
            this.byId.delete(spare.id);
            spare.reject(new Error(`the warm worker could not fork: ${reply.message ?? 'unknown error'}`));
          }
          return;
        }
        spare.pid = reply.pid;
        this.byPid.set(reply.pid, spare);
        this.maybeResolve(spare);
        return;
      }
      case 'preloaded':
        this.options.logger.debug(
          { module: reply.module, ok: reply.ok, ms: reply.ms, error: reply.error },
          'warm worker preloaded a library',
        );
        return;
    }
  }

  private settleExit(
    pending: PendingFork,
    value: { code: number | null; signal: NodeJS.Signals | null },
  ): void {
    if (pending.exited) return;
    pending.exited = value;
    pending.exitResolve?.(value);
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), 10_000);
    let chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < HEADER_BYTES) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      chunks = [];
      const token = all.subarray(0, TOKEN_BYTES * 2).toString('latin1');
      const kind = all.subarray(TOKEN_BYTES * 2, TOKEN_BYTES * 2 + 1).toString('latin1');
      const pending = this.byToken.get(token);
      if (!pending || (kind !== 'o' && kind !== 'e' && kind !== 'v') || pending.streams[kind]) {
        socket.destroy();
        return;
      }
      // Through a PassThrough: it keeps what arrives (the end included) until the job's reader takes it, which
      // may be a tick after a job that printed nothing has already closed its socket.
      const stream = new PassThrough();
      const rest = all.subarray(HEADER_BYTES);
      if (rest.length > 0) stream.write(rest);
      socket.pipe(stream);
      socket.once('close', () => {
        if (!stream.writableEnded) stream.end();
      });
      stream.once('close', () => socket.destroy());
      pending.streams[kind] = stream;
      if (kind === 'v') {
        pending.eventSocket = socket;
        if (pending.assignment !== undefined && !pending.settled) socket.write(pending.assignment);
        pending.assignment = undefined;
      }
      this.maybeResolve(pending);
    };
    socket.on('data', onData);
  }

  private maybeResolve(pending: PendingFork): void {
    if (pending.settled || pending.spare || pending.pid === undefined) return;
    const { o, e, v } = pending.streams;
    if (o && e && v) this.resolveWith(pending);
  }

  private resolveWith(pending: PendingFork): void {
    if (pending.settled || pending.spare || pending.pid === undefined) return;
    this.byToken.delete(pending.token);
    const stream = (s: Readable | undefined): Readable => {
      if (s) return s;
      const empty = new PassThrough();
      empty.end();
      return empty;
    };
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (pending.exited) resolve(pending.exited);
      else pending.exitResolve = resolve;
    });
    pending.resolve({
      pid: pending.pid,
      stdout: stream(pending.streams.o),
      stderr: stream(pending.streams.e),
      events: stream(pending.streams.v),
      exit,
    });
  }
}
