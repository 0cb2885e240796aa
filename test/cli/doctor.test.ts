/**
 * `mtls-ca doctor` through main(): its exit codes (0 for OK or a clean directory, 1 otherwise, 2 for flags
 * that do not go together), its `--json` documents, every bad input as one error line with a hint and
 * nothing changed on disk — and, with the real binary under strace, a commit a killed command left, which
 * doctor reports and does not finish (it writes nothing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { VERDICT_CODES } from '../../src/ops/doctor-verdict.js';
import type { MtlsServer } from '../../src/server/mtls-server.js';
import { layout } from '../../src/store/layout.js';
import { cli } from '../helpers/cli.js';
import { isRoot } from '../helpers/mounts.js';
import { freePorts } from '../helpers/ports.js';
import { killAtFirst, straceWorks } from '../helpers/strace.js';
import { describeWithTools, inCi, tempDir } from '../helpers/tools.js';
import { type RunningServer, startServer } from '../server/helpers.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'doctor-cli-password' };
const root = tempDir('mtls-ca-doctor-cli-');
const dir = path.join(root, 'ssl');
const l = layout(dir);
const running: MtlsServer[] = [];
let need: RunningServer;

beforeAll(async () => {
  for (const args of [['init'], ['issue-client', 'alice', '--role', 'user']]) {
    const r = await cli([...args, '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
  }
  need = await startServer(running, { dir });
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

/** doctor with `--dir`, checked to have changed nothing in the CA directory. */
async function doctor(args: string[], extraEnv: Record<string, string> = {}) {
  const before = snapshot(dir);
  const r = await cli(['doctor', ...args, '--dir', dir], extraEnv);
  expect(snapshot(dir)).toEqual(before);
  return r;
}

describe('live: exit code, text and --json', () => {
  test('OK exits 0: the verdict first, then the evidence', async () => {
    const r = await doctor([`${need.url}/`, '--client', 'alice']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'OK: mutual TLS works: the server accepted CN=alice and answered HTTP 404; nothing to fix.',
    );
    expect(lines.map((x) => x.slice(0, 16).trim())).toEqual([
      lines[0]!.slice(0, 16).trim(),
      'Connection:',
      'TLS:',
      'Server chain:',
      '',
      '',
      'Client auth:',
      'Presented:',
      'Lint:',
      'Server said:',
      'Took:',
    ]);
    expect(r.stdout).toContain(`Client auth:  requested, from CN=mtls-ca CA`);
    expect(r.stdout).toContain(`Lint:         no problem against ${dir}/ca/ca.crt; ${dir}/ca/crl.pem`);
  });

  test('--json: {verdict, cause, fix, evidence}, exit 1 for anything but OK', async () => {
    const r = await doctor([`${need.url}/health`, '--json']);
    expect(r.code).toBe(1);
    const j = r.json<{ verdict: string; cause: string; fix: string; evidence: Record<string, unknown> }>();
    expect(Object.keys(j)).toEqual(['verdict', 'cause', 'fix', 'evidence']);
    expect(j.verdict).toBe('NO_CLIENT_CERT');
    expect(VERDICT_CODES).toContain(j.verdict);
    expect(j.cause).toMatch(/^the server asks for a client certificate issued by CN=mtls-ca CA/);
    expect(j.fix).toBe('pass --client NAME, --p12 FILE or --cert FILE --key FILE');
    expect(j.evidence).toMatchObject({
      url: `${need.url}/health`,
      tls: { version: 'TLSv1.3' },
      clientAuth: { requested: true, caNames: [expect.stringMatching(/^CN=mtls-ca CA/)] },
      reaction: { kind: 'closed', how: 'fin' },
    });
  });

  test('--p12 with its .pass, and --cert/--key, present the same certificate', async () => {
    const p12 = await doctor([`${need.url}/`, '--p12', l.client('alice').p12, '--json']);
    const pem = await doctor([
      `${need.url}/`,
      '--cert',
      l.client('alice').cert,
      '--key',
      l.client('alice').key,
      '--json',
    ]);
    for (const r of [p12, pem]) {
      expect(r.code, r.stdout).toBe(0);
      expect(
        r.json<{ evidence: { clientCertificate: { subject: string } } }>().evidence.clientCertificate.subject,
      ).toBe('CN=alice');
    }
  });

  test('nothing listening: UNREACHABLE, exit 1', async () => {
    const [port] = await freePorts(1);
    const r = await doctor([`https://127.0.0.1:${port}/`, '--client', 'alice']);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe(
      `UNREACHABLE: nothing accepts connections at https://127.0.0.1:${port}/ (ECONNREFUSED); start the server, or check the host, the port and any firewall between.`,
    );
  });
});

