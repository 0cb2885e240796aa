/**
 * Our certificates through OpenSSL 3: `openssl verify` (with -x509_strict) for the purpose each leaf is
 * for, `openssl x509 -text` showing exactly the extension set of each profile, and the other way round,
 * certificates made by `openssl req -x509` read by our Certificate class.
 *
 * Each certificate is read by one `openssl x509 -noout -serial -startdate -enddate -text`, whose fields
 * (printed first, in the order of the options) and text serve the tests of the fields and of the text: the
 * same command on the same file as before, once instead of twice.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { Certificate } from '../../src/pki/certificate.js';
import { KEY_TYPES, type KeyType } from '../../src/pki/keys.js';
import { createRootCa, issueClientCertificate, issueServerCertificate } from '../../src/pki/profiles.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { opensslArgs, x509Print } from '../helpers/openssl.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

interface ExtensionText {
  critical: boolean;
  value: string;
}

/** The `X509v3 extensions:` block of `openssl x509 -text`: name → critical flag and (joined) value lines. */
function extensionsOf(text: string): Map<string, ExtensionText> {
  const out = new Map<string, ExtensionText>();
  const lines = text.split('\n');
  let i = lines.findIndex((l) => l.trim() === 'X509v3 extensions:');
  if (i < 0) return out;
  for (i++; i < lines.length; i++) {
    const header = lines[i]!.match(/^ {12}(\S.*?):( critical)?\s*$/);
    if (!header) break;
    const value: string[] = [];
    while (lines[i + 1]?.startsWith(' '.repeat(16))) value.push(lines[++i]!.trim());
    out.set(header[1]!, { critical: header[2] !== undefined, value: value.join('\n') });
  }
  return out;
}

/** `AB:CD:…` as openssl prints key identifiers. */
const colonHex = (b: Buffer) =>
  b
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');

interface X509Reading {
  /** `serial`, `notBefore` and `notAfter` as openssl printed them. */
  fields: Record<string, string>;
  /** The `-text` part, from `Certificate:` on. */
  text: string;
}

