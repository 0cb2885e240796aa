/**
 * The OCSP answer cache on its own: what it hands out, for which state and how long. The publish server's
 * tests (publish.test.ts) check the same rule through real requests: a repeated request gets the same signed
 * bytes, a revocation or a new responder replaces them, a nonce is signed anew.
 */
import { describe, expect, test } from 'vitest';
import { OCSP_ANSWER_CACHE_MS, OcspAnswerCache } from '../../src/server/ocsp-answer-cache.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const request = Buffer.from('3051304f304d304b3049', 'hex');
const answer = Buffer.from('3082020a0a0100', 'hex');

describe('OcspAnswerCache', () => {
  test('the same bytes from the same state get the answer kept, as long as it is younger than the limit', () => {
    const cache = new OcspAnswerCache();
    const state = {};
    const key = OcspAnswerCache.keyOf(request)!;
    expect(cache.get(key, state, T0)).toBeUndefined();
    cache.set(key, state, T0, answer);
    expect(cache.get(key, state, T0 + OCSP_ANSWER_CACHE_MS - 1)).toBe(answer);
    expect(cache.get(key, state, T0 + OCSP_ANSWER_CACHE_MS)).toBeUndefined();
    // Other bytes (another certificate, a nonce) are another key.
    expect(cache.get(OcspAnswerCache.keyOf(Buffer.from('3051'))!, state, T0)).toBeUndefined();
  });

  test('a new state (a revocation loaded, a new responder) hands out nothing signed from the one before', () => {
    const cache = new OcspAnswerCache();
    const before = {};
    const after = {};
    const key = OcspAnswerCache.keyOf(request)!;
    cache.set(key, before, T0, answer);
    expect(cache.get(key, after, T0)).toBeUndefined();
    // The first answer of the new state drops every answer of the old one.
    const other = OcspAnswerCache.keyOf(Buffer.from('3052'))!;
    cache.set(other, after, T0, answer);
    expect([cache.size, cache.get(key, before, T0)]).toEqual([1, undefined]);
  });

  test('a request over 256 bytes is not kept; past 10,000 answers the cache starts over', () => {
    expect(OcspAnswerCache.keyOf(Buffer.alloc(257))).toBeUndefined();
    expect(OcspAnswerCache.keyOf(Buffer.alloc(256))).toHaveLength(256);
    const cache = new OcspAnswerCache();
    const state = {};
    for (let i = 0; i < 10_000; i++) cache.set(String(i), state, T0, answer);
    expect(cache.size).toBe(10_000);
    cache.set('one more', state, T0, answer);
    expect([cache.size, cache.get('0', state, T0), cache.get('one more', state, T0)]).toEqual([
      1,
      undefined,
      answer,
    ]);
  });
});
