/**
 * `doctor`'s lint of a CA directory: a directory made by init and issue-client is clean, and each damage a
 * deployment meets — made with the real tools (chmod, openssl, a file swapped or removed) — gives its
 * finding, in a copy of that directory, which the lint leaves byte for byte as it found it. Dates move by
 * the `now` option, never by sleeping.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  type FindingCode,
  type LintOptions,
  type LintReport,
  lintCaDirectory,
} from '../../src/ops/doctor-lint.js';
import { Certificate } from '../../src/pki/certificate.js';
import { createCrl } from '../../src/pki/crl.js';
import { createJks } from '../../src/pki/jks.js';
import { exportPrivateKeyPem } from '../../src/pki/keys.js';
import { createRootCa } from '../../src/pki/profiles.js';
import { CaStore } from '../../src/store/ca-store.js';
import { layout } from '../../src/store/layout.js';
import { snapshot } from '../cli/snapshot.js';
import { cli } from '../helpers/cli.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { faketimeEnv, runOk, tempDir } from '../helpers/tools.js';

const CA_PASSWORD = 'doctor-lint-ca-password';
const DAY_MS = 86_400_000;
const root = tempDir('mtls-ca-doctor-lint-');
const base = path.join(root, 'base');
let n = 0;

beforeAll(async () => {
  for (const args of [
    ['init', '--ca-name', 'Lint CA'],
    ['issue-client', 'alice', '--role', 'user'],
    ['issue-client', 'bob', '--role', 'user'],
  ]) {
    const r = await cli([...args, '--dir', base], { MTLS_CA_PASSWORD: CA_PASSWORD });
    if (r.code !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  }
});

/** A copy of the base directory, damaged by `damage`, with its layout. */
async function damaged(damage: (dir: string, l: ReturnType<typeof layout>) => void | Promise<void>) {
  const dir = path.join(root, `case-${n++}`);
  fs.cpSync(base, dir, { recursive: true, preserveTimestamps: true });
  await damage(dir, layout(dir));
  return dir;
}

/** The lint of `dir`, checked to have changed nothing. */
async function lint(dir: string, o: LintOptions = {}): Promise<LintReport> {
  const before = snapshot(dir);
  const report = await lintCaDirectory(new CaStore(dir, { readOnly: true }), o);
  expect(snapshot(dir)).toEqual(before);
  return report;
}

const codes = (r: LintReport): FindingCode[] => r.findings.map((f) => f.code);

test('a directory made by init and issue-client is clean; the encrypted CA key is a note', async () => {
  const r = await lint(base);
  expect(r.findings).toEqual([]);
  expect(r.notes).toEqual([{ code: 'CA_KEY_ENCRYPTED', file: 'ca/ca.key' }]);
  expect(r.checked).toEqual({ certificates: 4, keys: 3, pkcs12: 3, trustStores: 2, crl: true, users: 2 });
});

test('with the CA password the CA key is checked against the certificate too', async () => {
  const r = await lint(base, { caPassword: CA_PASSWORD });
  expect(r.findings).toEqual([]);
  expect(r.notes).toEqual([]);
  expect(r.checked.keys).toBe(4);
  expect((await errorOf(() => lint(base, { caPassword: 'wrong password' }))).code).toBe('BAD_PASSWORD');
});

test('not a CA directory: CA_NOT_INITIALIZED, naming it', async () => {
  const e = await errorOf(() => lintCaDirectory(new CaStore(path.join(root, 'nothing'), { readOnly: true })));
  expect(e.code).toBe('CA_NOT_INITIALIZED');
  expect(e.detail).toEqual({ kind: 'no-ca', dir: expect.stringContaining('nothing') });
});

