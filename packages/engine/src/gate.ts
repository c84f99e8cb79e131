/** At most `size` holders at once; the others wait, and get their turn in the order they came. */
export class Gate {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = size;
  }

  /**
   * Waits for a place; the function returned gives it back (once). Undefined when `signal` aborted first: the
   * caller got no place and has none to give back.
   */
  async take(signal?: AbortSignal): Promise<(() => void) | undefined> {
    if (signal?.aborted) return undefined;
    if (this.free > 0) this.free--;
    else {
      const got = await new Promise<boolean>((resolve) => {
        const turn = (): void => {
          signal?.removeEventListener('abort', gaveUp);
          resolve(true);
        };
        const gaveUp = (): void => {
          const at = this.waiting.indexOf(turn);
          if (at >= 0) this.waiting.splice(at, 1);
          resolve(false);
        };
        this.waiting.push(turn);
        signal?.addEventListener('abort', gaveUp, { once: true });
      });
      if (!got) return undefined;
    }
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
