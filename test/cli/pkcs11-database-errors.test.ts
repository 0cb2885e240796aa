/**
 * Bad input around a CA in PostgreSQL whose key is in a PKCS#11 token (SoftHSM 2): a wrong PIN, a token that
 * is not there, a module that does not load — at `init`, and later for a command that signs. Each is one error
 * line with its code, a hint, exit 1, and nothing written: not in the database (not even its tables, for
 * `init`), not in the host's directory, not in the token. Commands run in this process
 * (test/helpers/softhsm.ts); the one that needs another SOFTHSM2_CONF — a host without the token — is the real
 * binary, as SoftHSM reads it once per process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { describeWithPostgres, freshDatabase, query } from '../helpers/postgres.js';
import { SOFTHSM_TOOLS, softHsm, tokenCli } from '../helpers/softhsm.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const hsm = softHsm();
const { ok, run: mtls, runBinary } = tokenCli(hsm);
const root = tempDir('mtls-ca-pkcs11-db-errors-');
let n = 0;
const freshDir = () => path.join(root, `${n++}`, 'ssl');
const TOKEN = 'pkcs11:token=db-errors;object=ca-key';
const PIN_HINT =
  'hint: set MTLS_CA_PKCS11_PIN, or add pin-source=file:PATH to the URI (a file whose first line is the PIN)';

/** The error line and hint of a failed command, and its exit code. */
function failure(r: { code: number; stderr: string }) {
  return { code: r.code, lines: r.stderr.trimEnd().split('\n') };
}

/** Whether mtls-ca made its tables in the database at `url`. */
async function hasTables(url: string): Promise<boolean> {
  const [row] = await query(url, "SELECT to_regclass('mtls_ca.schema') IS NOT NULL AS made");
  return row?.made === true;
}

/** The database's state as the failed command must leave it: its version (bumped by every commit) and counts. */
async function databaseState(url: string) {
  const [row] = await query(
    url,
    `SELECT (SELECT version FROM mtls_ca.state) AS version, (SELECT count(*) FROM mtls_ca.certificate) AS certs,
            (SELECT count(*) FROM mtls_ca.audit) AS audit`,
  );
  return row;
}

