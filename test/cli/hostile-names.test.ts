/**
 * Hostile names, through the real CLI (main() in-process): each is refused with one line that quotes it
 * escaped, a hint, exit 1, and the CA directory byte for byte as it was. Requests for sign-csr come from the
 * real `openssl req`; a NUL, which no shell argument can carry, goes in through openssl's DER: extension syntax.
 */
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { Certificate, signCertificate } from '../../src/pki/certificate.js';
import {
  authorityKeyIdentifier,
  basicConstraints,
  extendedKeyUsage,
  keyIdentifier,
  subjectAltName,
} from '../../src/pki/extensions.js';
import { parsePrivateKey } from '../../src/pki/keys.js';
import { OID } from '../../src/pki/oids.js';
import { cli } from '../helpers/cli.js';
import { x509Print } from '../helpers/openssl.js';
import { describeWithTools, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const env = { MTLS_CA_PASSWORD: 'ca-pw-hostile', MTLS_CA_STORE_PASSWORD: 'store-pw' };

/** The DER of a subjectAltName holding one GeneralName, as `openssl req -addext 'subjectAltName=DER:…'` takes it. */
function sanDer(tag: number, value: string): string {
  const bytes = Buffer.from(value, 'latin1');
  const name = Buffer.concat([Buffer.from([tag, bytes.length]), bytes]);
  return Buffer.concat([Buffer.from([0x30, name.length]), name]).toString('hex');
}

/**
 * A request made by `openssl req` with a fresh P-256 key in `<base>.key`, written to `<base>.csr`; `subj` and
 * the `-addext` value are passed as given (UTF-8).
 */
function opensslRequest(base: string, subj: string, addext?: string): string {
  runOk('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${base}.key`,
    '-utf8',
    '-subj',
    subj,
    ...(addext ? ['-addext', addext] : []),
    '-out',
    `${base}.csr`,
  ]);
  return `${base}.csr`;
}

