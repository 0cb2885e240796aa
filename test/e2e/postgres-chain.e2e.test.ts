/**
 * A CA with an intermediate, kept in PostgreSQL, rotated while a joined host serves: host A creates it and
 * issues, host B (`init --join`) runs the real `serve --database-url`, and curl calls B with A's clients. After
 * `ca rotate` on A, B accepts a client of the new intermediate and still those of the old one — both in force
 * — and refuses an old client revoked after the rotation: the host's copies of the CAs in force and of every
 * CA's CRL follow the database. OpenSSL checks the same verdicts against B's files.
 */
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { CA_PASSWORD } from '../helpers/ca-setup.js';
import { cli } from '../helpers/cli.js';
import { within } from '../helpers/poll.js';
import { describeWithPostgres, freshDatabase } from '../helpers/postgres.js';
import { run, tempDir } from '../helpers/tools.js';
import { CUSTOMER_1, curl, type ServeProcess, serverPool } from './helpers.js';

const root = tempDir();
/** How long a change made on host A may take to reach B's server: generous, for a loaded machine. */
const BOUND_MS = 10_000;

describeWithPostgres('a rotated intermediate CA in PostgreSQL, served by a joined host', () => {
  const pool = serverPool();
  const hostA = path.join(root, 'host-a');
  const hostB = path.join(root, 'host-b');
  let env: Record<string, string>;
  let server: ServeProcess;

  const ok = async (args: string[]) => {
    const r = await cli(args, env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  };
  /** curl to B's server as `name`, a client issued on host A, trusting the root alone. */
  const asClient = (name: string) =>
    curl(`${server.url}/customer/1`, [
      '--cacert',
      path.join(hostB, 'ca', 'root.crt'),
      '--cert',
      path.join(hostA, 'client', `${name}.crt`),
      '--key',
      path.join(hostA, 'client', `${name}.key`),
    ]);
  const served = async (name: string) => (await asClient(name)).body === CUSTOMER_1;
  /** openssl verify of a client of A against B's root, CAs in force and CRLs, every CRL checked. */
  const verifyOnB = (name: string) =>
    run('openssl', [
      'verify',
      '-crl_check_all',
      '-CRLfile',
      path.join(hostB, 'ca', 'crl.pem'),
      '-untrusted',
      path.join(hostB, 'ca', 'ca-bundle.pem'),
      '-CAfile',
      path.join(hostB, 'ca', 'root.crt'),
      path.join(hostA, 'client', `${name}.crt`),
    ]);

  beforeAll(async () => {
    env = {
      MTLS_CA_PASSWORD: CA_PASSWORD,
      MTLS_CA_DATABASE_URL: await freshDatabase(),
      MTLS_CA_STORE_PASSWORD: 'chain-store-password',
    };
    await ok(['init', '--intermediate', '--dir', hostA, '--ca-name', 'Chain E2E']);
    await ok(['issue-client', 'olga', '--role', 'user', '--dir', hostA]);
    await ok(['issue-client', 'oscar', '--role', 'user', '--dir', hostA]);
    await ok(['init', '--join', '--dir', hostB]);
    server = await pool.start(['serve', '--dir', hostB, '--port', '0'], {
      cwd: root,
      env: { MTLS_CA_DATABASE_URL: env.MTLS_CA_DATABASE_URL },
    });
  });

  test('after ca rotate on A, B serves the new and the old CA; an old client revoked after it is refused', async () => {
    expect(await asClient('olga')).toMatchObject({ status: 200, body: CUSTOMER_1 });

    await ok(['ca', 'rotate', '--dir', hostA]);
    await ok(['issue-client', 'nina', '--role', 'user', '--dir', hostA]);
    // B learns of the new intermediate from the database: no restart, no command run on B.
    await within(BOUND_MS, 'nina (new intermediate) served by B', () => served('nina'));
    expect(await served('olga')).toBe(true);

    await ok(['revoke', 'olga', '--dir', hostA]);
    await within(
      BOUND_MS,
      'olga (old intermediate, revoked) refused by B',
      async () => !(await served('olga')),
    );
    expect(await asClient('olga')).toMatchObject({ status: 0 });
    expect(await asClient('oscar')).toMatchObject({ status: 200, body: CUSTOMER_1 });
    expect(await asClient('nina')).toMatchObject({ status: 200, body: CUSTOMER_1 });

    expect(verifyOnB('nina').stdout).toMatch(/nina\.crt: OK\n$/);
    expect(verifyOnB('oscar').stdout).toMatch(/oscar\.crt: OK\n$/);
    expect(verifyOnB('olga').stderr).toMatch(/certificate revoked/);
    expect(server.stdout()).toMatch(/state-synced/);
    expect(server.stdout()).not.toMatch(/database-down/);
  });
});
