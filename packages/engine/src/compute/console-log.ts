import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A job's console log file, written as lines arrive. Memory stays bounded however much a job prints: `write`
 * returns false while the file stream's buffer is full, and the caller pauses the process's pipes until
 * `onDrain` fires (the process then blocks on its own writes). Past `maxBytes`, one line says the output was
 * truncated and everything else is dropped, while the caller keeps draining the pipes. Without a file (a remote
 * worker's jobs: the server keeps their log) the lines are only counted against `maxBytes`.
 */
export class ConsoleLog {
  private stream: WriteStream | undefined;
  /** Opened with the first line (see `lazy`). */
  private lazyPath: string | undefined;
  private written = 0;
  private _truncated = false;
  private closed = false;
  private readonly drainWaiters: (() => void)[] = [];
  private error: Error | undefined;

  private constructor(
    readonly path: string | null,
    private readonly maxBytes: number,
    stream: WriteStream | undefined,
  ) {
    if (stream) this.attach(stream);
  }

  private attach(stream: WriteStream): void {
    this.stream = stream;
    stream.on('drain', () => {
      for (const w of this.drainWaiters.splice(0)) w();
    });
    // A full disk must not crash the engine: the job goes on, its log stops.
    stream.on('error', (err) => {
      this.error = err;
      for (const w of this.drainWaiters.splice(0)) w();
    });
  }

  /**
   * A log whose file (appended to) is opened with its first line, in a folder that exists: a job that prints
   * nothing makes no file (readers take a missing log for an empty one), and its start waits for no open.
   */
  static lazy(path: string, maxBytes: number): ConsoleLog {
    const log = new ConsoleLog(path, maxBytes, undefined);
    log.lazyPath = path;
    return log;
  }

  /** The file's stream, opened now if this is the first line of a lazy log. */
  private out(): WriteStream | undefined {
    if (this.lazyPath !== undefined) {
      this.attach(createWriteStream(this.lazyPath, { flags: 'a' }));
      this.lazyPath = undefined;
    }
    return this.stream;
  }

  /**
   * Opens (appends to) the log, making its folder only when it is missing: a job's folder exists as a rule. With
   * `path` null no file is kept.
   */
  static async open(path: string | null, maxBytes: number): Promise<ConsoleLog> {
    if (path === null) return new ConsoleLog(null, maxBytes, undefined);
    const file = await open(path, 'a').catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      await mkdir(dirname(path), { recursive: true });
      return open(path, 'a');
    });
    return new ConsoleLog(path, maxBytes, createWriteStream(path, { fd: file }));
  }

  get truncated(): boolean {
    return this._truncated;
  }

  get bytesWritten(): number {
    return this.written;
  }

  /** Appends one line. Returns false when the caller should wait for onDrain before writing more. */
  writeLine(text: string): boolean {
    if (this.closed || this.error) return true;
    if (this._truncated) return true;
    const data = text + '\n';
    const bytes = Buffer.byteLength(data);
    if (this.written + bytes > this.maxBytes) {
      this._truncated = true;
      const notice = `[deepforge] output truncated: this job printed more than ${this.maxBytes} bytes (logs.maxBytes); the rest is not kept\n`;
      this.written += Buffer.byteLength(notice);
      return this.out()?.write(notice) ?? true;
    }
    this.written += bytes;
    return this.out()?.write(data) ?? true;
  }

  onDrain(callback: () => void): void {
    if (this.closed || this.error || !this.stream?.writableNeedDrain) callback();
    else this.drainWaiters.push(callback);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stream = this.stream;
    if (stream) await new Promise<void>((resolve) => stream.end(() => resolve()));
    for (const w of this.drainWaiters.splice(0)) w();
  }
}