describeWithTools(['openssl'], 'hostile names are refused, and nothing changes', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');
  let csrCount = 0;

  const opensslCsr = (subj: string, addext?: string) =>
    opensslRequest(path.join(root, `request-${++csrCount}`), subj, addext);

  /** Runs the command, expects exit 1 with exactly these two lines, and the directory unchanged. */
  async function refused(args: string[], error: string, hint: string) {
    const before = snapshot(dir);
    const r = await cli([...args, '--dir', dir], env);
    expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({
      code: 1,
      stderr: `error: ${error}\nhint: ${hint}\n`,
      stdout: '',
    });
    expect(snapshot(dir)).toEqual(before);
  }

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
    for (const name of ['pavel', 'alice']) {
      const r = await cli(['issue-client', name, '--role', 'user', '--dir', dir], env);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  describe('sign-csr', () => {
    const WILDCARD = 'a wildcard must cover at least two labels ("*.example.com", not "*.com")';
    test.each([
      {
        what: 'a dNSName with an embedded NUL (good.example\\0.evil.example)',
        subj: '/CN=web',
        addext: `subjectAltName=DER:${sanDer(0x82, 'good.example\0.evil.example')}`,
        profile: 'server',
        refusal:
          'DNS name "good.example\\x00.evil.example": it contains a control character (\\x00) (INVALID_ARGUMENT)',
      },
      {
        what: 'a bare "*" dNSName',
        subj: '/CN=web',
        addext: 'subjectAltName=DNS:*',
        profile: 'server',
        refusal: `DNS name "*": ${WILDCARD} (INVALID_ARGUMENT)`,
      },
      {
        what: 'a "*.com" dNSName',
        subj: '/CN=wild',
        addext: 'subjectAltName=DNS:*.com',
        profile: 'server',
        refusal: `DNS name "*.com": ${WILDCARD} (INVALID_ARGUMENT)`,
      },
      {
        what: 'a NUL in an email SAN of a client request',
        subj: '/CN=mallory',
        addext: `subjectAltName=DER:${sanDer(0x81, 'mallory@example.com\0.evil')}`,
        profile: 'client',
        refusal:
          'email address "mallory@example.com\\x00.evil": it contains a control character (\\x00) (INVALID_ARGUMENT)',
      },
      {
        what: 'a NUL in a URI SAN of a client request',
        subj: '/CN=mallory',
        addext: `subjectAltName=DER:${sanDer(0x86, 'https://good.example\0.evil.example/')}`,
        profile: 'client',
        refusal:
          'URI "https://good.example\\x00.evil.example/": it contains a control character (\\x00) (INVALID_ARGUMENT)',
      },
      {
        what: 'URI:javascript:alert(1)',
        subj: '/CN=mallory',
        addext: 'subjectAltName=URI:javascript:alert(1)',
        profile: 'client',
        refusal:
          'URI "javascript:alert(1)": its scheme "javascript" is not one we sign (https, spiffe, urn) (INVALID_ARGUMENT)',
      },
      {
        what: 'a bad SAN the client profile would leave out (not trimmed)',
        subj: '/CN=mallory',
        addext: 'subjectAltName=DNS:*,email:mallory@example.com',
        profile: 'client',
        refusal: `DNS name "*": ${WILDCARD} (INVALID_ARGUMENT)`,
      },
      {
        what: 'a subject CN with U+202E (right-to-left override)',
        subj: '/CN=\u202Elper.exe',
        profile: 'client',
        refusal:
          'client name (subject CN) "\\u202elper.exe": it contains a bidirectional control character (\\u202e) (INVALID_NAME)',
      },
      {
        what: 'a server CN with U+200B (zero-width space)',
        subj: '/CN=web\u200B.example',
        addext: 'subjectAltName=DNS:web.example',
        profile: 'server',
        refusal:
          'common name "web\\u200b.example": it contains an invisible character (\\u200b) (INVALID_NAME)',
      },
    ])('$what: refused as a whole, shown escaped', async ({ subj, addext, profile, refusal }) => {
      const csr = opensslCsr(subj, addext);
      await refused(
        ['sign-csr', csr, '--profile', profile],
        `sign ${csr}: the request asks for ${refusal}`,
        'the request is refused as a whole; ask for a new one without that name',
      );
    });

    test('"*.example.com" is signed', async () => {
      const good = opensslCsr('/CN=wild.example.com', 'subjectAltName=DNS:*.example.com');
      const r = await cli(['sign-csr', good, '--profile', 'server', '--dir', dir, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ certificate: { dns: ['*.example.com'] } });
    });

    test('a CN that reads like an existing name (Pavel beside pavel) is refused, naming it', async () => {
      const csr = opensslCsr('/CN=Pavel');
      await refused(
        ['sign-csr', csr],
        `sign ${csr}: the name "pavel" exists, and "Pavel" reads the same (it differs only in case or Unicode form) (ALREADY_EXISTS)`,
        'use "pavel" (and --force to replace its certificate), or choose another name',
      );
    });

    test('a SAN type we never issue (an otherName UPN) is named in a warning, not dropped unseen', async () => {
      const csr = opensslCsr(
        '/CN=upn-user',
        'subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:upn-user@corp.example,email:upn-user@corp.example',
      );
      const r = await cli(['sign-csr', csr, '--dir', dir, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('warning: left out of the client certificate: otherName\n');
      expect(r.json()).toMatchObject({
        ignored: ['otherName'],
        certificate: { email: ['upn-user@corp.example'] },
      });
    });

    test('a request with two subjectAltName extensions is refused (which one counts would be up to the reader)', async () => {
      // openssl refuses a second subjectAltName by name, not a second one by OID
      const csr = opensslCsr('/CN=web2', 'subjectAltName=DNS:a.example');
      const both = path.join(root, 'two-sans.csr');
      runOk('openssl', [
        'req',
        '-new',
        '-key',
        path.join(root, `request-${csrCount}.key`),
        '-subj',
        '/CN=web2',
        '-addext',
        'subjectAltName=DNS:a.example',
        '-addext',
        `2.5.29.17=DER:${sanDer(0x82, 'b.example')}`,
        '-out',
        both,
      ]);
      expect(
        runOk('openssl', ['asn1parse', '-in', both]).stdout.match(/Subject Alternative Name/g),
      ).toHaveLength(2);
      expect(
        runOk('openssl', ['asn1parse', '-in', csr]).stdout.match(/Subject Alternative Name/g),
      ).toHaveLength(1);
      await refused(
        ['sign-csr', both, '--profile', 'server'],
        `read ${both}: the request has 2 subjectAltName extensions (PARSE_FAILED)`,
        'put every name in one subjectAltName extension',
      );
    });
  });

  describe('issue-client', () => {
    test('an email with a control character (a@b.c\\x01) is refused', async () => {
      await refused(
        ['issue-client', 'r3', '--email', 'a@b.c\x01'],
        'use email address "a@b.c\\x01": it contains a control character (\\x01) (INVALID_ARGUMENT)',
        'use an address like alice@example.com',
      );
    });

    test.each([
      [
        'pav\u200Bel',
        '"pav\\u200bel": it contains an invisible character (\\u200b)',
        'remove the \\u200b: a name must read as it is stored',
      ],
      [
        '\u202Elper',
        '"\\u202elper": it contains a bidirectional control character (\\u202e)',
        'remove the \\u202e: a name must read as it is stored',
      ],
    ])('the user name %j is refused', async (name, shown, hint) => {
      await refused(['issue-client', name], `use client name ${shown} (INVALID_NAME)`, hint);
    });

    test.each(['con', 'nul', 'COM1', 'nul.txt'])('the Windows device name %j is refused', async (name) => {
      const device = name.split('.')[0]!;
      await refused(
        ['issue-client', name],
        `use client name "${name}": it is the reserved Windows device name "${device}" (with or without an extension) (INVALID_NAME)`,
        'choose another name: Windows cannot open files named like this',
      );
    });

    test('Pavel while pavel exists is refused, naming pavel — also with --force', async () => {
      for (const force of [[], ['--force']]) {
        await refused(
          ['issue-client', 'Pavel', ...force],
          'issue client Pavel: the name "pavel" exists, and "Pavel" reads the same (it differs only in case or Unicode form) (ALREADY_EXISTS)',
          'use "pavel" (and --force to replace its certificate), or choose another name',
        );
      }
      await refused(
        ['issue-client', 'ｐａｖｅｌ'],
        'issue client ｐａｖｅｌ: the name "pavel" exists, and "ｐａｖｅｌ" reads the same (it differs only in case or Unicode form) (ALREADY_EXISTS)',
        'use "pavel" (and --force to replace its certificate), or choose another name',
      );
    });

    test('a batch naming one user twice in different case is refused before anything is made', async () => {
      const list = path.join(root, 'team.txt');
      fs.writeFileSync(list, 'zoe user\nZoe admin\n');
      await refused(
        ['issue-client', '--from', list],
        `read ${list} line 2: "Zoe" reads the same as "zoe" on line 1 (INVALID_ARGUMENT)`,
        'list each user once, in one spelling',
      );
    });
  });

  describe('hosts', () => {
    /** init in a new directory: refused with these two lines, and the directory never made. */
    async function initRefused(args: string[], error: string, hint: string) {
      const fresh = path.join(root, `fresh-${args.join('-').replace(/\W+/g, '')}`);
      const r = await cli(['init', '--dir', fresh, ...args], env);
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 1,
        stderr: `error: ${error}\nhint: ${hint}\n`,
      });
      expect(fs.existsSync(fresh)).toBe(false);
    }

    test('init --host "*.com" is refused and creates nothing', async () => {
      await initRefused(
        ['--host', '*.com'],
        'use host "*.com": not an IP address, nor a DNS name: a wildcard must cover at least two labels ("*.example.com", not "*.com") (INVALID_ARGUMENT)',
        'pass hosts like localhost, api.example.com, 127.0.0.1 or ::1',
      );
    });

    test('init --ca-name with U+202E is refused and creates nothing', async () => {
      await initRefused(
        ['--ca-name', 'ACME \u202Eexe.AC'],
        'use CA name "ACME \\u202eexe.AC": it contains a bidirectional control character (\\u202e) (INVALID_NAME)',
        'remove the \\u202e: a name must read as it is stored',
      );
    });

    test('issue-server "*" is refused', async () => {
      await refused(
        ['issue-server', '*', '--name', 'star'],
        'use host "*": not an IP address, nor a DNS name: a wildcard must cover at least two labels ("*.example.com", not "*.com") (INVALID_ARGUMENT)',
        'pass hosts like localhost, api.example.com, 127.0.0.1 or ::1',
      );
    });

    test('issue-server --name Server beside init\'s "server" is refused, naming it', async () => {
      await refused(
        ['issue-server', 'other.example', '--name', 'Server'],
        'issue server Server: the name "server" exists, and "Server" reads the same (it differs only in case or Unicode form) (ALREADY_EXISTS)',
        'use "server" (and --force to replace its certificate), or choose another name',
      );
    });
  });

  test('renew refuses to sign again a certificate that holds a hostile name', async () => {
    const r = await cli(['issue-server', 'legacy.example', '--name', 'legacy', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    // What an older version signed: the same serial and key as the inventory's, with a bare "*" among its names.
    const file = path.join(dir, 'server/legacy.crt');
    const current = Certificate.from(fs.readFileSync(file), file);
    const caKey = parsePrivateKey(
      fs.readFileSync(path.join(dir, 'ca/ca.key')),
      env.MTLS_CA_PASSWORD,
      'ca.key',
    );
    const caCert = Certificate.from(fs.readFileSync(path.join(dir, 'ca/ca.crt')), 'ca.crt');
    const legacy = signCertificate(
      {
        serial: Buffer.from(current.serialHex, 'hex'),
        issuer: caCert.subjectDer,
        subject: current.subjectDer,
        notBefore: current.notBefore,
        notAfter: current.notAfter,
        publicKey: current.publicKey,
        extensions: [
          basicConstraints(false),
          extendedKeyUsage([OID.serverAuth]),
          subjectAltName({ dns: ['legacy.example', '*'] }),
          authorityKeyIdentifier(keyIdentifier(createPublicKey(caKey))),
        ],
      },
      caKey,
    );
    fs.writeFileSync(file, legacy.toPem());
    await refused(
      ['renew', 'legacy'],
      `renew legacy: ${file} holds DNS name "*": a wildcard must cover at least two labels ("*.example.com", not "*.com") (INVALID_ARGUMENT)`,
      'issue a new certificate with valid names instead, and revoke this one',
    );
  });
});

describeWithTools(['openssl'], 'sign-csr follows the duplicate-name rule of issue-client', () => {
  const root = tempDir();
  const dir = path.join(root, 'ssl');

  const aliceCsr = () => opensslRequest(path.join(root, 'alice'), '/CN=alice');

  const statuses = async () =>
    (await cli(['list', '--dir', dir, '--json']))
      .json<{
        certificates: { name: string; serial: string; status: string }[];
      }>()
      .certificates.filter((c) => c.name === 'alice');

  beforeAll(async () => {
    expect((await cli(['init', '--dir', dir], env)).code).toBe(0);
  });

  test('a second valid alice is refused without --force, also with --out elsewhere', async () => {
    const first = await cli(['issue-client', 'alice', '--dir', dir, '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const serial = first.json<{ certificate: { serial: string } }>().certificate.serial;
    const csr = aliceCsr();
    const before = snapshot(dir);
    for (const extra of [[], ['--out', path.join(root, 'alice-elsewhere.crt')]]) {
      const r = await cli(['sign-csr', csr, ...extra, '--dir', dir], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^error: sign ${escapeRe(csr)} for client alice: a valid certificate exists until \\d{4}-\\d\\d-\\d\\d \\(${escapeRe(path.join(dir, 'client/alice.crt'))}\\) \\(ALREADY_EXISTS\\)\\n` +
            'hint: pass --force to replace it \\(the old one is marked superseded\\)\\n$',
        ),
      );
    }
    expect(snapshot(dir)).toEqual(before);
    expect(fs.existsSync(path.join(root, 'alice-elsewhere.crt'))).toBe(false);
    expect((await statuses()).map((c) => [c.serial, c.status])).toEqual([[serial, 'valid']]);
  });

  test('with --force the new one is signed and the old one marked superseded, as issue-client does', async () => {
    const [old] = await statuses();
    const r = await cli(['sign-csr', path.join(root, 'alice.csr'), '--force', '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const signed = r.json<{ certificate: { serial: string }; superseded: string }>();
    expect(signed.superseded).toBe(old!.serial);
    const after = Object.fromEntries((await statuses()).map((c) => [c.serial, c.status]));
    expect(after).toEqual({ [old!.serial]: 'superseded', [signed.certificate.serial]: 'valid' });
    // and the certificate in client/alice.crt is the new one, for the CSR's key
    const crt = path.join(dir, 'client/alice.crt');
    expect(x509Print(['x509', '-in', crt, '-noout', '-pubkey'])).toBe(
      runOk('openssl', ['pkey', '-in', path.join(root, 'alice.key'), '-pubout']).stdout,
    );
  });

  test('after a revocation, alice may be signed again without --force (as issue-client allows)', async () => {
    // both: the one --force superseded still authenticates until it is revoked
    expect((await cli(['revoke', 'alice', '--all', '--dir', dir], env)).code).toBe(0);
    const r = await cli(['sign-csr', path.join(root, 'alice.csr'), '--dir', dir, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ superseded?: string }>().superseded).toBeUndefined();
  });
});
