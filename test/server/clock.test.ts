/**
 * The system clock's timers (src/server/clock.ts), on vitest's fake timers: a CRL's next moment is often
 * further away than one setTimeout can wait (24.8 days), and a timer must never keep the process alive.
 */
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { systemClock } from '../../src/server/clock.js';

const DAY = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

test('a wait longer than setTimeout allows (a 90-day CRL) fires at its time, not at once nor 24.8 days in', () => {
  // Node runs a longer setTimeout after 1 ms (TimeoutOverflowWarning), and so do the fake timers.
  const start = systemClock.now();
  const fired: number[] = [];
  systemClock.setTimer(() => fired.push(systemClock.now() - start), 45 * DAY);
  vi.advanceTimersByTime(45 * DAY - 1);
  expect(fired).toEqual([]);
  vi.advanceTimersByTime(1);
  expect(fired).toEqual([45 * DAY]);
});

test('a cancelled timer never fires, also after it re-armed itself', () => {
  const fired: string[] = [];
  const cancelShort = systemClock.setTimer(() => fired.push('short'), 1_000);
  const cancelLong = systemClock.setTimer(() => fired.push('long'), 30 * DAY);
  cancelShort();
  vi.advanceTimersByTime(25 * DAY);
  cancelLong();
  vi.advanceTimersByTime(10 * DAY);
  expect(fired).toEqual([]);
});
