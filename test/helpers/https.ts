/** HTTPS with a client certificate, for the tests that watch a running server change. */
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
