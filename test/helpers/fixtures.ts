/**
 * The run's shared key pairs (made once by test/global-setup.ts): for tests that need keys of a type but do
 * not test how keys are made. Distinct indices give distinct keys; the same index gives the same key in every
 * file, so a file that needs two different keys asks for two indices.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { inject } from 'vitest';
import type { KeyPair, KeyType } from '../../src/pki/keys.js';

let pems: Record<KeyType, string[]> | undefined;
const pairs = new Map<string, KeyPair>();

/**
 * The `index`-th fixture key pair of type `kt`.
 * @param index - 0 … one less than the count in the recipe of test/global-setup.ts
 */
export function fixtureKeys(kt: KeyType, index = 0): KeyPair {
  const id = `${kt}/${index}`;
  let pair = pairs.get(id);
  if (!pair) {
    pems ??= JSON.parse(fs.readFileSync(inject('fixtures').keysFile, 'utf8')) as Record<KeyType, string[]>;
    const pem = pems[kt][index];
    if (!pem) throw new Error(`no fixture key ${id}: raise KEY_RECIPE['${kt}'] in test/global-setup.ts`);
    const privateKey = crypto.createPrivateKey(pem);
    pair = { privateKey, publicKey: crypto.createPublicKey(privateKey) };
    pairs.set(id, pair);
  }
  return pair;
}
