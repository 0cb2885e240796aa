/**
 * The README's browser step end to end: the real Chromium (through playwright-core) opens the real `mtls-ca
 * serve` process with the `client_<name>.p12` files `issue-client` wrote — both `.p12` profiles — their
 * generated passwords, and reads the page a user would see. Playwright presents the certificate through its
 * own TLS proxy, so the origin must match the URL exactly.
 */
import dns from 'node:dns/promises';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import {
  CUSTOMER_1,
  clientP12,
  createCaWithCli,
  eventLines,
  removeUsers,
  type ServeProcess,
  serverPool,
} from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

describeWithTools(['chromium'], 'Chromium opens mtls-ca serve with the CLI’s .p12 files (Playwright)', () => {
  const root = tempDir('mtls-ca-e2e-browser-');
  const D = path.join(root, 'D');
  const servers = serverPool();
  let need: ServeProcess;
  let want: ServeProcess;
  let browser: Browser;

  beforeAll(async () => {
    await createCaWithCli(D, {
      pavel: ['--role', 'user', '--p12-profile', 'compat'],
      anna: ['--role', 'user', '--p12-profile', 'modern'],
      stranger: [],
    });
    removeUsers(D, ['stranger']);
    // Bind where `localhost` resolves, or the browser would connect to an address nobody serves.
    const addresses = await dns.lookup('localhost', { all: true });
    const host = addresses.find((a) => a.address === '127.0.0.1')?.address ?? addresses[0]!.address;
    const serve = ['serve', '--dir', D, '--listen', host, '--port', '0'];
    [need, want] = await Promise.all([
      servers.start(serve, { cwd: root }),
      servers.start([...serve, '--client-auth', 'want'], { cwd: root }),
    ]);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 60_000,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  /**
   * A fresh context (no certificate or session carried over) that opens `urlPath` on `server` as `client`
   * (a `.p12` name, or none), screenshots the page into the temp folder and returns what a user sees.
   */
  async function open(server: ServeProcess, client: string | undefined, urlPath: string, screenshot: string) {
    const origin = `https://localhost:${server.port}`;
    const p12 = client === undefined ? undefined : clientP12(D, client);
    const context = await browser.newContext({
      clientCertificates: p12 ? [{ origin, pfx: readFileSync(p12.file), passphrase: p12.password }] : [],
      // Our CA is not in Chromium's or the proxy's trust store; curl and Java check the server's identity.
      ignoreHTTPSErrors: true,
    });
    try {
      const page = await context.newPage();
      const response = await page.goto(`${origin}${urlPath}`, { timeout: 30_000 });
      const file = path.join(root, screenshot);
      await page.screenshot({ path: file, timeout: 30_000 });
      expect(existsSync(file) && statSync(file).size > 0).toBe(true);
      return {
        status: response?.status(),
        // biome-ignore lint/performance/useDomNodeTextContent: Playwright's locator, not the DOM: the rendered text a user sees
        text: await page.locator('body').innerText({ timeout: 30_000 }),
        title: await page.title(),
      };
    } finally {
      await context.close();
    }
  }

  test.each([
    ['pavel', 'compat'],
    ['anna', 'modern'],
  ])('%s’s .p12 (--p12-profile %s) opens /customer/1 and sees the JSON', async (name, profile) => {
    const r = await open(need, name, '/customer/1', `${name}-${profile}-customer-1.png`);
    expect([r.status, r.text]).toEqual([200, CUSTOMER_1]);
    expect(need.stdout()).toMatch(new RegExp(` ${name} GET /customer/1 200 `));
  });

  test('an unknown user (stranger, removed from users.json) sees the "Access denied" page', async () => {
    const r = await open(need, 'stranger', '/customer/1', 'stranger-access-denied.png');
    expect(r.status).toBe(403);
    expect(r.title).toBe('403 Access denied');
    expect(r.text).toBe('Access denied\n\naccess denied\n\nUser: stranger\n\nReason: UNKNOWN_USER');
  });

  test('want: no certificate → the "Client certificate required" page', async () => {
    const r = await open(want, undefined, '/customer/1', 'no-certificate-want.png');
    expect(r.status).toBe(401);
    expect(r.title).toBe('401 Client certificate required');
    expect(r.text).toContain('Reason: NO_CERTIFICATE');
  });

  test('need: no certificate → the page does not load, and the server logs why', async () => {
    const before = eventLines(need.stdout(), 'tls-refused').length;
    await expect(open(need, undefined, '/customer/1', 'no-certificate-need.png')).rejects.toThrow(
      /net::ERR_/,
    );
    await within(5_000, 'tls-refused', () => eventLines(need.stdout(), 'tls-refused').length > before);
    const refused = eventLines(need.stdout(), 'tls-refused').slice(before);
    expect(refused).not.toEqual([]);
    expect(refused.filter((l) => !l.includes(' reason=NO_CERTIFICATE '))).toEqual([]);
  });
});
