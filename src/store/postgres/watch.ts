/**
 * Hearing of commits to the CA's state as they happen: a connection of its own that LISTENs on the channel
 * every commit NOTIFYs (schema.ts). When that connection is lost — the database restarted, the network
 * went — the watch says so once, then tries again every {@link WATCH_RETRY_MS} until the database answers;
 * connected again, it says the state may have changed, since commits made meanwhile were not heard.
 */
import type { StateWatch, StateWatchHandlers } from '../ca-state.js';
import { connect, type PgClient } from './driver.js';
import { NOTIFY_CHANNEL } from './schema.js';

/** How often a lost database is tried again: the bound on hearing of a change once it is back. */
export const WATCH_RETRY_MS = 500;

/**
 * Watches the state of the database at `url`; call `close()` to stop.
 * @param url - the database URL
 * @param handlers - told of changes, and of the connection going and coming back
 * @param retryMs - the pause between two attempts while the database is away
 */
export function watchState(url: string, handlers: StateWatchHandlers, retryMs = WATCH_RETRY_MS): StateWatch {
  let client: PgClient | undefined;
  let closed = false;
  let down = false;
  let timer: NodeJS.Timeout | undefined;

  const lost = (c: PgClient | undefined, e: unknown) => {
    if (closed || (c !== undefined && client !== c)) return;
    client = undefined;
    c?.end().catch(() => {});
    if (!down) {
      down = true;
      handlers.down(e);
    }
    clearTimeout(timer);
    timer = setTimeout(attempt, retryMs);
  };

  async function attempt(): Promise<void> {
    if (closed) return;
    let c: PgClient | undefined;
    try {
      c = await connect(url, (e) => lost(c, e));
      const connected = c;
      connected.on('notification', (m) => {
        if (m.channel === NOTIFY_CHANNEL) handlers.changed();
      });
      connected.on('end', () => lost(connected, new Error('Connection terminated')));
      client = connected;
      await connected.query(`LISTEN ${NOTIFY_CHANNEL}`);
      if (closed) {
        await connected.end().catch(() => {});
        return;
      }
    } catch (e) {
      if (c && client === c) lost(c, e);
      else if (!c) lost(undefined, e);
      return;
    }
    if (down) {
      down = false;
      handlers.up();
      handlers.changed();
    }
  }

  void attempt();
  return {
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => {});
      client = undefined;
    },
  };
}
