/**
 * Failed sign-ins are counted per address and per (address, name) in a sliding window; past a limit, sign-ins
 * from there are refused (429) until the oldest failure leaves the window. Counts live in memory: a restart
 * forgets them, which costs an attacker a restart they cannot cause.
 */
export interface LoginLimits {
  windowMs: number;
  /** Failures allowed for one name from one address. */
  perName: number;
  /** Failures allowed from one address over all names. */
  perAddress: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { windowMs: 15 * 60 * 1000, perName: 5, perAddress: 20 };

/** Keys kept at most; the oldest go first (an attacker spraying addresses cannot grow memory without end). */
const MAX_KEYS = 10_000;

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds to wait before trying again, or 0 when a sign-in may be tried now. */
  retryAfter(address: string, name: string): number {
    const t = this.now();
    const wait = (key: string, limit: number): number => {
      const times = this.recent(key, t);
      return times.length >= limit ? times[times.length - limit]! + this.limits.windowMs - t : 0;
    };
    return Math.max(
      wait(`a:${address}`, this.limits.perAddress),
      wait(`n:${address}:${name}`, this.limits.perName),
    );
  }

  fail(address: string, name: string): void {
    const t = this.now();
    for (const key of [`a:${address}`, `n:${address}:${name}`]) {
      const times = this.recent(key, t);
      times.push(t);
      this.failures.delete(key);
      this.failures.set(key, times);
    }
    while (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
  }

  /** A good sign-in forgets the failures for that name (not for the address). */
  succeed(address: string, name: string): void {
    this.failures.delete(`n:${address}:${name}`);
  }

  private recent(key: string, t: number): number[] {
    const times = (this.failures.get(key) ?? []).filter((x) => x > t - this.limits.windowMs);
    if (times.length === 0) this.failures.delete(key);
    else this.failures.set(key, times);
    return times;
  }
}
