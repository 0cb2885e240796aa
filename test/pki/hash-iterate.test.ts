import crypto from 'node:crypto';
import { expect, test } from 'vitest';
import { iterateSha1, iterateSha256 } from '../../src/pki/hash-iterate.js';

function reference(hash: string, input: Buffer, rounds: number): Buffer {
  let a = input;
  for (let i = 0; i < rounds; i++) a = crypto.hash(hash, a, 'buffer');
  return a;
}

test.each([0, 1, 2, 2047, 9999])('iterateSha1 equals %i rounds of crypto.hash', (rounds) => {
  for (const seed of ['00', 'ff', 'a5']) {
    const input = crypto.createHash('sha1').update(seed).digest();
    expect(iterateSha1(input, rounds).toString('hex')).toBe(reference('sha1', input, rounds).toString('hex'));
  }
});

test.each([0, 1, 2, 2047, 9999])('iterateSha256 equals %i rounds of crypto.hash', (rounds) => {
  for (const seed of ['00', 'ff', 'a5']) {
    const input = crypto.createHash('sha256').update(seed).digest();
    expect(iterateSha256(input, rounds).toString('hex')).toBe(
      reference('sha256', input, rounds).toString('hex'),
    );
  }
});

test('known answer: SHA-1 of the SHA-1 of "abc"', () => {
  const once = crypto.createHash('sha1').update('abc').digest();
  expect(once.toString('hex')).toBe('a9993e364706816aba3e25717850c26c9cd0d89d'); // FIPS 180 example
  expect(iterateSha1(once, 1).toString('hex')).toBe(crypto.createHash('sha1').update(once).digest('hex'));
});

test('wrong input lengths are refused', () => {
  expect(() => iterateSha1(Buffer.alloc(19), 1)).toThrow(RangeError);
  expect(() => iterateSha256(Buffer.alloc(31), 1)).toThrow(RangeError);
});
