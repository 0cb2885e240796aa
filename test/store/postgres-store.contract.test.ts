/** The store contract (contract.ts) on a PostgreSQL database: each store a directory of its own (a host). */
import path from 'node:path';
import { CaStore } from '../../src/store/ca-store.js';
import { PostgresState } from '../../src/store/postgres/state.js';
import { describeWithPostgres, freshDatabase, query } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tools.js';
import { storeContract } from './contract.js';

const root = tempDir();
let n = 0;
/** The database URL of each store. */
const urls = new WeakMap<CaStore, string>();

async function storeOn(url: string, create = false): Promise<CaStore> {
  const store = new CaStore(path.join(root, `host-${n++}`), {
    state: await PostgresState.open(url, { create }),
  });
  urls.set(store, url);
  return store;
}

describeWithPostgres('store contract: PostgreSQL', () => {
  storeContract({
    fresh: async () => storeOn(await freshDatabase(), true),
    reopen: (store) => storeOn(urls.get(store)!),
    tamper: async (store, how, line) => {
      const url = urls.get(store)!;
      const before = await query(url, 'SELECT seq, line FROM mtls_ca.audit');
      const restore = async () => {
        await query(url, 'DELETE FROM mtls_ca.audit');
        await query(
          url,
          'INSERT INTO mtls_ca.audit (seq, line) SELECT * FROM unnest($1::bigint[], $2::text[])',
          [before.map((r) => r.seq), before.map((r) => r.line)],
        );
      };
      if (how === 'edit') {
        await query(
          url,
          `UPDATE mtls_ca.audit SET line = replace(line, '"result":"ok"', '"result":"OK"') WHERE seq = $1`,
          [line],
        );
      } else if (how === 'delete' || how === 'truncate') {
        await query(url, 'DELETE FROM mtls_ca.audit WHERE seq = $1', [line]);
      } else {
        await query(
          url,
          `UPDATE mtls_ca.audit a SET line = b.line FROM mtls_ca.audit b
           WHERE (a.seq, b.seq) IN (($1::bigint, $1::bigint + 1), ($1::bigint + 1, $1::bigint))`,
          [line],
        );
      }
      return restore;
    },
  });
});
