import WebSocket from 'ws';

/** A WebSocket client that keeps every message, for tests to wait on. */
export class TestSocket {
  readonly messages: unknown[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly ws: WebSocket,
    frames: boolean,
  ) {
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as unknown;
      if (frames && Array.isArray(parsed)) this.messages.push(...(parsed as unknown[]));
      else this.messages.push(parsed);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /**
   * `frames`: the socket speaks the worker protocol, whose frames hold one message or an array of them (version 3):
   * an array's messages are kept one by one.
   */
  static async open(
    url: string,
    headers: Record<string, string> = {},
    options: { frames?: boolean } = {},
  ): Promise<TestSocket> {
    const ws = new WebSocket(url, { headers });
    const socket = new TestSocket(ws, options.frames ?? false);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return socket;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first message (from `from` on) matching, waiting for it. */
  async next<T = Record<string, unknown>>(
    match: (m: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
    from = 0,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find((m) => match(m as Record<string, unknown>));
      if (found) return found as T;
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) before the message came`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no such message in ${timeoutMs} ms; got ${JSON.stringify(this.messages).slice(0, 2000)}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async whenClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the socket stayed open');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }
}
