/**
 * Bad input around a CA key in a PKCS#11 token (SoftHSM 2): a wrong PIN, no PIN, a missing token or key, a key
 * of another type or of another CA, a module that does not load, a label in use. Each is one error line with its
 * code, a hint, exit 1, and nothing written — neither in the CA directory nor in the token. Commands run in
 * this process (test/helpers/softhsm.ts), which logs out of the token at the end of each, so that a wrong PIN
 * meets a token nobody is logged in to, as in a process of its own; `serve` is the real binary, whose claim is
 * that the process stops with an error rather than waiting at a prompt.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { layout } from '../../src/store/layout.js';
import { PIN, SOFTHSM_TOOLS, softHsm, tokenCli } from '../helpers/softhsm.js';
import { describeWithTools, runOk, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const CA_PASSWORD = 'file-ca-password';

const hsm = softHsm();
const { ok, run: mtls, runBinary } = tokenCli(hsm);
const root = tempDir('mtls-ca-pkcs11-errors-');
let n = 0;
const freshDir = () => path.join(root, `${n++}`, 'ssl');

/** The error line and hint of a failed command, and its exit code. */
function failure(r: { code: number; stderr: string }) {
  return { code: r.code, lines: r.stderr.trimEnd().split('\n') };
}

describeWithTools(SOFTHSM_TOOLS, 'a CA key in a PKCS#11 token: bad input', () => {
  const TOKEN = 'pkcs11:token=errors;object=ca-key';

  // A label in use, for init and move-key to refuse: made here, so that the tests do not depend on their order.
  beforeAll(async () => {
    await ok(freshDir(), ['init', '--ca-name', 'First', '--ca-key', 'pkcs11:token=errors;object=taken']);
  });

  /** Runs `init` that must fail, and checks that it left no directory and no new object in the token. */
  async function initFails(args: string[], env: Record<string, string | undefined> = {}) {
    const dir = freshDir();
    const before = hsm.objects('errors');
    const r = await mtls(dir, ['init', '--ca-name', 'Failing CA', ...args], env);
    expect(fs.existsSync(dir)).toBe(false);
    expect(hsm.objects('errors')).toBe(before);
    return failure(r);
  }

  test('a wrong PIN', async () => {
    expect(await initFails(['--ca-key', TOKEN], { MTLS_CA_PKCS11_PIN: 'wrong-pin' })).toEqual({
      code: 1,
      lines: [
        'error: log in to token "errors": wrong PIN (BAD_PIN)',
        'hint: set MTLS_CA_PKCS11_PIN, or add pin-source=file:PATH to the URI (a file whose first line is the PIN)',
      ],
    });
  });

  test('no PIN at all (and no terminal to ask at)', async () => {
    const r = await initFails(['--ca-key', TOKEN], { MTLS_CA_PKCS11_PIN: undefined });
    expect(r.lines[0]).toBe('error: open token "errors": no PIN was given (PASSWORD_REQUIRED)');
    expect(r.code).toBe(1);
  });

  test('the PIN from pin-source=file:, and a PIN file that is missing', async () => {
    const pinFile = path.join(root, 'missing.pin');
    const r = await initFails(['--ca-key', `${TOKEN}?pin-source=file:${pinFile}`], {
      MTLS_CA_PKCS11_PIN: undefined,
    });
    expect(r.lines[0]).toMatch(new RegExp(`^error: read pin-source ${pinFile}: .* \\(NOT_FOUND\\)$`));
  });

  test('a PIN inside the URI is refused before anything is opened', async () => {
    const r = await initFails(['--ca-key', `${TOKEN}?pin-value=${PIN}`]);
    expect(r.code).toBe(1);
    expect(r.lines[0]).toBe(
      'error: --ca-key: use the PKCS#11 URI: it holds the PIN (pin-value), which would show in the process list and shell history (INVALID_ARGUMENT)',
    );
    expect(r.lines[1]).toBe(
      'hint: leave pin-value out: set MTLS_CA_PKCS11_PIN, or add pin-source=file:PATH to the URI (a file whose first line is the PIN)',
    );
    expect(r.lines.join('\n')).not.toContain(PIN);
  });

  test('a token that is not there', async () => {
    const r = await initFails(['--ca-key', 'pkcs11:token=no-such-token;object=ca-key']);
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(
      /^error: open token "no-such-token": no such token \(the module has .*"errors".*\) \(TOKEN_NOT_FOUND\)$/,
    );
    expect(r.lines[1]).toMatch(/^hint: name a token the module has by its label/);
  });

  test('a module path that does not exist, and a library that is no PKCS#11 module', async () => {
    const missing = await initFails(['--ca-key', TOKEN], {
      MTLS_CA_PKCS11_MODULE: '/nonexistent/libpkcs11.so',
    });
    expect(missing.lines[0]).toMatch(
      /^error: load PKCS#11 module \/nonexistent\/libpkcs11\.so: .* \(PKCS11_MODULE\)$/,
    );
    expect(missing.lines[1]).toMatch(/^hint: set MTLS_CA_PKCS11_MODULE/);
    const libz = fs.realpathSync(runOk('sh', ['-c', 'ls /usr/lib/*/libz.so.1 | head -n 1']).stdout.trim());
    const notPkcs11 = await initFails(['--ca-key', TOKEN], { MTLS_CA_PKCS11_MODULE: libz });
    expect(notPkcs11.lines[0]).toMatch(
      new RegExp(`^error: load PKCS#11 module ${libz}: .* \\(PKCS11_MODULE\\)$`),
    );
  });

  test('no module given', async () => {
    const r = await initFails(['--ca-key', TOKEN], { MTLS_CA_PKCS11_MODULE: undefined });
    expect(r.lines).toEqual([
      'error: open the token: no PKCS#11 module was given (PKCS11_MODULE)',
      `hint: set MTLS_CA_PKCS11_MODULE (or module-path= in the URI) to the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so`,
    ]);
  });

  test('an Ed25519 CA key, which mtls-ca does not make in a token', async () => {
    const r = await initFails(['--ca-key', TOKEN, '--key-type', 'ed25519']);
    expect(r.lines[0]).toMatch(/a token key of type ed25519 is not supported .* \(UNSUPPORTED\)$/);
  });

  test('a label the token already uses: its key is kept', async () => {
    const r = await initFails(['--ca-key', 'pkcs11:token=errors;object=taken']);
    expect(r.lines).toEqual([
      'error: generate the CA key in the token: token "errors" already holds an object labelled "taken" (ALREADY_EXISTS)',
      'hint: choose another object= label: a key in a token is never replaced',
    ]);
    expect(hsm.objects('errors', 'privkey')).toContain('label:      taken');
  });

  describe('a CA whose token key cannot be used', () => {
    let dir: string;
    beforeAll(async () => {
      dir = freshDir();
      await ok(dir, ['init', '--ca-name', 'Broken CA', '--ca-key', 'pkcs11:token=other;object=ca-key']);
    });

    /** issue-client that must fail, leaving the directory as it was. */
    async function issueFails(env: Record<string, string | undefined> = {}) {
      const before = snapshot(dir);
      const r = await mtls(dir, ['issue-client', 'eve'], env);
      expect(snapshot(dir)).toEqual(before);
      return failure(r);
    }

    test('a wrong PIN', async () => {
      expect((await issueFails({ MTLS_CA_PKCS11_PIN: 'wrong-pin' })).lines[0]).toBe(
        'error: log in to token "other": wrong PIN (BAD_PIN)',
      );
    });

    test('serve --crl-auto-renew without a PIN: an error at the start, never a prompt', async () => {
      const before = snapshot(dir);
      const r = await runBinary(dir, ['serve', '--crl-auto-renew', '--port', '0'], {
        MTLS_CA_PKCS11_PIN: undefined,
      });
      expect(failure(r)).toEqual({
        code: 1,
        lines: [
          'error: open token "other": no PIN was given (PASSWORD_REQUIRED)',
          'hint: set MTLS_CA_PKCS11_PIN, or add pin-source=file:PATH to the URI (a file whose first line is the PIN)',
        ],
      });
      expect(snapshot(dir)).toEqual(before);
    });

    test("another CA's key of the same label and type (the URI names another token)", async () => {
      const otherDir = freshDir();
      await ok(otherDir, [
        'init',
        '--ca-name',
        'Other CA',
        '--ca-key',
        'pkcs11:token=errors;object=same-label',
      ]);
      const uriFile = layout(dir).caKeyUri;
      const own = fs.readFileSync(uriFile, 'utf8');
      // as a person who copied the directory to a host whose token holds another CA's key would have it
      fs.writeFileSync(uriFile, 'pkcs11:token=errors;object=same-label;type=private\n');
      try {
        expect(await issueFails()).toEqual({
          code: 1,
          lines: [
            `error: check the token key: it does not sign for ${layout(dir).caCert} (another CA's key) (KEY_MISMATCH)`,
            'hint: name the private key made for this CA with object= and id=; p11tool --list-all --login "pkcs11:token=LABEL" lists its keys',
          ],
        });
      } finally {
        fs.writeFileSync(uriFile, own);
      }
    });

    test('a key of another type under its label', async () => {
      const id = /id=((?:%[0-9a-f]{2})+)/
        .exec(fs.readFileSync(layout(dir).caKeyUri, 'utf8'))![1]!
        .replaceAll('%', '');
      // the CA's key, unless the test that deletes it ran first
      if (hsm.objects('other', 'privkey').includes('label:      ca-key'))
        hsm.tool('other', ['--delete-object', '--type', 'privkey', '--id', id]);
      hsm.tool('other', ['--keypairgen', '--key-type', 'rsa:2048', '--label', 'ca-key', '--id', id]);
      expect((await issueFails()).lines[0]).toBe(
        'error: use key "ca-key" of token "other": it is rsa-2048, and the CA certificate\'s key is ecdsa-p256 (WRONG_KEY_TYPE)',
      );
    });

    test('no key under its label any more', async () => {
      hsm.tool('other', ['--delete-object', '--type', 'privkey', '--label', 'ca-key']);
      expect(await issueFails()).toEqual({
        code: 1,
        lines: [
          'error: use key "ca-key" of token "other": the token has no private key of that label and id (KEY_NOT_FOUND)',
          'hint: check object= (and id=) of the URI; p11tool --list-all --login "pkcs11:token=LABEL" lists its keys',
        ],
      });
    });
  });

  test('move-key to a label the token already uses: the key file stays, the token key too', async () => {
    const dir = freshDir();
    const env = { MTLS_CA_PASSWORD: CA_PASSWORD };
    await ok(dir, ['init', '--ca-name', 'Staying CA'], env);
    const before = snapshot(dir);
    const objects = hsm.objects('errors');
    const r = await mtls(dir, ['ca', 'move-key', '--to', 'pkcs11:token=errors;object=taken'], env);
    expect(failure(r)).toEqual({
      code: 1,
      lines: [
        'error: write the CA key into the token: token "errors" already holds an object labelled "taken" (ALREADY_EXISTS)',
        'hint: choose another object= label: a key in a token is never replaced',
      ],
    });
    expect(snapshot(dir)).toEqual(before);
    expect(hsm.objects('errors')).toBe(objects);
  });

  test('move-key with a wrong CA password writes nothing into the token', async () => {
    const dir = freshDir();
    await ok(dir, ['init', '--ca-name', 'Locked CA'], { MTLS_CA_PASSWORD: CA_PASSWORD });
    const before = snapshot(dir);
    const objects = hsm.objects('errors');
    const r = await mtls(dir, ['ca', 'move-key', '--to', 'pkcs11:token=errors;object=fresh'], {
      MTLS_CA_PASSWORD: 'not-the-password',
    });
    expect(failure(r).lines[0]).toMatch(/wrong password \(BAD_PASSWORD\)$/);
    expect(snapshot(dir)).toEqual(before);
    expect(hsm.objects('errors')).toBe(objects);
  });
});
