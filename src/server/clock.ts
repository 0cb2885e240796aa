/**
 * The time as the server sees it, and its timers: one object, so that a test can move time forward (a
 * CRL's nextUpdate days away) without waiting, and the code under test cannot tell.
 */

export interface Clock {
  /** Milliseconds since the epoch, like Date.now(). */
  now(): number;
  /**
   * Calls `fn` once, `ms` from now. A timer never keeps the process alive.
   * @returns cancels the timer (harmless after it fired)
   */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The most one setTimeout can wait (2^31-1 ms, 24.8 days); a longer wait is made of several. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The real time: Date.now() and unref'd setTimeout, waits longer than setTimeout's limit included. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const due = Date.now() + ms;
    let timer: NodeJS.Timeout;
    const arm = (wait: number) => {
      timer = setTimeout(
        () => {
          const left = due - Date.now();
          if (left > 0) arm(left);
          else fn();
        },
        Math.min(Math.max(wait, 0), MAX_TIMEOUT_MS),
      );
      timer.unref();
    };
    arm(ms);
    return () => clearTimeout(timer);
  },
};
