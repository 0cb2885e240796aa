/**
 * The README's browser step end to end: the real Chromium (through playwright-core) opens the real `mtls-ca
 * serve` process with the `client_<name>.p12` files `issue-client` wrote — both `.p12` profiles — their
 * generated passwords, and reads the page a user would see. Playwright presents the certificate through its
 * own TLS proxy, so the origin must match the URL exactly.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, test } from 'vitest';
import { makeCa } from '../helpers/ca-setup.js';
import { localhostAddress, openPage, useChromium } from '../helpers/chromium.js';
import { within } from '../helpers/poll.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { CUSTOMER_1, clientP12, eventLines, removeUsers, type ServeProcess, serverPool } from './helpers.js';

describeWithTools(['chromium'], 'Chromium opens mtls-ca serve with the CLI’s .p12 files (Playwright)', () => {
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

  /** Opens `urlPath` on `server` as `client` (a `.p12` name, or none) and returns what a user sees. */
  function open(server: ServeProcess, client: string | undefined, urlPath: string, screenshot: string) {
    const origin = `https://localhost:${server.port}`;
    const p12 = client === undefined ? undefined : clientP12(D, client);
    return openPage(browser(), `${origin}${urlPath}`, {
      clientCertificates: p12 ? [{ origin, pfx: readFileSync(p12.file), passphrase: p12.password }] : [],
      screenshot: path.join(root, screenshot),
    });
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
