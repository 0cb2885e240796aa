/**
 * CRLs both ways with OpenSSL 3: `openssl crl -verify` and `-text` on ours for every key type,
 * `openssl verify -crl_check` rejecting the revoked leaf only, and a CRL from `openssl ca -gencrl` read by us.
 *
 * Each CA's CRL is read once by `openssl crl -CAfile … -noout -text` (with -CAfile, `openssl crl` verifies the
 * signature, as `-verify` asks): the verdict on stderr for the signature test, the text on stdout for the text
 * test, as they were written in runs of their own. Both leaves go through one `openssl verify -crl_check` with the same options, each judged by its own
 * lines of the report.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { Crl, createCrl } from '../../src/pki/crl.js';
import { exportPrivateKeyPem, KEY_TYPES } from '../../src/pki/keys.js';
import {
  type CertificateAuthority,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../../src/pki/profiles.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { opensslArgs, verifyEach } from '../helpers/openssl.js';
import { describeWithTools, type RunResult, run, runOk, tempDir } from '../helpers/tools.js';

interface CrlText {
  extensions: Map<string, string>;
  revoked: { serial: string; date: string; reason?: string }[];
}

/** The CRL extensions and the revoked list of `openssl crl -text`. */
function parseCrlText(text: string): CrlText {
  const lines = text.split('\n');
  const extensions = new Map<string, string>();
  let i = lines.findIndex((l) => l.trim() === 'CRL extensions:');
  for (i++; i > 0 && i < lines.length; i++) {
    const header = lines[i]!.match(/^ {12}(\S.*?):\s*$/);
    if (!header) break;
    extensions.set(header[1]!, lines[++i]!.trim());
  }
  const revoked: CrlText['revoked'] = [];
  for (const [k, line] of lines.entries()) {
    const serial = line.match(/^ {4}Serial Number: ([0-9A-F]+)$/);
    if (!serial) continue;
    const date = lines[k + 1]!.match(/^ {8}Revocation Date: (.*)$/)![1]!;
    const reasonAt = lines[k + 3]?.trim() === 'X509v3 CRL Reason Code:' ? k + 4 : -1;
    revoked.push({ serial: serial[1]!, date, ...(reasonAt > 0 ? { reason: lines[reasonAt]!.trim() } : {}) });
  }
  return { extensions, revoked };
}

const colonHex = (b: Buffer) =>
  b
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');

