/**
 * The publish URL and the OCSP responder through the CLI: init --publish-url, publish-url, what issuing,
 * renewing, revoking and listing do with them, and every refusal (one line, its code, a hint, the exit code,
 * nothing changed on disk). The responder's renewal schedule is checked at the operation, with its clock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { resignCrl } from '../../src/ops/crl.js';
import { responderRenewalReason } from '../../src/ops/publishing.js';
import { Certificate } from '../../src/pki/certificate.js';
import { CaStore } from '../../src/store/ca-store.js';
import { caProblems } from '../helpers/ca-invariants.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-password', MTLS_CA_STORE_PASSWORD: 'store-pw' };
const URL_BASE = 'http://ca.example.com:8080';

/** The error line and hint of a failed command, and that it changed nothing in `dir`. */
async function refused(args: string[], dir: string, code = 1) {
  const before = snapshot(dir);
  const r = await cli(args, env);
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(snapshot(dir)).toEqual(before);
  const [error, hint, ...rest] = r.stderr.trimEnd().split('\n');
  expect(rest).toEqual([]);
  return { error, hint };
}

const urlsOf = (file: string) => Certificate.from(fs.readFileSync(file)).revocationUrls;

describe('a CA made with init --publish-url', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const store = new CaStore(dir);

  beforeAll(async () => {
    const r = await cli(['init', '--dir', dir, '--publish-url', `${URL_BASE}/`], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\/ssl\/ca\/ocsp\.key +0600 {2}OCSP responder key \(for publish\)\n/);
    expect(r.stdout).toContain(`Revocation: certificates name the CRL and OCSP responder at ${URL_BASE};`);
  });

  test('its server certificate and the clients after it carry the URLs; the CA itself does not', async () => {
    const expected = {
      crl: [`${URL_BASE}/crl`],
      ocsp: [`${URL_BASE}/ocsp`],
      caIssuers: [`${URL_BASE}/ca.crt`],
    };
    expect(urlsOf(store.paths.server().cert)).toEqual(expected);
    expect((await cli(['issue-client', 'alice', '--dir', dir], env)).code).toBe(0);
    expect(urlsOf(store.paths.client('alice').cert)).toEqual(expected);
    expect(urlsOf(store.paths.caCert)).toEqual({ crl: [], ocsp: [], caIssuers: [] });
    expect(caProblems(dir)).toEqual([]);
  });

  test('inspect shows where a certificate says its CRL and OCSP responder are', async () => {
    const r = await cli(['inspect', store.paths.client('alice').cert]);
    expect(r.stdout).toContain(`  CRL:          ${URL_BASE}/crl\n  OCSP:         ${URL_BASE}/ocsp\n`);
    const json = (await cli(['inspect', store.paths.client('alice').cert, '--json'])).json<{
      certificates: { revocationUrls: unknown }[];
    }>();
    expect(json.certificates[0]!.revocationUrls).toEqual({
      crl: [`${URL_BASE}/crl`],
      ocsp: [`${URL_BASE}/ocsp`],
      caIssuers: [`${URL_BASE}/ca.crt`],
    });
    expect((await cli(['inspect', store.paths.caCert])).stdout).not.toContain('OCSP:');
  });

  test('publish-url shows it, as text and --json', async () => {
    const text = await cli(['publish-url', '--dir', dir]);
    expect(text.stdout).toBe(
      [
        `Publish URL: ${URL_BASE}`,
        `  CRL distribution point  ${URL_BASE}/crl`,
        `  OCSP responder          ${URL_BASE}/ocsp`,
        `  CA issuers              ${URL_BASE}/ca.crt`,
        '',
      ].join('\n'),
    );
    expect((await cli(['publish-url', '--dir', dir, '--json'])).json()).toEqual({
      publishUrl: URL_BASE,
      urls: { crl: `${URL_BASE}/crl`, ocsp: `${URL_BASE}/ocsp`, caIssuers: `${URL_BASE}/ca.crt` },
    });
  });

  test('list shows the responder (profile ocsp); list --expiring never does: it renews itself', async () => {
    const listed = (await cli(['list', '--profile', 'ocsp', '--dir', dir, '--json'])).json<{
      certificates: { name: string; status: string }[];
    }>();
    expect(listed.certificates).toMatchObject([{ name: 'ocsp-responder', status: 'valid' }]);
    const expiring = await cli(['list', '--expiring', '30d', '--dir', dir]);
    expect(expiring.code).toBe(0);
    expect(expiring.stdout).not.toContain('ocsp-responder');
  });

  test('revoke ocsp-responder → refused: clients never check it', async () => {
    const { error, hint } = await refused(['revoke', 'ocsp-responder', '--dir', dir], dir);
    expect(error).toBe(
      'error: revoke ocsp-responder: that is an OCSP responder certificate, which clients do not check for revocation (INVALID_ARGUMENT)',
    );
    expect(hint).toBe('hint: to replace the responder now, remove ca/ocsp.key and run `mtls-ca crl`');
  });

  test('revoke says the publish server answers it, and audit verify still holds', async () => {
    const r = await cli(['revoke', 'alice', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`\`mtls-ca publish\` at ${URL_BASE} answers "revoked" within 1 s`);
    expect((await cli(['audit', 'verify', '--dir', dir])).code).toBe(0);
    expect(caProblems(dir)).toEqual([]);
  });

  test('the responder is re-issued with a CRL once half its lifetime has passed, or its lifetime changed', async () => {
    const first = Certificate.from(fs.readFileSync(store.paths.ocspCert));
    const ca = store.readCaCertificate();
    const at = (days: number) => new Date(first.notBefore.getTime() + days * 86_400_000);
    expect(responderRenewalReason(store, ca, at(3), 7)).toBeUndefined();
    expect(responderRenewalReason(store, ca, at(3.6), 7)).toBe('half-life');
    expect(responderRenewalReason(store, ca, at(1), 30)).toBe('lifetime-changed');
    expect(
      (await resignCrl(store, { caPassword: env.MTLS_CA_PASSWORD, now: at(1) })).responder,
    ).toBeUndefined();
    const later = await resignCrl(store, { caPassword: env.MTLS_CA_PASSWORD, now: at(3.6) });
    expect(later.responder).toMatchObject({ reason: 'half-life', file: store.paths.ocspCert });
    const second = Certificate.from(fs.readFileSync(store.paths.ocspCert));
    expect(second.serialHex).toBe(later.responder!.serial);
    expect(second.notAfter.getTime() - second.notBefore.getTime()).toBe(7 * 86_400_000 + 5 * 60_000);
    expect(caProblems(dir)).toEqual([]);
  });
});