describe('lint: exit code, text and --json', () => {
  test('a clean directory exits 0 with one line, and the encrypted CA key as a note', async () => {
    const r = await doctor([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `clean: ${dir} — checked 3 certificates, 2 keys, 2 .p12 files, 2 trust stores, the CRL, 1 user\n` +
        'note: ca/ca.key: encrypted; set MTLS_CA_PASSWORD or pass --ca-password-file to check it against the CA certificate\n',
    );
  });

  test('MTLS_CA_PASSWORD checks the CA key too', async () => {
    const r = await doctor(['--json'], env);
    expect(r.code).toBe(0);
    expect(r.json<{ clean: boolean; notes: unknown[]; checked: { keys: number } }>()).toMatchObject({
      clean: true,
      notes: [],
      checked: { keys: 3 },
    });
  });

  test('findings exit 1: each on one line with its fix', async () => {
    fs.chmodSync(l.client('alice').key, 0o640);
    try {
      const r = await cli(['doctor', '--dir', dir, '--host', 'api.example.com']);
      expect(r.code).toBe(1);
      expect(r.stdout.split('\n').slice(0, 3)).toEqual([
        `error    client/alice.key  MODE_TOO_OPEN: mode 0640: a secret others on this machine can read — chmod 600 ${dir}/client/alice.key`,
        `error    server/           HOST_NOT_COVERED: no server certificate holds api.example.com: clients connecting to it refuse the server — issue one: mtls-ca issue-server api.example.com --dir ${dir}`,
        `2 errors, 0 warnings in ${dir} — checked 3 certificates, 2 keys, 2 .p12 files, 2 trust stores, the CRL, 1 user`,
      ]);
    } finally {
      fs.chmodSync(l.client('alice').key, 0o600);
    }
  });
});

describe('bad input: one error line, a hint, the exit code, nothing changed', () => {
  test.each<[string, string[], number, RegExp]>([
    [
      'a live flag without a URL',
      ['--client', 'alice'],
      2,
      /^error: use --client: it needs a URL to diagnose \(USAGE\)$/m,
    ],
    [
      'two client certificates',
      ['https://localhost/', '--client', 'alice', '--p12', 'x.p12'],
      2,
      /they name two client certificates \(USAGE\)/,
    ],
    [
      '--cert without --key',
      ['https://localhost/', '--cert', 'a.crt'],
      2,
      /^error: use --cert: it needs --key \(USAGE\)$/m,
    ],
    [
      '--host with a URL',
      ['https://localhost/', '--host', 'a'],
      2,
      /it is for the lint, without a URL \(USAGE\)/,
    ],
    [
      'no TLS version left',
      ['https://localhost/', '--tls-min', '1.3', '--tls-max', '1.2'],
      2,
      /no version is left \(USAGE\)/,
    ],
    ['an unknown TLS version', ['https://localhost/', '--tls-max', '1.1'], 2, /Allowed choices are 1.2, 1.3/],
    [
      'a URL that is not https',
      ['http://localhost:8443/'],
      1,
      /^error: use URL http:\/\/localhost:8443\/: the scheme is http, and mutual TLS needs https \(INVALID_ARGUMENT\)$/m,
    ],
    ['no URL at all', ['not a url'], 1, /^error: use URL "not a url": not a URL \(INVALID_ARGUMENT\)$/m],
    [
      'an unknown client',
      ['https://localhost/', '--client', 'zed'],
      1,
      /^error: use client zed: .*zed.crt is not there \(NOT_FOUND\)\nhint: see `mtls-ca list`$/m,
    ],
    [
      'a missing --cert file',
      ['https://localhost/', '--cert', 'nope.crt', '--key', 'nope.key'],
      1,
      /^error: read --cert nope.crt: no such file \(NOT_FOUND\)$/m,
    ],
  ])('%s', async (_what, args, code, message) => {
    const r = await doctor(args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    if (code === 1) expect(r.stderr).toMatch(/\nhint: .+\n$/);
    expect(r.stdout).toBe('');
  });

  test("alice's certificate with another key: INVALID_ARGUMENT before any connection", async () => {
    const r = await doctor([
      'https://127.0.0.1:1/',
      '--cert',
      l.client('alice').cert,
      '--key',
      l.server().key,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: use ${l.client('alice').cert} with ${l.server().key}: the key does not belong to the certificate CN=alice (INVALID_ARGUMENT)\nhint: give the key the certificate was issued for\n`,
    );
  });

  test('a .p12 whose password is wrong, and one with no password anywhere', async () => {
    const wrong = path.join(root, 'wrong.pass');
    fs.writeFileSync(wrong, 'not the password\n');
    const bad = await doctor([
      'https://127.0.0.1:1/',
      '--p12',
      l.client('alice').p12,
      '--password-file',
      wrong,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\(BAD_PASSWORD\)\n/);
    const copy = path.join(root, 'alice.p12');
    fs.copyFileSync(l.client('alice').p12, copy);
    const none = await doctor(['https://127.0.0.1:1/', '--p12', copy]);
    expect(none.stderr).toBe(
      `error: read --p12 ${copy}: a PKCS#12 file needs its password (PASSWORD_REQUIRED)\nhint: pass --password-file F, set MTLS_CA_STORE_PASSWORD, or put it in ${copy}.pass\n`,
    );
  });

  test('the lint of a folder that is no CA: CA_NOT_INITIALIZED with the hint to create one', async () => {
    const r = await cli(['doctor', '--dir', path.join(root, 'empty')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\(CA_NOT_INITIALIZED\)\nhint: create one with `mtls-ca init --dir .*empty`\n$/);
  });
});

describeWithTools(['strace'], 'a commit a killed command left', () => {
  test('is reported, not finished: doctor writes nothing; the next command finishes it', async (ctx) => {
    const why = isRoot ? await straceWorks() : 'needs root for strace fault injection';
    if (why) {
      if (inCi) throw new Error(why);
      ctx.skip(why);
    }
    const copy = path.join(root, 'killed');
    fs.cpSync(dir, copy, { recursive: true });
    const killed = await killAtFirst(
      ['revoke', 'alice', '--dir', copy],
      env,
      'pwrite64',
      `${copy}/ca/inventory.jsonl`,
    );
    expect(killed.signal).toBe('SIGKILL');
    const before = snapshot(copy);
    const r = await cli(['doctor', '--dir', copy, '--json']);
    expect(snapshot(copy)).toEqual(before);
    expect(r.code).toBe(1);
    expect(r.json<{ findings: { code: string; state?: string }[] }>().findings[0]).toEqual({
      code: 'COMMIT_INTERRUPTED',
      severity: 'error',
      file: '.',
      state: 'pending',
    });
    expect((await cli(['list', '--dir', copy])).code).toBe(0);
    const after = await cli(['doctor', '--dir', copy, '--json']);
    expect(after.json<{ findings: { code: string }[] }>().findings.map((f) => f.code)).not.toContain(
      'COMMIT_INTERRUPTED',
    );
  });
});