/** `openssl x509 -noout -serial -startdate -enddate -text` of `file`, its fields apart from its text. */
function readX509(file: string): X509Reading {
  const out = x509Print(['x509', '-in', file, '-noout', '-serial', '-startdate', '-enddate', '-text']);
  const at = out.indexOf('Certificate:\n');
  if (at < 0) throw new Error(`openssl x509 -text of ${file}: no "Certificate:" in\n${out}`);
  const fields = Object.fromEntries(
    out
      .slice(0, at)
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
  return { fields, text: out.slice(at) };
}

/** openssl's names for the signature algorithm each key type signs with. */
const OPENSSL_SIGNATURE: Record<KeyType, string> = {
  'ecdsa-p256': 'ecdsa-with-SHA256',
  'ecdsa-p384': 'ecdsa-with-SHA384',
  'rsa-2048': 'sha256WithRSAEncryption',
  'rsa-3072': 'sha256WithRSAEncryption',
  'rsa-4096': 'sha256WithRSAEncryption',
  ed25519: 'ED25519',
};

describeWithTools(['openssl'], 'X.509 certificates and OpenSSL 3', () => {
  const dir = tempDir();
  const file = (name: string) => path.join(dir, name);

  describe.each(KEY_TYPES)('%s', (kt) => {
    let ca: Certificate;
    let server: Certificate;
    let client: Certificate;
    const f = (name: string) => file(`${kt}-${name}`);
    const readings = new Map<string, X509Reading>();
    const reading = (name: string): X509Reading => {
      if (!readings.has(name)) readings.set(name, readX509(f(name)));
      return readings.get(name)!;
    };

    beforeAll(() => {
      const caKeys = fixtureKeys(kt, 0);
      const leafKeys = fixtureKeys(kt, 1);
      ca = createRootCa({
        subject: { commonName: `Interop CA ${kt}`, organization: 'mtls-ca' },
        ...caKeys,
        days: 30,
      });
      const authority = { certificate: ca, privateKey: caKeys.privateKey };
      server = issueServerCertificate({
        ca: authority,
        publicKey: leafKeys.publicKey,
        altNames: { dns: ['localhost'], ip: ['127.0.0.1', '::1'] },
        days: 10,
      });
      client = issueClientCertificate({
        ca: authority,
        publicKey: leafKeys.publicKey,
        commonName: 'pavel',
        email: ['pavel@example.com'],
        uri: ['spiffe://example.com/user/pavel'],
        days: 10,
      });
      writeFileSync(f('ca.pem'), ca.toPem());
      writeFileSync(f('server.pem'), server.toPem());
      writeFileSync(f('client.pem'), client.toPem());
    });

    test('openssl verify -x509_strict accepts the server leaf as sslserver and the client leaf as sslclient', () => {
      const s = runOk(
        'openssl',
        opensslArgs.verify(f('ca.pem'), f('server.pem'), { purpose: 'sslserver', strict: true }),
      );
      expect(s.stdout.trim()).toBe(`${f('server.pem')}: OK`);
      const c = runOk(
        'openssl',
        opensslArgs.verify(f('ca.pem'), f('client.pem'), { purpose: 'sslclient', strict: true }),
      );
      expect(c.stdout.trim()).toBe(`${f('client.pem')}: OK`);
      const self = runOk('openssl', opensslArgs.verify(f('ca.pem'), f('ca.pem'), { strict: true }));
      expect(self.stdout.trim()).toBe(`${f('ca.pem')}: OK`);
    });

    test('openssl verify rejects each leaf for the other purpose (error 26)', () => {
      const wrongServer = run(
        'openssl',
        opensslArgs.verify(f('ca.pem'), f('client.pem'), { purpose: 'sslserver' }),
      );
      expect(wrongServer.status).toBe(2);
      expect(wrongServer.stdout + wrongServer.stderr).toContain(
        'error 26 at 0 depth lookup: unsuitable certificate purpose',
      );
      const wrongClient = run(
        'openssl',
        opensslArgs.verify(f('ca.pem'), f('server.pem'), { purpose: 'sslclient' }),
      );
      expect(wrongClient.status).toBe(2);
      expect(wrongClient.stdout + wrongClient.stderr).toContain(
        'error 26 at 0 depth lookup: unsuitable certificate purpose',
      );
    });

    test('openssl x509 -text: the CA has exactly basicConstraints, keyUsage and SKI', () => {
      const { text } = reading('ca.pem');
      const ext = extensionsOf(text);
      expect([...ext.keys()]).toEqual([
        'X509v3 Basic Constraints',
        'X509v3 Key Usage',
        'X509v3 Subject Key Identifier',
      ]);
      expect(ext.get('X509v3 Basic Constraints')).toEqual({ critical: true, value: 'CA:TRUE' });
      expect(ext.get('X509v3 Key Usage')).toEqual({ critical: true, value: 'Certificate Sign, CRL Sign' });
      expect(ext.get('X509v3 Subject Key Identifier')).toEqual({
        critical: false,
        value: colonHex(ca.subjectKeyIdentifier!),
      });
      expect(text).toContain('        Version: 3 (0x2)\n');
      expect(text).toContain(`        Signature Algorithm: ${OPENSSL_SIGNATURE[kt]}\n`);
      expect(text).toContain('        Issuer: O = mtls-ca, CN = Interop CA');
      expect(text).toContain('        Subject: O = mtls-ca, CN = Interop CA');
    });

    test('openssl x509 -text: the server leaf has CA:FALSE, KU, serverAuth, SAN DNS+IP, SKI, AKI', () => {
      const { text } = reading('server.pem');
      const ext = extensionsOf(text);
      expect([...ext.keys()]).toEqual([
        'X509v3 Basic Constraints',
        'X509v3 Key Usage',
        'X509v3 Extended Key Usage',
        'X509v3 Subject Alternative Name',
        'X509v3 Subject Key Identifier',
        'X509v3 Authority Key Identifier',
      ]);
      expect(ext.get('X509v3 Basic Constraints')).toEqual({ critical: true, value: 'CA:FALSE' });
      const rsaLeaf = kt.startsWith('rsa');
      expect(ext.get('X509v3 Key Usage')).toEqual({
        critical: true,
        value: rsaLeaf ? 'Digital Signature, Key Encipherment' : 'Digital Signature',
      });
      expect(ext.get('X509v3 Extended Key Usage')).toEqual({
        critical: false,
        value: 'TLS Web Server Authentication',
      });
      expect(ext.get('X509v3 Subject Alternative Name')).toEqual({
        critical: false,
        value: 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
      });
      expect(ext.get('X509v3 Subject Key Identifier')?.value).toBe(colonHex(server.subjectKeyIdentifier!));
      // AKI is the CA's SKI (openssl 3.0 prints it bare; older releases prefixed "keyid:")
      expect(ext.get('X509v3 Authority Key Identifier')?.value.replace(/^keyid:/, '')).toBe(
        colonHex(ca.subjectKeyIdentifier!),
      );
      expect(text).toContain('        Subject: CN = localhost\n');
      expect(text).toContain(`        Signature Algorithm: ${OPENSSL_SIGNATURE[kt]}\n`);
    });

    test('openssl x509 -text: the client leaf has clientAuth only, CN = name, email and URI SAN', () => {
      const { text } = reading('client.pem');
      const ext = extensionsOf(text);
      expect([...ext.keys()]).toEqual([
        'X509v3 Basic Constraints',
        'X509v3 Key Usage',
        'X509v3 Extended Key Usage',
        'X509v3 Subject Alternative Name',
        'X509v3 Subject Key Identifier',
        'X509v3 Authority Key Identifier',
      ]);
      expect(ext.get('X509v3 Extended Key Usage')).toEqual({
        critical: false,
        value: 'TLS Web Client Authentication',
      });
      expect(ext.get('X509v3 Subject Alternative Name')).toEqual({
        critical: false,
        value: 'email:pavel@example.com, URI:spiffe://example.com/user/pavel',
      });
      expect(text).toContain('        Subject: CN = pavel\n');
    });

    test('openssl reads the same serial and validity we wrote', () => {
      for (const [cert, name] of [
        [ca, 'ca.pem'],
        [server, 'server.pem'],
        [client, 'client.pem'],
      ] as const) {
        const { fields } = reading(name);
        expect(Object.keys(fields)).toEqual(['serial', 'notBefore', 'notAfter']);
        expect(fields.serial).toBe(cert.serialHex.toUpperCase());
        expect(fields.serial).toMatch(/^[1-7][0-9A-F]{31}$|^0[1-9A-F][0-9A-F]{30}$/);
        expect(new Date(fields.notBefore!).getTime()).toBe(cert.notBefore.getTime());
        expect(new Date(fields.notAfter!).getTime()).toBe(cert.notAfter.getTime());
      }
    });
  });

  describe('certificates made by openssl req -x509', () => {
    test.each([
      ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'ecdsaWithSHA256'],
      ['RSA 2048', ['-newkey', 'rsa:2048'], 'sha256WithRSAEncryption'],
      ['Ed25519', ['-newkey', 'ed25519'], 'ed25519'],
    ])('%s: subject, SAN, serial and signature read by Certificate', (name, keyArgs, algorithm) => {
      const base = file(`foreign-${name.replace(/\W/g, '')}`);
      runOk('openssl', [
        'req',
        '-x509',
        ...keyArgs,
        '-nodes',
        '-keyout',
        `${base}.key`,
        '-out',
        `${base}.pem`,
        '-days',
        '10',
        '-subj',
        '/CN=foreign/O=Other Org',
        '-addext',
        'subjectAltName=DNS:foreign.example,IP:192.0.2.7,IP:2001:db8::1,email:a@b.example,URI:https://x.example/p',
      ]);
      runOk('openssl', ['x509', '-in', `${base}.pem`, '-outform', 'DER', '-out', `${base}.der`]);
      // the serial and the start date in one reading
      const printed = x509Print(['x509', '-in', `${base}.pem`, '-noout', '-serial', '-startdate']).match(
        /^serial=(\S+)\nnotBefore=(.+)\n$/,
      );
      expect(printed, 'openssl x509 -serial -startdate').not.toBeNull();
      const [, serial, notBefore] = printed!;
      const cert = Certificate.from(readFileSync(`${base}.pem`), `${base}.pem`);
      expect(cert.serialHex.toUpperCase()).toBe(serial);
      expect(cert.subjectName).toBe('CN=foreign, O=Other Org');
      expect(cert.commonName).toBe('foreign');
      expect(cert.issuerName).toBe('CN=foreign, O=Other Org');
      expect(cert.subjectAltNames).toEqual({
        dns: ['foreign.example'],
        ip: ['192.0.2.7', '2001:db8::1'],
        email: ['a@b.example'],
        uri: ['https://x.example/p'],
      });
      expect(cert.isCa).toBe(true); // openssl's default v3_ca section
      expect(cert.isIssuedBy(cert)).toBe(true);
      expect(cert.subjectKeyIdentifier).toEqual(cert.authorityKeyIdentifier);
      expect(cert.signatureAlgorithmName).toBe(algorithm);
      expect(Certificate.from(readFileSync(`${base}.der`), `${base}.der`).der.equals(cert.der)).toBe(true);
      expect(cert.notBefore.getTime()).toBe(new Date(notBefore!).getTime());
    });
  });
});
