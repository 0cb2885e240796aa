/**
 * The CRL in force over days, on a clock the test moves (test/helpers/clock.ts): the server warns before its
 * CRL expires and keeps warning, and with a renewal hook — the CLI's, re-signing through the same code as
 * `mtls-ca crl` — it publishes a fresh CRL at half the lifetime, so that a long-running server never locks
 * its users out. The CA directories are made by the real CLI (`main()` in this process); TLS, CRLs, files
 * and the directory lock are real, only the server's sense of time is moved.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { prepareCrlRenewal } from '../../src/cli/crl-renewal.js';
import { serverHints } from '../../src/cli/hints.js';
import { type Crl, createCrl } from '../../src/pki/crl.js';
import { crlRenewalTime } from '../../src/pki/crl-lifetime.js';
import { createLogger } from '../../src/server/log.js';
import { createMtlsServer, type MtlsServer, type MtlsServerOptions } from '../../src/server/mtls-server.js';
import { CaStore } from '../../src/store/ca-store.js';
import { opensslVerifyCaCrl, readAuditRecords, readCaCrl as readCrl } from '../helpers/ca-files.js';
import { cli, exitedZero } from '../helpers/cli.js';
import { type ManualClock, manualClock } from '../helpers/clock.js';
import { getCustomer } from '../helpers/https.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';

const PASSWORD = 'crl-schedule-ca-password';
const ENV = { MTLS_CA_PASSWORD: PASSWORD };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const running: MtlsServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

async function mtlsCa(args: string[]): Promise<void> {
  exitedZero(`mtls-ca ${args.join(' ')}`, await cli(args, ENV));
}

/** A CA directory made by the CLI, with client pavel (role user). */
async function caDirectory(dir: string): Promise<void> {
  await mtlsCa(['init', '--dir', dir]);
  await mtlsCa(['issue-client', 'pavel', '--role', 'user', '--dir', dir]);
}

interface Running {
  server: MtlsServer;
  url: string;
  /** The JSON event lines of the server and of its renewals, parsed. */
  events(event: string): Record<string, unknown>[];
  /** GET /customer/1 as pavel on a new connection. */
  asPavel(): Promise<{ status?: number; error?: string }>;
}

/**
 * createMtlsServer on 127.0.0.1:0 over `dir`, on `clock`, its log captured; with `renew`, the CLI's renewal
 * (CA password from the environment, as `serve --crl-auto-renew` reads it) logging to the same lines.
 */
async function start(
  dir: string,
  clock: ManualClock,
  o: { renew?: boolean; options?: Partial<MtlsServerOptions> } = {},
): Promise<Running> {
  const lines: string[] = [];
  const sink = (line: string) => lines.push(line);
  const now = () => new Date(clock.now());
  const io = { stdout: new PassThrough(), stderr: new PassThrough(), stdin: Readable.from([]), env: ENV };
  const logger = createLogger({ format: 'json', sink, now });
  const renewCrl = o.renew ? await prepareCrlRenewal(io, new CaStore(dir), {}, logger, now) : undefined;
  const server = createMtlsServer({
    dir,
    host: '127.0.0.1',
    port: 0,
    logFormat: 'json',
    log: sink,
    clock,
    renewCrl,
    ...serverHints(Boolean(o.renew)),
    ...o.options,
  });
  running.push(server);
  const { url } = await server.listen();
  const caFile = path.join(dir, 'ca', 'ca.crt');
  const pavel = { cert: path.join(dir, 'client', 'pavel.crt'), key: path.join(dir, 'client', 'pavel.key') };
  return {
    server,
    url,
    events: (event) =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === event),
    asPavel: () => getCustomer(url, caFile, pavel),
  };
}

