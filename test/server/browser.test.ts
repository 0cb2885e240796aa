/**
 * The tutorial's last step — open https://localhost:8443/customer/1 in a browser with a client certificate —
 * with the real Chromium driven by Playwright, against the server built in this process.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createMtlsServer, type MtlsServer } from '../../src/server/mtls-server.js';
import { DISABLED_FEATURES, localhostAddress, openPage, useChromium } from '../helpers/chromium.js';
import { describeWithTools, tempDir } from '../helpers/tools.js';
import { type ClientFiles, createCaDir, type TestCaDir } from './helpers.js';

describeWithTools(['chromium'], 'Chromium with a client certificate (Playwright)', () => {
  const root = tempDir('mtls-ca-browser-');
  const browser = useChromium();
  let ca: TestCaDir;
  let pavel: ClientFiles;
  let mallory: ClientFiles;
  let server: MtlsServer;
  let origin: string;
  const lines: string[] = [];

  beforeAll(async () => {
    ca = await createCaDir(path.join(root, 'ssl'), { pavel: { roles: ['user'] } });
    pavel = await ca.issueClient('pavel');
    mallory = await ca.issueClient('mallory');
    server = createMtlsServer({
      dir: ca.dir,
      host: await localhostAddress(),
      port: 0,
      log: (l) => lines.push(l),
    });
    const { port } = await server.listen();
    origin = `https://localhost:${port}`;
  });

  afterAll(async () => {
    await server?.close();
  });

  const open = (client: ClientFiles, urlPath: string, screenshot: string) =>
    openPage(browser(), `${origin}${urlPath}`, {
      clientCertificates: [{ origin, certPath: client.cert, keyPath: client.key }],
      screenshot: path.join(root, screenshot),
    });

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
