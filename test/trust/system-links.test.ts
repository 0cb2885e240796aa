/**
 * The links `trust uninstall --system` removes on Debian instead of running `update-ca-certificates --fresh`:
 * found in a folder of real symbolic links laid out as update-ca-certificates and `openssl rehash` lay out
 * /etc/ssl/certs. The real store, with the bundle compared byte for byte after the removal, is
 * test/interop/trust.interop.test.ts; here are the layouts that store does not have on a test machine, above
 * all two CAs of the same name, whose subject-hash links share a hash.
 */
import { copyFileSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { anchorLinks, unlinkCommands } from '../../src/trust/system.js';
import { describeWithTools, run, runOk, tempDir } from '../helpers/tools.js';

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
    relinks: [],
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
    relinks: [],
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
  expect(anchorLinks(linksFolder({}), ANCHOR)).toEqual({ links: [], relinks: [], moves: [] });
  expect(anchorLinks(path.join(root, 'missing'), ANCHOR)).toEqual({ links: [], relinks: [], moves: [] });
});

describeWithTools(['openssl'], 'a folder linked by the real openssl rehash', () => {
  /** A self-signed CA certificate, in `file`; two made with the same name share a subject hash. */
  function selfSigned(file: string, name: string): void {
    const options = 'req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2'.split(' ');
    runOk('openssl', [...options, '-subj', `/CN=${name}`, '-keyout', `${file}.key`, '-out', file]);
  }
  /** The subject-hash links of `folder`, name → target. */
  const hashLinks = (folder: string) =>
    Object.fromEntries(
      readdirSync(folder)
        .filter((n) => /^[0-9a-f]{8}\.\d+$/.test(n))
        .sort()
        .map((n) => [n, readlinkSync(path.join(folder, n))]),
    );

  test('the same CA also installed under another name stays trusted: its hash link is not removed with ours', () => {
    // rehash reads the folder in name order and links a certificate's hash once: to mtls-ca-….pem, before
    // myca.pem, which it skips as a duplicate. Removing that link and running the plain
    // update-ca-certificates (which rehashes only when a file came or went) left myca untrusted.
    const dir = path.join(root, String(folders++));
    const anchors = path.join(dir, 'anchors');
    const certs = path.join(dir, 'certs');
    mkdirSync(anchors, { recursive: true });
    mkdirSync(certs);
    const anchor = path.join(anchors, 'mtls-ca-0123456789abcdef.crt');
    selfSigned(anchor, 'Shared CA');
    copyFileSync(anchor, path.join(anchors, 'myca.crt'));
    selfSigned(path.join(anchors, 'other.crt'), 'Shared CA'); // another CA of the same name: the same hash
    for (const name of ['mtls-ca-0123456789abcdef', 'myca', 'other']) {
      symlinkSync(path.join(anchors, `${name}.crt`), path.join(certs, `${name}.pem`));
    }
    runOk('openssl', ['rehash', certs]);
    const verify = (name: string) => {
      const r = run('openssl', ['verify', '-CApath', certs, path.join(anchors, `${name}.crt`)]);
      return `${r.stdout}${r.stderr}`.trim(); // error 18 (self-signed, not trusted) when the link is gone
    };
    expect(Object.values(hashLinks(certs))).toEqual(['mtls-ca-0123456789abcdef.pem', 'other.pem']);
    expect(verify('myca')).toMatch(/: OK$/);

    for (const [cmd, ...args] of unlinkCommands(certs, anchor)) runOk(cmd!, args);

    expect(verify('myca')).toMatch(/: OK$/);
    expect(verify('other')).toMatch(/: OK$/);
    const after = hashLinks(certs);
    expect(Object.values(after)).toEqual(['myca.pem', 'other.pem']);
    runOk('openssl', ['rehash', certs]);
    expect(hashLinks(certs)).toEqual(after); // what rehash itself makes of the folder without ours
  });
});
