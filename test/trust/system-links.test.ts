/**
 * The links `trust uninstall --system` removes on Debian instead of running `update-ca-certificates --fresh`:
 * found in a folder of real symbolic links laid out as update-ca-certificates and `openssl rehash` lay out
 * /etc/ssl/certs. The real store, with the bundle compared byte for byte after the removal, is
 * test/interop/trust.interop.test.ts; here are the layouts that store does not have on a test machine, above
 * all two CAs of the same name, whose subject-hash links share a hash.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { anchorLinks } from '../../src/trust/system.js';
import { tempDir } from '../helpers/tools.js';

const ANCHOR = '/usr/local/share/ca-certificates/mtls-ca-0123456789abcdef.crt';
const root = tempDir('mtls-ca-system-links-');
let folders = 0;

/** A folder holding `links` (name → target). */
function linksFolder(links: Record<string, string>): string {
  const folder = path.join(root, String(folders++));
  mkdirSync(folder);
  for (const [name, target] of Object.entries(links)) symlinkSync(target, path.join(folder, name));
  return folder;
}

test('the .pem link to the anchor and the hash link to that; the other certificates’ links stay', () => {
  const folder = linksFolder({
    'mtls-ca-0123456789abcdef.pem': ANCHOR,
    '1a2b3c4d.0': 'mtls-ca-0123456789abcdef.pem',
    'ISRG_Root_X1.pem': '/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt',
    '4042bcee.0': 'ISRG_Root_X1.pem',
    'dangling.pem': '/nowhere/dangling.crt',
  });
  expect(anchorLinks(folder, ANCHOR)).toEqual({
    links: [path.join(folder, '1a2b3c4d.0'), path.join(folder, 'mtls-ca-0123456789abcdef.pem')],
    moves: [],
  });
});

test('another CA of the same name after ours under the same hash: the last one moves into our number', () => {
  // OpenSSL stops looking at the first missing number: 1a2b3c4d.1 and .2 would be lost behind a gap at .0.
  const folder = linksFolder({
    'mtls-ca-0123456789abcdef.pem': ANCHOR,
    '1a2b3c4d.0': 'mtls-ca-0123456789abcdef.pem',
    '1a2b3c4d.1': 'mtls-ca-other.pem',
    '1a2b3c4d.2': 'mtls-ca-third.pem',
  });
  expect(anchorLinks(folder, ANCHOR)).toEqual({
    links: [path.join(folder, '1a2b3c4d.0'), path.join(folder, 'mtls-ca-0123456789abcdef.pem')],
    moves: [[path.join(folder, '1a2b3c4d.2'), path.join(folder, '1a2b3c4d.0')]],
  });
});

test('ours last under its hash: nothing to move', () => {
  const folder = linksFolder({
    'mtls-ca-0123456789abcdef.pem': ANCHOR,
    '1a2b3c4d.0': 'mtls-ca-other.pem',
    '1a2b3c4d.1': 'mtls-ca-0123456789abcdef.pem',
  });
  expect(anchorLinks(folder, ANCHOR).moves).toEqual([]);
});

test('no links (update-ca-certificates never ran) or no folder: only the anchor goes', () => {
  expect(anchorLinks(linksFolder({}), ANCHOR)).toEqual({ links: [], moves: [] });
  expect(anchorLinks(path.join(root, 'missing'), ANCHOR)).toEqual({ links: [], moves: [] });
});
