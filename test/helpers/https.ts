/** HTTPS with a client certificate, and bounded polling, for the tests that watch a running server change. */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface ClientFiles {
  cert: string;
  key: string;
}

export interface Answer {
  status?: number;
  body?: string;
  /** The client error code when no HTTP answer came (refused in or right after the handshake). */
  error?: string;
  socket?: TLSSocket;
  reused?: boolean;
}

/**
 * GET `url`/customer/1 with a client certificate: on a fresh connection (no agent: no session reuse either),
 * or through `agent` to reuse a keep-alive connection. Never rejects: a refusal is `{ error }`.
 */
export function getCustomer(
  url: string,
  caFile: string,
  client: ClientFiles,
  agent?: https.Agent,
): Promise<Answer> {
  return new Promise((resolve) => {
    const req = https.request(
      `${url}/customer/1`,
      {
        servername: 'localhost',
        ca: readFileSync(caFile),
        cert: readFileSync(client.cert),
        key: readFileSync(client.key),
        agent: agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            body,
            socket: req.socket as TLSSocket,
            reused: req.reusedSocket,
          }),
        );
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/**
 * Polls `probe` (20 ms apart, no fixed sleep) until it holds; fails when it still does not after `boundMs`.
 * @returns how long it took, from the call
 */
export async function within(
  boundMs: number,
  what: string,
  probe: () => Promise<boolean> | boolean,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - t0;
    if (performance.now() - t0 > boundMs) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