describe('publish-url on an existing CA, and renew', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  const store = new CaStore(dir);

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    expect((await cli(['issue-client', 'bob', '--dir', dir], env)).code).toBe(0);
  });

  test('a CA without one: publish-url says so; publish refuses to start', async () => {
    const r = await cli(['publish-url', '--dir', dir]);
    expect(r.stdout).toContain('Publish URL: none — certificates carry no CRL or OCSP URLs.');
    const { error, hint } = await refused(['publish', '--dir', dir, '--port', '0'], dir);
    expect(error).toBe(
      `error: publish ${dir}: the CA has no publish URL, so no certificate names this server (NOT_FOUND)`,
    );
    expect(hint).toBe(
      'hint: set one first: `mtls-ca publish-url http://<this host>:8080` (then renew the certificates that should carry it)',
    );
  });

  test.each([
    ['https://ca.example.com', 'it must be http:, not https:'],
    ['ftp://ca.example.com', 'it must be an http: URL, not ftp:'],
    ['http://user:pw@ca.example.com', 'it must not carry a user name or password'],
    [
      'http://ca.example.com/?x=1',
      'it must not have a query or fragment: the CRL and OCSP paths are added to it',
    ],
    ['ca.example.com:8080', 'it must be an http: URL, not ca.example.com:'],
    ['not a url', 'not a URL'],
  ])('publish-url %s → INVALID_ARGUMENT (%s), before any password', async (url, cause) => {
    const { error, hint } = await refused(['publish-url', url, '--dir', dir], dir);
    expect(error).toBe(`error: use publish URL ${JSON.stringify(url)}: ${cause} (INVALID_ARGUMENT)`);
    expect(hint).toMatch(/^hint: /);
  });

  test('init --publish-url https://… is refused before anything is made', async () => {
    const other = path.join(root, 'other');
    const { error } = await refused(['init', '--dir', other, '--publish-url', 'https://x.example'], other);
    expect(error).toBe(
      'error: use publish URL "https://x.example": it must be http:, not https: (INVALID_ARGUMENT)',
    );
    expect(fs.existsSync(other)).toBe(false);
  });

  test('a URL and --clear → usage error (exit 2)', async () => {
    const { error } = await refused(['publish-url', URL_BASE, '--clear', '--dir', dir], dir, 2);
    expect(error).toBe('error: use publish-url: a URL and --clear exclude each other (USAGE)');
  });

  test('publish --ca-password-file without --auto-renew → usage error (exit 2)', async () => {
    const { error } = await refused(['publish', '--ca-password-file', 'x', '--dir', dir], dir, 2);
    expect(error).toBe(
      'error: use --ca-password-file with --auto-renew: publish reads the CA key only to renew (USAGE)',
    );
  });

  test('setting it issues the responder and an audit line; renew gives an older certificate the URLs', async () => {
    expect(urlsOf(store.paths.client('bob').cert).ocsp).toEqual([]);
    const r = await cli(['publish-url', URL_BASE, '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      publishUrl: URL_BASE,
      responder: { file: store.paths.ocspCert, reason: 'missing' },
    });
    expect(JSON.parse(fs.readFileSync(store.paths.settings, 'utf8'))).toEqual({ publishUrl: URL_BASE });
    const audit = fs
      .readFileSync(store.paths.auditLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(audit.at(-2)).toMatchObject({ op: 'settings', detail: { publishUrl: URL_BASE } });
    expect(audit.at(-1)).toMatchObject({ op: 'issue', detail: { profile: 'ocsp', renewal: 'missing' } });
    expect((await cli(['renew', 'bob', '--dir', dir], env)).code).toBe(0);
    expect(urlsOf(store.paths.client('bob').cert).ocsp).toEqual([`${URL_BASE}/ocsp`]);
    expect(caProblems(dir)).toEqual([]);
  });

  test('--clear: later certificates carry nothing', async () => {
    const r = await cli(['publish-url', '--clear', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Publishing turned off (it was ${URL_BASE})`);
    expect((await cli(['issue-client', 'carol', '--dir', dir], env)).code).toBe(0);
    expect(urlsOf(store.paths.client('carol').cert)).toEqual({ crl: [], ocsp: [], caIssuers: [] });
  });

  test('a settings file that is not one → PARSE_FAILED with the way out', async () => {
    fs.writeFileSync(store.paths.settings, '{"publishUrl": 8080}\n');
    try {
      const { error, hint } = await refused(['issue-client', 'dave', '--dir', dir], dir);
      expect(error).toBe(`error: read ${store.paths.settings}: not a valid settings file (PARSE_FAILED)`);
      expect(hint).toContain('hint: it must look like {"publishUrl": "http://ca.example.com:8080"}');
    } finally {
      fs.rmSync(store.paths.settings);
    }
  });
});
