/**
 * Asks for the newest of a stream of values, one request at a time: a value given while a request is in flight
 * waits, and only the newest of those waiting is asked when the request returns. So a burst of edits costs two
 * requests, an edit on its own costs no waiting, and answers arrive in the order asked, each for a newer value
 * than the one before: an older answer can never replace a newer one.
 */
export class CoalescingRequests<V, R> {
  private busy = false;
  private waiting: { value: V } | null = null;
  private closed = false;
  /** The key of the value last given to requestIfNew. */
  private lastKey: string | null = null;

  constructor(
    private readonly ask: (value: V) => Promise<R>,
    private readonly onAnswer: (
      value: V,
      answer: { ok: true; result: R } | { ok: false; error: unknown },
    ) => void,
  ) {}

  /** The value to ask about now (replaces one still waiting). */
  request(value: V): void {
    if (this.closed) return;
    this.waiting = { value };
    if (!this.busy) void this.pump();
  }

  /**
   * Asks about `value` unless the value last given here had the same `key` (a layer moved: the same graph);
   * false when it did. The key belongs to this instance: a new one (after a close) asks again.
   */
  requestIfNew(key: string, value: V): boolean {
    if (this.closed || this.lastKey === key) return false;
    this.lastKey = key;
    this.request(value);
    return true;
  }

  /** Whether a value is waiting behind the request in flight. */
  get pending(): boolean {
    return this.waiting !== null;
  }

  /** No more answers are delivered, nothing more is asked. */
  close(): void {
    this.closed = true;
    this.waiting = null;
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (!this.closed && this.waiting) {
        const { value } = this.waiting;
        this.waiting = null;
        let answer: { ok: true; result: R } | { ok: false; error: unknown };
        try {
          answer = { ok: true, result: await this.ask(value) };
        } catch (error) {
          answer = { ok: false, error };
        }
        if (!this.closed) this.onAnswer(value, answer);
      }
    } finally {
      this.busy = false;
    }
  }
}
