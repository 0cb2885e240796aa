/** The store contract (contract.ts) on the CA directory's files. */
import fs from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';
import { CaStore } from '../../src/store/ca-store.js';
import { tempDir } from '../helpers/tools.js';
import { storeContract, type Tampering } from './contract.js';

const root = tempDir();
let n = 0;

/** The audit log's lines changed as `how` says, at 1-based `line`. */
function tamperLines(lines: string[], how: Tampering, line: number): string[] {
  const i = line - 1;
  const out = [...lines];
  if (how === 'edit') out[i] = out[i]!.replace('"result":"ok"', '"result":"OK"');
  else if (how === 'delete' || how === 'truncate') out.splice(i, 1);
  else [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  return out;
}

describe('store contract: CA directory', () => {
  storeContract({
    fresh: async () => new CaStore(path.join(root, `ca-${n++}`)),
    reopen: async (store) => new CaStore(store.root),
    tamper: async (store, how, line) => {
      const file = store.paths.auditLog;
      const before = fs.readFileSync(file, 'utf8');
      fs.writeFileSync(file, `${tamperLines(before.split('\n').slice(0, -1), how, line).join('\n')}\n`);
      return async () => fs.writeFileSync(file, before);
    },
  });
});
