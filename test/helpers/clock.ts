/**
 * A clock the test moves by hand (src/server/clock.ts): the server's CRL schedule sees days pass in an
 * instant, without sleeps and without touching the real timers the rest of the test (TLS, HTTP) runs on.
 */
import type { Clock } from '../../src/server/clock.js';

export interface ManualClock extends Clock {
  /** Timers armed and not yet fired or cancelled. */
  readonly pending: number;
  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order, at its time. */
  advance(ms: number): void;
  /** Moves time forward to `time` (epoch ms or a Date); see {@link advance}. */
  advanceTo(time: number | Date): void;
}

/** @param start - the time it shows first (epoch ms or a Date) */
export function manualClock(start: number | Date): ManualClock {
  let now = Number(start);
  let lastId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: ManualClock = {
    now: () => now,
    setTimer(fn, ms) {
      const id = ++lastId;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return () => timers.delete(id);
    },
    get pending() {
      return timers.size;
    },
    advance(ms) {
      clock.advanceTo(now + ms);
    },
    advanceTo(time) {
      const target = Number(time);
      for (;;) {
        // The earliest due timer, the first armed among equals; a timer may arm others as it fires.
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers)
          if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        now = Math.max(now, next[1].at);
        next[1].fn();
      }
      now = Math.max(now, target);
    },
  };
  return clock;
}
