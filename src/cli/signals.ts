/**
 * The life of a server process once it listens: SIGHUP reloads it, SIGINT or SIGTERM closes it gracefully, and
 * the promise resolves when it has closed (the command then returns and the process exits).
 */

/** What the signals act on: `serve`'s mTLS server, `publish`'s HTTP server. */
export interface SignalledServer {
  /** Re-reads its files; a failure is the server's to log (it keeps what it had). */
  reload(): void | Promise<void>;
  close(): Promise<void>;
}

/** Resolves once a SIGINT or SIGTERM has closed `server`; until then SIGHUP reloads it. */
export function serveUntilStopped(server: SignalledServer): Promise<void> {
  return new Promise<void>((resolve) => {
    const onHup = () => {
      Promise.resolve()
        .then(() => server.reload())
        .catch(() => {
          // The server logged why (reload-failed); it keeps serving with what it had.
        });
    };
    const onStop = () => {
      process.off('SIGHUP', onHup);
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      server.close().then(resolve, resolve);
    };
    process.on('SIGHUP', onHup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  });
}
