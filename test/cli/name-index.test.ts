/**
 * The look-alike rule through the real CLI (main() in-process) in a CA whose inventory holds 100,000
 * certificates, made cheaply by appending their lines as the CLI writes them: a look-alike of a name deep
 * in it is refused, one name or a batch, from ca/inventory.names or, with it gone, from what it falls back to;
 * every write keeps the name index in step, or rebuilds it.
 *
 * The CA (init, then the 100,000 lines: about two CPU-seconds, mostly encoding) is made once and kept in the
 * test cache under a hash of src/ and of its recipe, so a change to anything that writes it makes it anew;
 * each run works on a copy, with the files' times kept, since they decide whether the indexes are in step.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { InventoryEvent } from '../../src/store/inventory.js';
import { inventoryIndexState } from '../../src/store/inventory-index.js';
import { layout } from '../../src/store/layout.js';
import { findNamesInIndex, NAMES_HEADER } from '../../src/store/name-index.js';
import { CACHE, cached, hash } from '../helpers/cache.js';
import { cli } from '../helpers/cli.js';
import { encodeBatches, issueEvent } from '../helpers/inventory.js';
import { tempDir } from '../helpers/tools.js';
import { snapshot } from './snapshot.js';

const env = { MTLS_CA_PASSWORD: 'ca-pw-names', MTLS_CA_STORE_PASSWORD: 'store-pw' };
const COUNT = 100_000;
/** Where the names that get look-alikes sit in the inventory. */
const DEEP = { pavel: 61_234, Zoë: COUNT - 1 } as Record<string, number>;

/** Appends COUNT client certificates to the CA's logs and indexes, one batch each, as the CLI would have. */
function appendInventory(dir: string): void {
  const p = layout(dir);
  const byIndex = new Map(Object.entries(DEEP).map(([name, i]) => [i, name]));
  function* batches(): Generator<InventoryEvent[]> {
    for (let i = 0; i < COUNT; i++) {
      const name = byIndex.get(i) ?? `user${i}`;
      yield [issueEvent(`7${i.toString(16).padStart(31, '0')}`, name, { issuer: 'CN=synthetic', files: [] })];
    }
  }
  const lines = encodeBatches(batches(), fs.statSync(p.inventory).size);
  fs.appendFileSync(p.inventory, lines.log);
  fs.appendFileSync(p.inventoryIndex, lines.index);
  fs.appendFileSync(p.inventoryNames, lines.names);
}

/** A hash of what makes the CA: every source file (init and the encoders), the inventory helper, this file. */
function recipeHash(): string {
  const repo = path.resolve(import.meta.dirname, '../..');
  const sources = (fs.readdirSync(path.join(repo, 'src'), { recursive: true }) as string[])
    .sort()
    .map((f) => path.join(repo, 'src', f))
    .filter((f) => fs.statSync(f).isFile());
  const files = [...sources, path.join(repo, 'test/helpers/inventory.ts'), import.meta.filename];
  return hash(...files.flatMap((f) => [path.relative(repo, f), fs.readFileSync(f)]));
}

const refusal = (name: string, existing: string) =>
  `issue client ${name}: the name "${existing}" exists, and "${name}" reads the same (it differs only in case or Unicode form) (ALREADY_EXISTS)`;

describe('look-alikes in a CA of 100,000 certificates', () => {
  const dir = path.join(tempDir(), 'ssl');
  const p = layout(dir);
  const inStep = () => inventoryIndexState(p.inventoryNames, p.inventory, NAMES_HEADER).inStep;
  const found = (key: string) => findNamesInIndex(p.inventoryNames, p.inventory, 'client', new Set([key]));

  async function refused(args: string[], error: string): Promise<void> {
    const before = snapshot(dir);
    const r = await cli([...args, '--dir', dir], env);
    expect({ code: r.code, error: r.stderr.split('\n')[0] }).toEqual({ code: 1, error: `error: ${error}` });
    expect(snapshot(dir)).toEqual(before);
  }

  beforeAll(async () => {
    const made = await cached(path.join(CACHE, `names-100k-${recipeHash()}`), async (tmp) => {
      const ca = path.join(tmp, 'ssl');
      const init = await cli(['init', '--dir', ca], env);
      expect(init.code, init.stderr).toBe(0);
      const q = layout(ca);
      expect(inventoryIndexState(q.inventoryNames, q.inventory, NAMES_HEADER).inStep).toBe(true);
      appendInventory(ca);
    });
    // those made for earlier sources would only fill the disk, 50 MB each
    for (const old of fs.readdirSync(CACHE))
      if (/^names-100k-[0-9a-f]{16}$/.test(old) && path.join(CACHE, old) !== made)
        fs.rmSync(path.join(CACHE, old), { recursive: true, force: true });
    fs.cpSync(path.join(made, 'ssl'), dir, { recursive: true, preserveTimestamps: true });
    expect(inStep()).toBe(true);
    expect(found('pavel')).toEqual(['pavel']);
  });

  test('a look-alike of a name deep in the inventory is refused, in every form, naming it', async () => {
    await refused(['issue-client', 'Pavel'], refusal('Pavel', 'pavel'));
    await refused(['issue-client', 'ＰＡＶＥＬ'], refusal('ＰＡＶＥＬ', 'pavel'));
    await refused(['issue-client', 'zoë'], refusal('zoë', 'Zoë'));
  });

  test('a batch with one look-alike among new names is refused before anything is made', async () => {
    const list = path.join(path.dirname(dir), 'team.txt');
    const team = Array.from({ length: 20 }, (_, i) => `newcomer${i} user`);
    team.splice(13, 0, 'USER4242 admin');
    fs.writeFileSync(list, `${team.join('\n')}\n`);
    await refused(['issue-client', '--from', list], refusal('USER4242', 'user4242'));
  });

  test('a new name is issued, and the name index grows by its line in the same commit', async () => {
    const r = await cli(['issue-client', 'newbie', '--dir', dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(inStep()).toBe(true);
    const lines = fs.readFileSync(p.inventoryNames, 'latin1').trimEnd().split('\n');
    expect(lines.at(-2)).toBe('newbie\tclient\t');
    expect(found('newbie')).toEqual(['newbie']);
  });

  test('without the name index the same look-alikes are refused, and the next write rebuilds it', async () => {
    fs.rmSync(p.inventoryNames);
    await refused(['issue-client', 'PAVEL'], refusal('PAVEL', 'pavel'));
    expect((await cli(['issue-client', 'another', '--dir', dir], env)).code).toBe(0);
    expect(inStep()).toBe(true);
    expect(found('pavel')).toEqual(['pavel']);
    expect(found('another')).toEqual(['another']);
    await refused(['issue-client', 'Another'], refusal('Another', 'another'));
  });
});