/** Writes the CA's CRL with these dates (no CLI option back-dates a CRL), numbered after the current one. */
function writeCrl(dir: string, thisUpdate: Date, nextUpdate: Date): Crl {
  const ca = new CaStore(dir).loadCa(PASSWORD);
  const crl = createCrl({ ca, crlNumber: readCrl(dir).crlNumber + 1n, thisUpdate, nextUpdate, revoked: [] });
  writeFileSync(path.join(dir, 'ca', 'crl.pem'), crl.toPem());
  return crl;
}

describeWithTools(['openssl'], 'the CRL in force over days', () => {
  const root = tempDir('mtls-ca-crl-schedule-');

  describe('without renewal: a 7-day CRL', () => {
    const dir = path.join(root, 'warn');
    let crl: Crl;
    let clock: ManualClock;
    let s: Running;

    beforeAll(async () => {
      await caDirectory(dir);
      crl = readCrl(dir);
      clock = manualClock(crl.thisUpdate.getTime() + HOUR);
      s = await start(dir, clock);
    });

    test('the server warns from 48 h before its nextUpdate, every hour, with the command to run (it said nothing until everyone was locked out)', async () => {
      const nextUpdate = crl.nextUpdate.getTime();
      clock.advanceTo(nextUpdate - 48 * HOUR - 1);
      expect(s.events('crl-expiring')).toEqual([]);

      clock.advance(1);
      expect(s.events('crl-expiring')).toEqual([
        {
          time: new Date(nextUpdate - 48 * HOUR).toISOString(),
          type: 'event',
          level: 'warn',
          event: 'crl-expiring',
          message: `CRL expires at ${crl.nextUpdate.toISOString()}, in 48 h: from then on every client certificate is refused (CRL_HAS_EXPIRED) until a fresh CRL is published`,
          file: path.join(dir, 'ca', 'crl.pem'),
          crlNumber: '1',
          revoked: 0,
          nextUpdate: crl.nextUpdate.toISOString(),
          hoursLeft: 48,
          hint: 'run `mtls-ca crl` now and daily from cron, or serve with --crl-auto-renew',
        },
      ]);
      clock.advance(HOUR - 1);
      expect(s.events('crl-expiring')).toHaveLength(1);
      clock.advance(1);
      expect(s.events('crl-expiring')).toHaveLength(2);

      clock.advanceTo(nextUpdate - 1);
      expect(s.events('crl-expiring').map((e) => e.hoursLeft)).toEqual(
        Array.from({ length: 48 }, (_, i) => 48 - i),
      );
      expect(s.events('crl-expired')).toEqual([]);
      expect((await s.asPavel()).status).toBe(200);
    });

    test('at its nextUpdate every client is refused on the server’s clock, and that is said every hour', async () => {
      clock.advanceTo(crl.nextUpdate);
      expect(s.events('crl-expired')).toEqual([
        expect.objectContaining({ level: 'error', time: crl.nextUpdate.toISOString(), crlNumber: '1' }),
      ]);
      const before = s.events('tls-refused').length;
      const refused = await s.asPavel();
      expect([refused.status, typeof refused.error]).toEqual([undefined, 'string']);
      expect(s.events('tls-refused').slice(before)).toMatchObject([
        { reason: 'REVOCATION_UNAVAILABLE', detail: 'CRL_HAS_EXPIRED', subject: 'CN=pavel' },
      ]);

      clock.advance(HOUR - 1);
      expect(s.events('crl-expired')).toHaveLength(1);
      clock.advance(1);
      expect(s.events('crl-expired')).toHaveLength(2);
      expect(s.events('crl-expiring')).toHaveLength(48);
    });

    test('a CRL that lives 2 days is warned about from half its lifetime, not from the moment it is published', async () => {
      const thisUpdate = new Date(clock.now());
      const short = writeCrl(dir, thisUpdate, new Date(thisUpdate.getTime() + 2 * DAY));
      await within(2_000, 'the 2-day CRL is in force', () => s.server.crl()?.crlNumber === short.crlNumber);
      const before = s.events('crl-expiring').length;
      clock.advance(DAY - 1);
      expect(s.events('crl-expiring')).toHaveLength(before);
      clock.advance(1);
      expect(s.events('crl-expiring').slice(before)).toEqual([
        expect.objectContaining({ crlNumber: short.crlNumber.toString(), hoursLeft: 24 }),
      ]);
    });
  });

  describe('with renewal (serve --crl-auto-renew)', () => {
    const dir = path.join(root, 'renew');
    let clock: ManualClock;
    let s: Running;

    beforeAll(async () => {
      await caDirectory(dir);
      clock = manualClock(readCrl(dir).thisUpdate.getTime() + HOUR);
      s = await start(dir, clock, { renew: true });
    });

    test('half through its lifetime the CRL is re-signed like `mtls-ca crl` and applied; weeks later nobody was ever locked out or warned', async () => {
      const first = readCrl(dir);
      for (let n = 2n; n <= 5n; n++) {
        const old = readCrl(dir);
        const due = crlRenewalTime(old).getTime();
        clock.advanceTo(due - 1);
        expect(s.events('crl-renewed')).toHaveLength(Number(n - 2n));
        clock.advance(1);
        await within(5_000, `CRL number ${n} in force`, () => s.server.crl()?.crlNumber === n);

        const crl = readCrl(dir);
        // Signed at the server's time, with the lifetime of the one it replaced.
        expect(crl.thisUpdate.toISOString()).toBe(new Date(Math.floor(due / 1000) * 1000).toISOString());
        expect(crl.nextUpdate.getTime() - crl.thisUpdate.getTime()).toBe(7 * DAY);
        expect(s.events('crl-renewed').slice(Number(n - 2n))).toMatchObject([
          {
            level: 'info',
            message: `CRL number ${n} published: the one before was half through its lifetime`,
            crlNumber: n.toString(),
            reason: 'half-life',
            nextUpdate: crl.nextUpdate.toISOString(),
          },
        ]);
        expect((await s.asPavel()).status).toBe(200);
      }
      expect(clock.now() - first.nextUpdate.getTime()).toBeGreaterThan(6 * DAY);
      expect(s.events('crl-expiring')).toEqual([]);
      expect(s.events('crl-expired')).toEqual([]);

      opensslVerifyCaCrl(dir);
      const audit = await cli(['audit', 'verify', '--dir', dir, '--json'], ENV);
      expect(audit.json()).toMatchObject({ ok: true });
      expect(
        readAuditRecords(dir)
          .slice(-4)
          .map((r) => r.detail),
      ).toEqual(['2', '3', '4', '5'].map((crlNumber) => ({ crlNumber, revoked: 0, renewal: 'half-life' })));
    });

    test('a renewal that fails is logged with its cause and tried again an hour later', async () => {
      const keyFile = path.join(dir, 'ca', 'ca.key');
      copyFileSync(keyFile, `${keyFile}.saved`);
      writeFileSync(keyFile, 'not a key\n');
      const number = readCrl(dir).crlNumber;
      clock.advanceTo(crlRenewalTime(readCrl(dir)));
      await within(5_000, 'crl-renew-failed', () => s.events('crl-renew-failed').length === 1);
      expect(s.events('crl-renew-failed')[0]).toMatchObject({
        level: 'error',
        code: 'PARSE_FAILED',
        message: expect.stringMatching(/^renew the CRL: read .*ca\.key: /),
      });

      copyFileSync(`${keyFile}.saved`, keyFile);
      clock.advance(HOUR - 1);
      expect(s.events('crl-renewed')).toHaveLength(4);
      clock.advance(1);
      await within(5_000, 'the next CRL in force', () => s.server.crl()?.crlNumber === number + 1n);
      expect(s.events('crl-renew-failed')).toHaveLength(1);
      expect(s.events('crl-expiring')).toEqual([]);
    });
  });
});