describeWithTools(SOFTHSM_TOOLS, 'a CA in PostgreSQL with its key in a token: bad input', () => {
  describeWithPostgres('init --database-url --ca-key and the commands after it', () => {
    /** `init --database-url --ca-key` that must fail: no directory, no tables, no new object in the token. */
    async function initFails(args: string[], env: Record<string, string | undefined> = {}, url?: string) {
      const database = url ?? (await freshDatabase());
      const dir = freshDir();
      const objects = hsm.objects('db-errors');
      const before = url ? await databaseState(url) : undefined;
      const r = await mtls(dir, ['init', '--ca-name', 'Failing CA', ...args], {
        MTLS_CA_DATABASE_URL: database,
        ...env,
      });
      expect(fs.existsSync(dir)).toBe(false);
      expect(hsm.objects('db-errors')).toBe(objects);
      if (before) expect(await databaseState(database)).toEqual(before);
      else expect(await hasTables(database)).toBe(false);
      return failure(r);
    }

    test('a wrong PIN at init', async () => {
      expect(await initFails(['--ca-key', TOKEN], { MTLS_CA_PKCS11_PIN: 'wrong-pin' })).toEqual({
        code: 1,
        lines: ['error: log in to token "db-errors": wrong PIN (BAD_PIN)', PIN_HINT],
      });
    });

    test('a token that is not there at init', async () => {
      const r = await initFails(['--ca-key', 'pkcs11:token=no-such-token;object=ca-key']);
      expect(r.code).toBe(1);
      expect(r.lines[0]).toMatch(/^error: open token "no-such-token": no such token .* \(TOKEN_NOT_FOUND\)$/);
      expect(r.lines[1]).toMatch(/^hint: name a token the module has by its label/);
    });

    test('a module that does not exist at init', async () => {
      const r = await initFails(['--ca-key', TOKEN], { MTLS_CA_PKCS11_MODULE: '/nonexistent/libpkcs11.so' });
      expect(r.code).toBe(1);
      expect(r.lines[0]).toMatch(
        /^error: load PKCS#11 module \/nonexistent\/libpkcs11\.so: .* \(PKCS11_MODULE\)$/,
      );
      expect(r.lines[1]).toMatch(/^hint: set MTLS_CA_PKCS11_MODULE/);
    });

    test('init --ca-key on a database that holds a CA: the key made for it leaves the token again', async () => {
      const url = await freshDatabase();
      await ok(
        freshDir(),
        ['init', '--ca-name', 'First', '--ca-key', 'pkcs11:token=db-errors;object=first'],
        {
          MTLS_CA_DATABASE_URL: url,
        },
      );
      const r = await initFails(['--ca-key', 'pkcs11:token=db-errors;object=second'], {}, url);
      expect(r.code).toBe(1);
      expect(r.lines[0]).toMatch(
        /^error: create CA in postgres:\S+: the database holds a CA already \(CA_EXISTS\)$/,
      );
      expect(hsm.objects('db-errors')).not.toContain('second');
    });

    describe('a CA in the database whose token cannot be opened', () => {
      let url: string;
      const dir = freshDir();
      beforeAll(async () => {
        url = await freshDatabase();
        await ok(
          dir,
          ['init', '--ca-name', 'Token DB CA', '--ca-key', 'pkcs11:token=db-errors;object=in-use'],
          {
            MTLS_CA_DATABASE_URL: url,
          },
        );
      });

      /**
       * A command that signs, which must fail leaving the database and the directory as they were.
       * @param runner - in this process, or the real binary for another SOFTHSM2_CONF
       */
      async function signingFails(
        args: string[],
        env: Record<string, string | undefined>,
        runner: typeof mtls = mtls,
      ) {
        const [files, state] = [snapshot(dir), await databaseState(url)];
        const r = await runner(dir, args, { MTLS_CA_DATABASE_URL: url, ...env });
        expect(snapshot(dir)).toEqual(files);
        expect(await databaseState(url)).toEqual(state);
        return failure(r);
      }

      test('a wrong PIN', async () => {
        expect(await signingFails(['issue-client', 'eve'], { MTLS_CA_PKCS11_PIN: 'wrong-pin' })).toEqual({
          code: 1,
          lines: ['error: log in to token "db-errors": wrong PIN (BAD_PIN)', PIN_HINT],
        });
      });

      test('the token missing on this host', async () => {
        const empty = path.join(root, 'no-tokens');
        fs.mkdirSync(path.join(empty, 'tokens'), { recursive: true });
        const conf = path.join(empty, 'softhsm2.conf');
        fs.writeFileSync(conf, `directories.tokendir = ${empty}/tokens\nobjectstore.backend = file\n`);
        const r = await signingFails(['revoke', 'server'], { SOFTHSM2_CONF: conf }, runBinary);
        expect(r.code).toBe(1);
        expect(r.lines[0]).toMatch(/^error: open token "db-errors": no such token .* \(TOKEN_NOT_FOUND\)$/);
      });

      test('the module missing on this host', async () => {
        const r = await signingFails(['crl'], { MTLS_CA_PKCS11_MODULE: '/nonexistent/libsofthsm2.so' });
        expect(r.code).toBe(1);
        expect(r.lines[0]).toMatch(
          /^error: load PKCS#11 module \/nonexistent\/libsofthsm2\.so: .* \(PKCS11_MODULE\)$/,
        );
        const none = await signingFails(['issue-client', 'eve'], { MTLS_CA_PKCS11_MODULE: undefined });
        expect(none.lines).toEqual([
          'error: open the token: no PKCS#11 module was given (PKCS11_MODULE)',
          `hint: set MTLS_CA_PKCS11_MODULE (or module-path= in the URI) to the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so`,
        ]);
      });

      test('init --join with a wrong PIN sets up nothing', async () => {
        const other = freshDir();
        const state = await databaseState(url);
        const r = await mtls(other, ['init', '--join'], {
          MTLS_CA_DATABASE_URL: url,
          MTLS_CA_PKCS11_PIN: 'wrong',
        });
        expect(failure(r)).toEqual({
          code: 1,
          lines: ['error: log in to token "db-errors": wrong PIN (BAD_PIN)', PIN_HINT],
        });
        expect(fs.existsSync(other)).toBe(false);
        expect(await databaseState(url)).toEqual(state);
      });

      test('ca move-key of a CA whose key is in a token already', async () => {
        const r = await signingFails(['ca', 'move-key', '--to', 'pkcs11:token=db-errors;object=again'], {});
        expect(r.code).toBe(1);
        expect(r.lines[0]).toMatch(
          /^error: move the CA key: it is in a token already \(pkcs11:token=db-errors;object=in-use;/,
        );
      });
    });
  });
});
