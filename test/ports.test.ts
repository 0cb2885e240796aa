/** test/helpers/ports.ts: the readiness probe the tests' server starts wait on. */
import net from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { accepts, freePort } from './helpers/ports.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

test('a probe that meets itself on a port nothing listens on does not count as a listener', async () => {
  const port = await freePort();
  // the probe's own port is the one it calls: TCP's simultaneous open connects the socket to itself
  expect(await accepts(port, { localPort: port })).toBe(false);
  expect(await accepts(port)).toBe(false);
  const server = net.createServer((socket) => socket.destroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  expect(await accepts(port)).toBe(true);
});
