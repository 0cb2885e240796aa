/**
 * The real Chromium, driven by playwright-core, for the browser tests: one browser per test file (a start
 * costs about a second of CPU), a fresh context per page so that no certificate or TLS session carries over.
 * Playwright presents a client certificate through its own TLS proxy, matched by origin: the URL must name
 * exactly the origin given.
 */
import dns from 'node:dns/promises';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContextOptions, chromium } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Browser chrome a headless test never shows, turned off because each costs CPU on every page (see "The
 * browser tests' Chromium" in docs/performance.md): the address bar's popup, two WebUI renderers that every
 * new window (so every context) starts; and the spare renderer Chromium starts ahead of the next navigation,
 * which a context that loads one page never makes.
 */
export const DISABLED_FEATURES = [
  'WebUIOmniboxPopup',
  'WebUIOmniboxAimPopup',
  'SpareRendererForSitePerProcess',
];

/** Starts {@link CHROMIUM} with Playwright's `--disable-features` and {@link DISABLED_FEATURES} merged. */
const LAUNCHER = fileURLToPath(new URL('./chromium-launch.sh', import.meta.url));

/**
 * Starts Chromium before the file's tests and closes it after them.
 * @param options.env - its environment (default this process's): a HOME of its own gives it its own NSS
 *   database, the one Chromium on Linux trusts certificates and finds client certificates in
 * @returns the running browser (call it in a test or a later hook, not while the file is collected)
 */
export function useChromium(options: { env?: NodeJS.ProcessEnv } = {}): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: LAUNCHER,
      env: options.env,
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
        `--disable-features=${DISABLED_FEATURES.join(',')}`,
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error('Chromium is not running (useChromium starts it in beforeAll)');
    return browser;
  };
}

/**
 * Where `localhost` resolves (127.0.0.1 when it is one of its addresses): a server the browser reaches as
 * `https://localhost:…` must listen there, or the browser connects to an address nobody serves.
 */
export async function localhostAddress(): Promise<string> {
  const addresses = await dns.lookup('localhost', { all: true });
  return addresses.find((a) => a.address === '127.0.0.1')?.address ?? addresses[0]!.address;
}

/** What a user sees of a page: the HTTP status, the title and the rendered text. */
export interface SeenPage {
  status?: number;
  title: string;
  text: string;
}

/**
 * Opens `url` in a fresh context of `browser` presenting `clientCertificates` (none: no certificate), writes
 * a screenshot of the page to `screenshot` (checked to be non-empty), and returns what a user sees. A page
 * that does not load rejects with Playwright's error (`net::ERR_…`).
 * @param opts.browserTrust - judge the server's certificate by the browser's own trust store (its NSS
 *   database), as a user's browser does; default false: Playwright ignores certificate errors
 */
export async function openPage(
  browser: Browser,
  url: string,
  opts: {
    clientCertificates?: BrowserContextOptions['clientCertificates'];
    screenshot: string;
    browserTrust?: boolean;
  },
): Promise<SeenPage> {
  const context = await browser.newContext({
    clientCertificates: opts.clientCertificates ?? [],
    // Our CA is not in Chromium's or the proxy's trust store unless a test put it in the NSS database
    // (browserTrust); curl and Java check the server's identity.
    ignoreHTTPSErrors: !opts.browserTrust,
  });
  try {
    const page = await context.newPage();
    const response = await page.goto(url, { timeout: 30_000 });
    await page.screenshot({ path: opts.screenshot, timeout: 30_000 });
    if (statSync(opts.screenshot).size === 0) throw new Error(`empty screenshot ${opts.screenshot}`);
    return {
      status: response?.status(),
      title: await page.title(),
      // biome-ignore lint/performance/useDomNodeTextContent: Playwright's locator, not the DOM: the rendered text a user sees
      text: await page.locator('body').innerText({ timeout: 30_000 }),
    };
  } finally {
    await context.close();
  }
}