describe('each damage, its finding', () => {
  test('a key others can read: MODE_TOO_OPEN', async () => {
    const dir = await damaged((_d, l) => fs.chmodSync(l.client('alice').key, 0o644));
    expect((await lint(dir)).findings).toEqual([
      { code: 'MODE_TOO_OPEN', severity: 'error', file: 'client/alice.key', mode: '0644', expected: '0600' },
    ]);
  });

  test('a users.json anyone can write: MODE_WORLD_WRITABLE', async () => {
    const dir = await damaged((_d, l) => fs.chmodSync(l.users, 0o666));
    expect(codes(await lint(dir))).toEqual(['MODE_WORLD_WRITABLE']);
  });

  test("bob's key beside alice's certificate: KEY_MISMATCH", async () => {
    const dir = await damaged((_d, l) => fs.copyFileSync(l.client('bob').key, l.client('alice').key));
    expect((await lint(dir)).findings).toEqual([
      { code: 'KEY_MISMATCH', severity: 'error', file: 'client/alice.key', certificate: 'client/alice.crt' },
    ]);
  });

  test('a .pass that does not open its .p12: P12_WRONG_PASSWORD', async () => {
    const dir = await damaged((_d, l) => fs.writeFileSync(l.passwordFile(l.client('alice').p12), 'not it\n'));
    expect(codes(await lint(dir))).toEqual(['P12_WRONG_PASSWORD']);
  });

  test("bob's bundle under alice's name: P12_OUT_OF_STEP", async () => {
    const dir = await damaged((_d, l) => {
      fs.copyFileSync(l.client('bob').p12, l.client('alice').p12);
      fs.copyFileSync(l.passwordFile(l.client('bob').p12), l.passwordFile(l.client('alice').p12));
    });
    expect((await lint(dir)).findings).toEqual([
      {
        code: 'P12_OUT_OF_STEP',
        severity: 'error',
        file: 'client/client_alice.p12',
        problem: 'other-certificate',
        certificate: 'client/alice.crt',
      },
    ]);
  });

  test('a JKS trust store without the CA: TRUST_STORE_WITHOUT_CA', async () => {
    const dir = await damaged((_d, l) => {
      const other = createRootCa({
        subject: { commonName: 'Other' },
        ...fixtureKeys('ecdsa-p256', 3),
        days: 10,
      });
      const password = fs.readFileSync(l.passwordFile(l.trustStoreJks), 'utf8').trim();
      fs.writeFileSync(l.trustStoreJks, createJks([{ alias: 'other', certificate: other }], password));
    });
    expect(codes(await lint(dir))).toEqual(['TRUST_STORE_WITHOUT_CA']);
  });

  test('a PKCS#12 trust store made by openssl (no Java trusted attribute): TRUST_STORE_NOT_TRUSTED', async () => {
    const dir = await damaged((_d, l) => {
      const pass = l.passwordFile(l.trustStoreP12);
      runOk('openssl', [
        'pkcs12',
        '-export',
        '-nokeys',
        '-in',
        l.caCert,
        '-passout',
        `file:${pass}`,
        '-out',
        l.trustStoreP12,
      ]);
    });
    expect(codes(await lint(dir))).toEqual(['TRUST_STORE_NOT_TRUSTED']);
  });

  test('the CRL: missing, signed by another CA, out of date, near its end, behind the inventory', async () => {
    const missing = await damaged((_d, l) => fs.rmSync(l.crl));
    expect(codes(await lint(missing))).toEqual(['CRL_MISSING']);

    const foreign = await damaged((_d, l) => {
      const keys = fixtureKeys('ecdsa-p256', 3);
      const other = createRootCa({ subject: { commonName: 'Other' }, ...keys, days: 10 });
      const crl = createCrl({
        ca: { certificate: other, privateKey: keys.privateKey },
        crlNumber: 5n,
        nextUpdate: new Date(Date.now() + DAY_MS),
        revoked: [],
      });
      fs.writeFileSync(l.crl, crl.toPem());
    });
    expect(codes(await lint(foreign))).toEqual(['CRL_NOT_SIGNED_BY_CA']);

    const now = Date.now();
    expect(codes(await lint(base, { now: new Date(now + 8 * DAY_MS) }))).toEqual(['CRL_EXPIRED']);
    expect(codes(await lint(base, { now: new Date(now + 6 * DAY_MS) }))).toEqual(['CRL_EXPIRING']);

    // bob revoked, then the CRL of before put back: the inventory revokes what the CRL does not list.
    const behind = await damaged(async (d, l) => {
      const old = fs.readFileSync(l.crl);
      const r = await cli(['revoke', 'bob', '--dir', d], { MTLS_CA_PASSWORD: CA_PASSWORD });
      expect(r.code).toBe(0);
      fs.writeFileSync(l.crl, old);
    });
    const r = await lint(behind);
    const bob = Certificate.from(fs.readFileSync(layout(behind).client('bob').cert));
    expect(r.findings).toEqual([
      {
        code: 'CRL_OUT_OF_STEP',
        severity: 'error',
        file: 'ca/crl.pem',
        notListed: [bob.serialHex],
        notRevoked: [],
      },
      // and bob, revoked, is still a user
      { code: 'USER_WITHOUT_CERTIFICATE', severity: 'warning', file: 'users.json', user: 'bob' },
    ]);
  });

  test('certificates: expiring within 30 days, expired and not in the inventory, of another CA, for another use', async () => {
    const expiring = await damaged(async (d) => {
      const r = await cli(['issue-client', 'carol', '--role', 'user', '--days', '20', '--dir', d], {
        MTLS_CA_PASSWORD: CA_PASSWORD,
      });
      expect(r.code).toBe(0);
    });
    const report = await lint(expiring);
    expect(report.findings).toEqual([
      {
        code: 'CERT_EXPIRING',
        severity: 'warning',
        file: 'client/carol.crt',
        notAfter: expect.any(String),
        daysLeft: 19,
        name: 'carol',
      },
    ]);

    const strays = await damaged((_d, l) => {
      // openssl, with the CA key, signs what mtls-ca never would: an expired client certificate.
      const work = fs.mkdtempSync(path.join(root, 'openssl-'));
      const caKey = path.join(work, 'ca-key.pem');
      runOk('openssl', ['pkey', '-in', l.caKey, '-passin', `pass:${CA_PASSWORD}`, '-out', caKey]);
      fs.writeFileSync(
        path.join(work, 'old.key'),
        exportPrivateKeyPem(fixtureKeys('ecdsa-p256', 4).privateKey),
      );
      runOk('openssl', [
        'req',
        '-new',
        '-key',
        path.join(work, 'old.key'),
        '-subj',
        '/CN=old',
        '-out',
        path.join(work, 'old.csr'),
      ]);
      runOk(
        'openssl',
        [
          'x509',
          '-req',
          '-in',
          path.join(work, 'old.csr'),
          '-CA',
          l.caCert,
          '-CAkey',
          caKey,
          '-set_serial',
          '77',
          '-days',
          '30',
          '-out',
          path.join(l.clientDir, 'old.crt'),
        ],
        { env: { ...process.env, ...faketimeEnv('2020-01-01 00:00:00') } },
      );
      // A certificate of another CA dropped into client/.
      const keys = fixtureKeys('ecdsa-p256', 3);
      fs.writeFileSync(
        path.join(l.clientDir, 'eve.crt'),
        createRootCa({ subject: { commonName: 'Other CA' }, ...keys, days: 365 }).toPem(),
      );
      // A client certificate where a server certificate belongs.
      fs.copyFileSync(l.client('alice').cert, path.join(l.serverDir, 'alice.crt'));
    });
    const found = (await lint(strays)).findings.map((f) => `${f.code} ${f.file}`).sort();
    expect(found).toEqual(
      [
        'CERT_EXPIRED client/old.crt',
        'CERT_NOT_IN_INVENTORY client/old.crt',
        'CERT_NOT_ISSUED_BY_CA client/eve.crt',
        'CERT_WRONG_PURPOSE client/eve.crt',
        'CERT_WRONG_PURPOSE server/alice.crt',
        'SERVER_NO_SAN server/alice.crt',
      ].sort(),
    );
  });

  test('users and certificates: a user without one, a certificate without its user', async () => {
    const dir = await damaged((_d, l) =>
      fs.writeFileSync(
        l.users,
        JSON.stringify({ users: { bob: { roles: ['user'] }, ghost: { roles: [] } } }),
      ),
    );
    expect((await lint(dir)).findings).toEqual([
      { code: 'USER_WITHOUT_CERTIFICATE', severity: 'warning', file: 'users.json', user: 'ghost' },
      { code: 'CERTIFICATE_WITHOUT_USER', severity: 'warning', file: 'users.json', user: 'alice' },
    ]);
  });

  test('a host the server certificate does not hold: HOST_NOT_COVERED; one it holds passes', async () => {
    const r = await lint(base, { hosts: ['localhost', '::1', 'api.example.com'] });
    expect(r.findings).toEqual([
      { code: 'HOST_NOT_COVERED', severity: 'error', file: 'server/', host: 'api.example.com' },
    ]);
  });

  test('an Ed25519 browser bundle: ED25519_FOR_BROWSERS', async () => {
    const dir = await damaged(async (d) => {
      const r = await cli(['issue-client', 'dave', '--role', 'user', '--key-type', 'ed25519', '--dir', d], {
        MTLS_CA_PASSWORD: CA_PASSWORD,
      });
      expect(r.code).toBe(0);
    });
    expect((await lint(dir)).findings).toEqual([
      { code: 'ED25519_FOR_BROWSERS', severity: 'warning', file: 'client/dave.crt', use: 'client' },
    ]);
  });

  test('files gone or garbled: FILE_MISSING, TRUST_STORE_MISSING, FILE_UNREADABLE; a .p12 without .pass is a note', async () => {
    const dir = await damaged((_d, l) => {
      fs.rmSync(l.client('alice').csr);
      fs.rmSync(l.trustStoreJks);
      fs.writeFileSync(l.client('bob').cert, 'not a certificate\n');
      fs.rmSync(l.passwordFile(l.server().keyStore));
    });
    const r = await lint(dir);
    expect(r.findings.map((f) => `${f.code} ${f.file}`)).toEqual([
      'FILE_UNREADABLE client/bob.crt',
      'FILE_MISSING client/alice.csr',
      'TRUST_STORE_MISSING server/trustStore.jks',
    ]);
    expect(r.notes).toContainEqual({ code: 'PASSWORD_UNKNOWN', file: 'server/keyStore.p12' });
  });

  test('a CA certificate that is no CA: CA_NOT_A_CA (and everything it signed no longer chains)', async () => {
    const dir = await damaged((d, l) => {
      const key = path.join(d, 'fake.key');
      fs.writeFileSync(key, exportPrivateKeyPem(fixtureKeys('ecdsa-p256', 4).privateKey));
      runOk('openssl', [
        'req',
        '-x509',
        '-new',
        '-key',
        key,
        '-subj',
        '/CN=Lint CA',
        '-days',
        '10',
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-out',
        l.caCert,
      ]);
      fs.rmSync(key);
    });
    const r = codes(await lint(dir));
    expect(r[0]).toBe('CA_NOT_A_CA');
    expect(r).toContain('CERT_NOT_ISSUED_BY_CA');
    expect(r).toContain('CRL_NOT_SIGNED_BY_CA');
  });

  test('no CA key in the directory (a server copy) is a note, not a finding', async () => {
    const dir = await damaged((_d, l) => fs.rmSync(l.caKey));
    const r = await lint(dir);
    expect(r.findings).toEqual([]);
    expect(r.notes).toEqual([{ code: 'CA_KEY_ABSENT', file: 'ca/ca.key' }]);
  });
});

