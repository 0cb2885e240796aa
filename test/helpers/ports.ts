/**
 * Ports of 127.0.0.1 for the servers the tests start: free ones to give them, and whether one listens yet.
 */
import net from 'node:net';

/** `n` distinct TCP ports that were free a moment ago (each bound to 127.0.0.1:0, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A TCP port nothing listens on right now (the system's pick on 127.0.0.1, released at once). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * Runs `start`, a server start on ports it takes from {@link freePorts}, again (up to three tries) when the
 * server could not bind one: a port free when chosen may be taken before the server binds it — by a server
 * started meanwhile on a port of the system's choosing, or as the local port of an outgoing connection.
 * @param start - starts the server, choosing its ports anew at each call; its error names the busy address
 *   as the server printed it ("Address already in use")
 */
export async function retryingBusyPort<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt === 3 || !/address already in use/i.test(String((e as Error)?.message))) throw e;
    }
  }
}

/**
 * Whether something accepts TCP connections on 127.0.0.1:`port`. A connection from the port to itself is not
 * a listener: `port` lies in the range the system picks local ports from (freePorts takes its ports there),
 * and when nothing listens yet a connect can draw the same port as its own and meet itself (TCP's simultaneous
 * open) — which made a poll report a server ready before it had bound.
 * @param o.localPort - the probe's own port (default: the system's pick); test/ports.test.ts passes `port`
 */
export function accepts(port: number, o: { localPort?: number } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      localAddress: '127.0.0.1',
      localPort: o.localPort,
    });
    socket.once('connect', () => {
      const itself = socket.localPort === port;
      socket.destroy();
      resolve(!itself);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts connections on 127.0.0.1:`port`, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
