/**
 * The server's clock as seen from this tab. Durations of running executions are "server now − startedAt";
 * the tab's own clock may be off (another machine), so the offset is estimated from the `t` (server time, ms) of
 * the live events: the smallest `client time − t` seen recently, since delivery only ever adds delay.
 */
export class ServerClock {
  private samples: number[] = [];

  constructor(
    private readonly now: () => number = Date.now,
    private readonly keep = 50,
  ) {}

  /** An event stamped `serverTime` arrived just now. */
  note(serverTime: number): void {
    if (!Number.isFinite(serverTime)) return;
    this.samples.push(this.now() - serverTime);
    if (this.samples.length > this.keep) this.samples.shift();
  }

  /** The server's time now, by the best estimate (the tab's clock until an event arrived). */
  serverNow(): number {
    return this.now() - (this.samples.length > 0 ? Math.min(...this.samples) : 0);
  }
}

export const serverClock = new ServerClock();