describe('a CA with a publish URL', () => {
  /** A copy of the base directory given a publish URL: alice and bob, issued before it, carry none. */
  async function published(damage?: (dir: string, l: ReturnType<typeof layout>) => void) {
    return damaged(async (d, l) => {
      const r = await cli(['publish-url', 'http://ca.example.com:8080', '--dir', d], {
        MTLS_CA_PASSWORD: CA_PASSWORD,
      });
      if (r.code !== 0) throw new Error(r.stderr);
      damage?.(d, l);
    });
  }

  test('certificates issued before it: CERT_WITHOUT_PUBLISH_URL each, gone once renewed', async () => {
    const dir = await published();
    const r = await lint(dir);
    expect(r.checked.publishUrl).toBe('http://ca.example.com:8080');
    expect(r.findings.map((f) => `${f.code} ${f.file}`).sort()).toEqual([
      'CERT_WITHOUT_PUBLISH_URL client/alice.crt',
      'CERT_WITHOUT_PUBLISH_URL client/bob.crt',
      'CERT_WITHOUT_PUBLISH_URL server/server.crt',
    ]);
    for (const name of ['alice', 'bob', 'server']) {
      const renewed = await cli(['renew', name, '--dir', dir], { MTLS_CA_PASSWORD: CA_PASSWORD });
      expect(renewed.code, renewed.stderr).toBe(0);
    }
    expect((await lint(dir)).findings).toEqual([]);
  });

  test('no OCSP responder certificate: OCSP_RESPONDER_MISSING (not FILE_MISSING)', async () => {
    const dir = await published((_d, l) => fs.rmSync(l.ocspCert));
    const r = await lint(dir);
    expect(r.findings.filter((f) => f.file === 'ca/ocsp.crt').map((f) => f.code)).toEqual([
      'OCSP_RESPONDER_MISSING',
    ]);
  });

  test('a responder certificate without OCSPSigning, signed by the CA key with openssl: OCSP_RESPONDER_INVALID', async () => {
    const dir = await published((d, l) => {
      const caKey = path.join(d, 'ca-plain.key');
      runOk('openssl', ['pkey', '-in', l.caKey, '-passin', `pass:${CA_PASSWORD}`, '-out', caKey]);
      const request = path.join(d, 'ocsp.csr');
      runOk('openssl', ['x509', '-x509toreq', '-in', l.ocspCert, '-signkey', l.ocspKey, '-out', request]);
      // no -extfile: the new certificate has no extensions, so no extended key usage
      runOk('openssl', [
        'x509',
        '-req',
        '-in',
        request,
        '-CA',
        l.caCert,
        '-CAkey',
        caKey,
        '-days',
        '7',
        '-out',
        l.ocspCert,
      ]);
      fs.rmSync(request);
      fs.rmSync(caKey);
    });
    const invalid = (await lint(dir)).findings.find((f) => f.code === 'OCSP_RESPONDER_INVALID');
    expect(invalid).toMatchObject({ file: 'ca/ocsp.crt', problem: 'not-for-ocsp', severity: 'error' });
  });
});
