/**
 * PKCS#10 both ways with OpenSSL 3: `openssl req -verify` and `-text` on our requests for every key type,
 * and requests made by `openssl req -new` read (and, when tampered with, refused) by parseCsr.
 *
 * Each of our requests is read once by `openssl req -verify -noout -text`: the verdict on stderr for the
 * signature test, the text on stdout for the text test, as `-verify` and `-text` wrote them in runs of their
 * own.
 */
import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { createCsr, parseCsr } from '../../src/pki/csr.js';
import { KEY_TYPES, subjectPublicKeyInfo } from '../../src/pki/keys.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { opensslArgs } from '../helpers/openssl.js';
import { describeWithTools, type RunResult, run, runOk, tempDir } from '../helpers/tools.js';

/** The lines of `openssl req -text` under "Requested Extensions:", trimmed. */
function requestedExtensions(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'Requested Extensions:');
  if (start < 0) return [];
  const out: string[] = [];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith(' '.repeat(16)); i++)
    out.push(lines[i]!.trim());
  return out;
}

describeWithTools(['openssl'], 'PKCS#10 requests and OpenSSL 3', () => {
  const dir = tempDir();
  const file = (name: string) => path.join(dir, name);

  describe.each(KEY_TYPES)('our %s request', (kt) => {
    let reading: RunResult | undefined;
    /** `openssl req -verify -text` of the request: the verdict on stderr, the text on stdout. */
    const readCsr = (): RunResult =>
      (reading ??= runOk('openssl', [...opensslArgs.reqVerify(file(`${kt}.csr`)), '-text']));

    beforeAll(() => {
      const { privateKey } = fixtureKeys(kt);
      const csr = createCsr({
        privateKey,
        subject: { commonName: `alice-${kt}`, organization: 'Example', country: 'CZ' },
        altNames: {
          dns: ['alice.example', 'www.alice.example'],
          ip: ['192.0.2.1', '2001:db8::2'],
          email: ['alice@example.com'],
        },
      });
      writeFileSync(file(`${kt}.csr`), csr.toPem());
    });

    test('openssl req -verify accepts the self-signature', () => {
      expect(readCsr().stderr).toContain('Certificate request self-signature verify OK');
    });

    test('openssl req -text shows the subject and the requested SAN', () => {
      const text = readCsr().stdout;
      expect(text).toContain(`        Subject: C = CZ, O = Example, CN = alice-${kt}\n`);
      expect(text).toContain('        Version: 1 (0x0)\n');
      expect(requestedExtensions(text)).toEqual([
        'X509v3 Subject Alternative Name:',
        'email:alice@example.com, DNS:alice.example, DNS:www.alice.example, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:2',
      ]);
    });
  });

  describe('requests made by openssl req -new', () => {
    test.each([
      ['rsa', ['-newkey', 'rsa:2048']],
      ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']],
    ])('%s: CN, SAN and public key are read', (name, keyArgs) => {
      runOk('openssl', [
        'req',
        '-new',
        ...keyArgs,
        '-nodes',
        '-keyout',
        file(`o-${name}.key`),
        '-subj',
        '/CN=alice',
        '-addext',
        'subjectAltName=DNS:a.example',
        '-out',
        file(`o-${name}.csr`),
      ]);
      runOk('openssl', [
        'req',
        '-in',
        file(`o-${name}.csr`),
        '-outform',
        'DER',
        '-out',
        file(`o-${name}.der`),
      ]);
      const csr = parseCsr(readFileSync(file(`o-${name}.csr`)), `o-${name}.csr`);
      expect(csr.commonName).toBe('alice');
      expect(csr.subjectName).toBe('CN=alice');
      expect(csr.altNames).toEqual({ dns: ['a.example'], ip: [], email: [], uri: [] });
      const key = crypto.createPrivateKey(readFileSync(file(`o-${name}.key`)));
      expect(subjectPublicKeyInfo(csr.publicKey).equals(subjectPublicKeyInfo(key))).toBe(true);
      expect(parseCsr(readFileSync(file(`o-${name}.der`)), `o-${name}.der`).der.equals(csr.der)).toBe(true);
    });

    test('one flipped byte in the subject CN → BAD_SIGNATURE (and openssl agrees)', () => {
      const original = readFileSync(file('o-rsa.der'));
      const tampered = Buffer.from(original);
      const at = tampered.indexOf(Buffer.from('alice'));
      expect(at).toBeGreaterThan(0);
      tampered[at + 4] = 'a'.charCodeAt(0); // "alica": still well-formed, no longer what was signed
      writeFileSync(file('tampered.der'), tampered);
      const openssl = run('openssl', opensslArgs.reqVerify(file('tampered.der'), 'DER'));
      // OpenSSL 3.0 `req -verify` exits 0 even when the signature fails: only its message tells.
      expect(openssl.stdout + openssl.stderr).toContain('Certificate request self-signature verify failure');
      expect(openssl.stdout + openssl.stderr).not.toContain('verify OK');
      expect(errorOf(() => parseCsr(tampered, 'tampered.der'))).toMatchObject({
        code: 'BAD_SIGNATURE',
        message: "verify tampered.der: the request's signature does not match its public key",
      });
    });

    test('a truncated request → PARSE_FAILED', () => {
      const original = readFileSync(file('o-ec.der'));
      for (const cut of [1, 10, original.length / 2]) {
        expect(errorOf(() => parseCsr(original.subarray(0, original.length - cut), 'cut.der'))).toMatchObject(
          {
            code: 'PARSE_FAILED',
            message: 'read cut.der: not a valid PKCS#10 certificate request',
          },
        );
      }
    });
  });
});