describeWithTools(['openssl'], 'CRLs and OpenSSL 3', () => {
  const dir = tempDir();
  const file = (name: string) => path.join(dir, name);

  describe.each(KEY_TYPES)('%s CA', (kt) => {
    let ca: CertificateAuthority;
    let revokedLeaf: Certificate;
    let goodLeaf: Certificate;
    let crl: Crl;
    const f = (name: string) => file(`${kt}-${name}`);
    const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000);
    let crlReading: RunResult | undefined;
    /** `openssl crl -CAfile -text` of the CRL: the verdict on stderr, the text on stdout. */
    const readCrl = (): RunResult =>
      (crlReading ??= runOk('openssl', opensslArgs.crlText(f('crl.pem'), f('ca.pem'))));

    beforeAll(() => {
      const caKeys = fixtureKeys(kt, 0);
      const leafKeys = fixtureKeys(kt, 1);
      const certificate = createRootCa({ subject: { commonName: `CRL CA ${kt}` }, ...caKeys, days: 30 });
      ca = { certificate, privateKey: caKeys.privateKey };
      revokedLeaf = issueClientCertificate({
        ca,
        publicKey: leafKeys.publicKey,
        commonName: 'mallory',
        days: 10,
      });
      goodLeaf = issueServerCertificate({
        ca,
        publicKey: leafKeys.publicKey,
        altNames: { dns: ['localhost'] },
        days: 10,
      });
      crl = createCrl({
        ca,
        crlNumber: 42n,
        nextUpdate: new Date(Date.now() + 7 * 86_400_000),
        revoked: [
          { serialHex: revokedLeaf.serialHex, revokedAt, reason: 'keyCompromise' },
          { serialHex: '0abc', revokedAt, reason: 'superseded' },
          { serialHex: '7fff', revokedAt },
        ],
      });
      writeFileSync(f('ca.pem'), certificate.toPem());
      writeFileSync(f('revoked.pem'), revokedLeaf.toPem());
      writeFileSync(f('good.pem'), goodLeaf.toPem());
      writeFileSync(f('crl.pem'), crl.toPem());
    });

    test('openssl crl -verify accepts the signature', () => {
      expect(readCrl().stderr).toContain('verify OK');
    });

    test('openssl crl -text shows v2, the CRL number, AKI, the serials and the reasons', () => {
      const text = readCrl().stdout;
      expect(text).toContain('        Version 2 (0x1)\n');
      expect(text).toContain(`        Issuer: CN = CRL CA ${kt}\n`);
      const parsed = parseCrlText(text);
      expect([...parsed.extensions.entries()]).toEqual([
        ['X509v3 Authority Key Identifier', colonHex(ca.certificate.subjectKeyIdentifier!)],
        ['X509v3 CRL Number', '42'],
      ]);
      expect(parsed.revoked.map((r) => [r.serial, r.reason])).toEqual([
        [revokedLeaf.serialHex.toUpperCase(), 'Key Compromise'],
        ['0ABC', 'Superseded'],
        ['7FFF', undefined],
      ]);
      expect(new Date(parsed.revoked[0]!.date).getTime()).toBe(revokedAt.getTime());
    });

    test('openssl verify -crl_check: the revoked leaf fails with error 23, the other passes', () => {
      const both = verifyEach(f('ca.pem'), [f('revoked.pem'), f('good.pem')], { crlFile: f('crl.pem') });
      expect(both.status).toBe(2);
      const bad = both.verdict(f('revoked.pem'));
      expect(bad.ok).toBe(false);
      expect(bad.output).toContain('error 23 at 0 depth lookup: certificate revoked');
      expect(both.verdict(f('good.pem'))).toEqual({ ok: true, output: `${f('good.pem')}: OK\n` });
    });

    test('a CRL with one changed serial byte fails openssl crl -verify', () => {
      const tampered = Buffer.from(crl.der);
      const at = tampered.indexOf(Buffer.from('02020abc', 'hex')); // INTEGER 0x0abc
      expect(at).toBeGreaterThan(0);
      tampered[at + 3] = 0xbd;
      writeFileSync(f('tampered.der'), tampered);
      const r = run('openssl', opensslArgs.crlVerify(f('tampered.der'), f('ca.pem'), 'DER'));
      expect(r.stdout + r.stderr).toContain('verify failure');
      expect(new Crl(tampered, 'tampered.der').isSignedBy(ca.certificate)).toBe(false);
    });
  });

  describe('a CRL made by openssl ca -gencrl', () => {
    test.each(['ecdsa-p256', 'rsa-2048'] as const)(
      '%s: number, AKI, serial, reason and signature are read',
      (kt) => {
        const caDir = file(`openssl-ca-${kt}`);
        mkdirSync(caDir, { recursive: true });
        const keys = fixtureKeys(kt, 2);
        const certificate = createRootCa({
          subject: { commonName: `OpenSSL-run CA ${kt}` },
          ...keys,
          days: 30,
        });
        const ca = { certificate, privateKey: keys.privateKey };
        const leafKeys = fixtureKeys('ecdsa-p256', 3);
        const leaf = issueClientCertificate({
          ca,
          publicKey: leafKeys.publicKey,
          commonName: 'eve',
          days: 10,
        });
        const p = (name: string) => path.join(caDir, name);
        writeFileSync(p('ca.pem'), certificate.toPem());
        writeFileSync(p('ca.key'), exportPrivateKeyPem(keys.privateKey));
        writeFileSync(p('leaf.pem'), leaf.toPem());
        writeFileSync(p('index.txt'), '');
        writeFileSync(p('crlnumber'), '1000\n'); // hex, as openssl keeps it
        writeFileSync(
          p('ca.cnf'),
          [
            '[ ca ]',
            'default_ca = CA_default',
            '[ CA_default ]',
            `dir = ${caDir}`,
            'database = $dir/index.txt',
            'crlnumber = $dir/crlnumber',
            'certificate = $dir/ca.pem',
            'private_key = $dir/ca.key',
            'new_certs_dir = $dir',
            'default_md = sha256',
            'default_crl_days = 7',
            'crl_extensions = crl_ext',
            'policy = policy_any',
            '[ policy_any ]',
            'commonName = supplied',
            '[ crl_ext ]',
            'authorityKeyIdentifier = keyid:always',
            '',
          ].join('\n'),
        );
        runOk('openssl', [
          'ca',
          '-config',
          p('ca.cnf'),
          '-revoke',
          p('leaf.pem'),
          '-crl_reason',
          'keyCompromise',
        ]);
        runOk('openssl', ['ca', '-config', p('ca.cnf'), '-gencrl', '-out', p('crl.pem')]);
        const theirs = Crl.from(readFileSync(p('crl.pem')), p('crl.pem'));
        expect(theirs.crlNumber).toBe(0x1000n);
        expect(theirs.issuerName).toBe(`CN=OpenSSL-run CA ${kt}`);
        expect(theirs.authorityKeyIdentifier).toEqual(certificate.subjectKeyIdentifier);
        expect(theirs.revoked.map((r) => [r.serialHex, r.reason])).toEqual([
          [leaf.serialHex, 'keyCompromise'],
        ]);
        expect(theirs.isSignedBy(certificate)).toBe(true);
        expect(theirs.nextUpdate.getTime() - theirs.thisUpdate.getTime()).toBe(7 * 86_400_000);
        // DER gives the same
        runOk('openssl', ['crl', '-in', p('crl.pem'), '-outform', 'DER', '-out', p('crl.der')]);
        expect(Crl.from(readFileSync(p('crl.der')), 'crl.der').der.equals(theirs.der)).toBe(true);
      },
    );
  });
});
