/**
 * The one way tests wait for something that happens on its own schedule — a log line written after the client
 * has its answer, a file watcher's reload, a restarted worker, a server's banner: bounded polling, never a
 * fixed sleep.
 */

/**
 * Calls `probe` at once and then every `intervalMs` until it returns true; throws naming `what` when it still
 * does not after `boundMs`.
 * @param boundMs - how long to keep trying; where the product promises a bound (a CRL applied within 2 s),
 *   that bound, else generous enough for a loaded CI machine
 * @param what - what is awaited, for the failure message
 * @param probe - the condition; it may do work (send a request) and may throw to fail the test at once
 * @param intervalMs - the pause between two calls (default 20 ms)
 * @returns how long it took, from the call, in milliseconds
 */
export async function within(
  boundMs: number,
  what: string,
  probe: () => Promise<boolean> | boolean,
  intervalMs = 20,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - t0;
    if (performance.now() - t0 > boundMs) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
