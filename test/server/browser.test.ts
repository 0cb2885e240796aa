/**
 * The tutorial's last step — open https://localhost:8443/customer/1 in a browser with a client certificate —
 * with the real Chromium driven by Playwright. Playwright presents the certificate through its own TLS proxy
 * (`clientCertificates`), which is why the origin must match the URL exactly.
 */
import dns from 'node:dns/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createMtlsServer, type MtlsServer } from '../../src/server/mtls-server.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { type ClientFiles, createCaDir, type TestCaDir } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

describeWithTools(['chromium'], 'Chromium with a client certificate (Playwright)', () => {
  const root = tempDir('mtls-ca-browser-');
  let ca: TestCaDir;
  let pavel: ClientFiles;
  let mallory: ClientFiles;
  let server: MtlsServer;
  let browser: Browser;
  let origin: string;
  const lines: string[] = [];

  beforeAll(async () => {
    ca = await createCaDir(path.join(root, 'ssl'), { pavel: { roles: ['user'] } });
    pavel = await ca.issueClient('pavel');
    mallory = await ca.issueClient('mallory');
    // Bind where `localhost` resolves, or the browser's connection would go to an address nobody serves.
    const addresses = await dns.lookup('localhost', { all: true });
    const host = addresses.find((a) => a.address === '127.0.0.1')?.address ?? addresses[0]!.address;
    server = createMtlsServer({ dir: ca.dir, host, port: 0, log: (l) => lines.push(l) });
    const { port } = await server.listen();
    origin = `https://localhost:${port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
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
    await server?.close();
  });

  async function open(client: ClientFiles, urlPath: string, screenshot: string) {
    const context = await browser.newContext({
      clientCertificates: [{ origin, certPath: client.cert, keyPath: client.key }],
      // Our CA is not in the proxy's trust store; the server's identity is not what this test checks.
      ignoreHTTPSErrors: true,
    });
    try {
      const page = await context.newPage();
      const response = await page.goto(`${origin}${urlPath}`);
      const file = path.join(root, screenshot);
      await page.screenshot({ path: file });
      expect(existsSync(file)).toBe(true);
      return {
        status: response?.status(),
        // biome-ignore lint/performance/useDomNodeTextContent: Playwright's locator, not the DOM: the rendered text a user sees
        text: await page.locator('body').innerText(),
        title: await page.title(),
      };
    } finally {
      await context.close();
    }
  }

  test('pavel opens /customer/1 and sees the JSON', async () => {
    const r = await open(pavel, '/customer/1', 'pavel-customer-1.png');
    expect(r.status).toBe(200);
    expect(r.text).toBe('{"id":1,"name":"Customer1"}');
    expect(lines.some((l) => / pavel GET \/customer\/1 200 /.test(l))).toBe(true);
  });

  test('an unknown user sees the "Access denied" page with their name', async () => {
    const r = await open(mallory, '/customer/1', 'mallory-access-denied.png');
    expect(r.status).toBe(403);
    expect(r.title).toBe('403 Access denied');
    expect(r.text).toBe('Access denied\n\naccess denied\n\nUser: mallory\n\nReason: UNKNOWN_USER');
  });
});
