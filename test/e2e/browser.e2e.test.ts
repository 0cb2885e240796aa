/**
 * The README's (and the tutorial's) browser step end to end: the real Chromium (through playwright-core) opens
 * the real `mtls-ca serve` process with the certificates `issue-client` wrote — the `client_<name>.p12` files of
 * both `.p12` profiles with their generated passwords, and a PEM certificate and key — and reads the page a
 * user would see. Playwright presents the certificate through its own TLS proxy, so the origin must match the
 * URL exactly. `serve` builds its server with createMtlsServer, so these pages are also that factory's browser
 * test: one Chromium for both (a start costs the CPU of about three pages). The running browser's switches are
 * checked here too.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContextOptions } from 'playwright-core';
import { beforeAll, expect, test } from 'vitest';
import { layout } from '../../src/store/layout.js';
import { makeCa } from '../helpers/ca-setup.js';
import { DISABLED_FEATURES, localhostAddress, openPage, useChromium } from '../helpers/chromium.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { CUSTOMER_1, clientP12, eventLines, removeUsers, type ServeProcess, serverPool } from './helpers.js';

describeWithTools(['chromium'], 'Chromium opens mtls-ca serve with issue-client’s files (Playwright)', () => {
  const root = tempDir('mtls-ca-e2e-browser-');
  const D = path.join(root, 'D');
  const servers = serverPool();
  const browser = useChromium();
  let need: ServeProcess;
  let want: ServeProcess;

  beforeAll(async () => {
    await makeCa(D, {
      pavel: ['--role', 'user', '--p12-profile', 'compat'],
      anna: ['--role', 'user', '--p12-profile', 'modern'],
      stranger: [],
    });
    removeUsers(D, ['stranger']);
    const serve = ['serve', '--dir', D, '--listen', await localhostAddress(), '--port', '0'];
    [need, want] = await Promise.all([
      servers.start(serve, { cwd: root }),
      servers.start([...serve, '--client-auth', 'want'], { cwd: root }),
    ]);
  });

  /**
   * Opens `urlPath` on `server` as `client` (none: no certificate) and returns what a user sees.
   * @param client.name - whose certificate
   * @param client.files - `p12`: the `.p12` and its generated password; `pem`: the certificate and key files
   */
  function open(
    server: ServeProcess,
    client: { name: string; files: 'p12' | 'pem' } | undefined,
    urlPath: string,
    screenshot: string,
  ) {
    const origin = `https://localhost:${server.port}`;
    let certificate: NonNullable<BrowserContextOptions['clientCertificates']>[number] | undefined;
    if (client?.files === 'p12') {
      const p12 = clientP12(D, client.name);
      certificate = { origin, pfx: readFileSync(p12.file), passphrase: p12.password };
    } else if (client?.files === 'pem') {
      const files = layout(D).client(client.name);
      certificate = { origin, certPath: files.cert, keyPath: files.key };
    }
    return openPage(browser(), `${origin}${urlPath}`, {
      clientCertificates: certificate ? [certificate] : [],
      screenshot: path.join(root, screenshot),
    });
  }

  test.each([
    ['pavel', 'compat'],
    ['anna', 'modern'],
  ])('%s’s .p12 (--p12-profile %s) opens /customer/1 and sees the JSON', async (name, profile) => {
    const r = await open(need, { name, files: 'p12' }, '/customer/1', `${name}-${profile}-customer-1.png`);
    expect([r.status, r.text]).toEqual([200, CUSTOMER_1]);
    expect(need.stdout()).toMatch(new RegExp(` ${name} GET /customer/1 200 `));
  });

  test('an unknown user (stranger, removed from users.json; PEM files) sees the "Access denied" page with their name', async () => {
    const r = await open(
      need,
      { name: 'stranger', files: 'pem' },
      '/customer/1',
      'stranger-access-denied.png',
    );
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

  test('Chromium runs with Playwright’s disabled features and ours in one switch (it keeps only the last)', async () => {
    const cdp = await browser().newBrowserCDPSession();
    const { processInfo } = (await cdp.send('SystemInfo.getProcessInfo')) as {
      processInfo: { type: string; id: number }[];
    };
    await cdp.detach();
    const pid = processInfo.find((p) => p.type === 'browser')?.id;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const switches = argv.filter((a) => a.startsWith('--disable-features='));
    expect(switches).toHaveLength(1);
    const names = switches[0]!.slice('--disable-features='.length).split(',');
    expect(names).toEqual(expect.arrayContaining(DISABLED_FEATURES));
    // Playwright's own list (HTTPS upgrades, paint holding, …) is still there.
    expect(names.filter((n) => !DISABLED_FEATURES.includes(n))).not.toEqual([]);
  });
});
