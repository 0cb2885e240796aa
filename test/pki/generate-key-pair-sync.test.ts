import { expect, test } from 'vitest';
import { generateKeyPairSync, isKeyPair, keyTypeOf } from '../../src/pki/keys.js';

test.each(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'] as const)(
  'generateKeyPairSync(%s) makes a matching pair of that type',
  (type) => {
    const pair = generateKeyPairSync(type);
    expect(pair.privateKey.type).toBe('private');
    expect(pair.publicKey.type).toBe('public');
    expect(keyTypeOf(pair.privateKey)).toBe(type);
    expect(keyTypeOf(pair.publicKey)).toBe(type);
    expect(isKeyPair(pair.privateKey, pair.publicKey)).toBe(true);
  },
);

test('generateKeyPairSync defaults to ecdsa-p256, like generateKeyPair', () => {
  expect(keyTypeOf(generateKeyPairSync().privateKey)).toBe('ecdsa-p256');
});
