import { describe, expect, it } from 'vitest';
import { ServerClock } from './server-clock.js';

describe('ServerClock', () => {
  it('is the tab clock until an event arrives', () => {
    const clock = new ServerClock(() => 10_000);
    expect(clock.serverNow()).toBe(10_000);
  });

  it('takes the smallest delay seen as the offset (delivery only adds delay)', () => {
    let now = 100_000;
    const clock = new ServerClock(() => now);
    // The server runs 5 s behind the tab; events take 30, 5 and 400 ms to arrive.
    clock.note(now - 5_000 - 30);
    clock.note(now - 5_000 - 5);
    clock.note(now - 5_000 - 400);
    expect(clock.serverNow()).toBe(now - 5_005);
    now += 1_000;
    expect(clock.serverNow()).toBe(now - 5_005);
  });

  it('forgets old samples, so a clock that moved is followed', () => {
    const now = 0;
    const clock = new ServerClock(() => now, 3);
    clock.note(-1_000); // offset 1 s
    for (let i = 0; i < 3; i++) clock.note(now - 3_000); // then 3 s
    expect(clock.serverNow()).toBe(now - 3_000);
    clock.note(Number.NaN);
    expect(clock.serverNow()).toBe(now - 3_000);
  });
});
