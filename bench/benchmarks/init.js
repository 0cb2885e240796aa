/**
 * 2. `mtls-ca init` against the tutorial's server steps with the same key type:
 *
 *   openssl req -x509 -newkey <key> -keyout server/serverPrivateKey.pem -out server/server.crt -days 3650 -nodes
 *   openssl pkcs12 -export -out server/keyStore.p12 -inkey server/serverPrivateKey.pem -in server/server.crt
 *   keytool -import -trustcacerts -alias root -file server/server.crt -keystore server/trustStore.jks
 *
 * made non-interactive (-subj, -passout file:, -noprompt -storepass, -storetype JKS so the file really is
 * JKS as its name says; Java 17's default would be PKCS#12). Their side is the wall time of the three
 * commands run one after another, as a person would. Ours does more: two keys (CA and server, generated in
 * parallel), an encrypted CA key, two trust stores, a CRL, the inventory, fsync of every file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cli, STORE_PASSWORD, summarize, tempDir, timeRun } from '../lib/util.js';

const CASES = [
  { keyType: 'ecdsa-p256', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], reps: 7 },
  { keyType: 'rsa-4096', newkey: ['-newkey', 'rsa:4096'], reps: 9 },
];

/** The tutorial's three server commands in `dir`; returns the total wall time in ms. */
export function tutorialServerSteps(dir, newkey) {
  fs.mkdirSync(path.join(dir, 'server'), { recursive: true });
  const pass = path.join(dir, 'pass.txt');
  fs.writeFileSync(pass, `${STORE_PASSWORD}\n`);
  const opts = { cwd: dir };
  let ms = 0;
  ms += timeRun(
    'openssl',
    [
      'req',
      '-x509',
      ...newkey,
      '-keyout',
      'server/serverPrivateKey.pem',
      '-out',
      'server/server.crt',
      '-days',
      '3650',
      '-nodes',
      '-subj',
      '/CN=localhost',
    ],
    opts,
  ).ms;
  ms += timeRun(
    'openssl',
    [
      'pkcs12',
      '-export',
      '-out',
      'server/keyStore.p12',
      '-inkey',
      'server/serverPrivateKey.pem',
      '-in',
      'server/server.crt',
      '-passout',
      `file:${pass}`,
    ],
    opts,
  ).ms;
  ms += timeRun(
    'keytool',
    [
      '-import',
      '-trustcacerts',
      '-alias',
      'root',
      '-file',
      'server/server.crt',
      '-keystore',
      'server/trustStore.jks',
      '-storetype',
      'JKS',
      '-noprompt',
      '-storepass',
      STORE_PASSWORD,
    ],
    opts,
  ).ms;
  return ms;
}

export async function run() {
  const rows = [];
  for (const c of CASES) {
    const base = tempDir(`init-${c.keyType}`);
    const ours = [];
    const theirs = [];
    // One unmeasured round first: page cache, JIT of the JVM's class data sharing archive, …
    for (let i = -1; i < c.reps; i++) {
      const a = cli([
        'init',
        '--dir',
        path.join(base, `ours-${i}`),
        '--ca-name',
        'bench',
        '--key-type',
        c.keyType,
      ]).ms;
      const b = tutorialServerSteps(path.join(base, `theirs-${i}`), c.newkey);
      if (i >= 0) {
        ours.push(a);
        theirs.push(b);
      }
    }
    const o = summarize(ours, 0);
    const t = summarize(theirs, 0);
    rows.push({
      case: c.keyType,
      ours: o,
      theirs: t,
      theirsName: 'openssl req -x509 + openssl pkcs12 -export + keytool -import',
      unit: 'ms',
      ratio: o.median / t.median,
      target: '<= 0.6x',
      met: o.median / t.median <= 0.6,
    });
  }
  return {
    title: '`init` vs the tutorial’s openssl + keytool server steps',
    method:
      'alternating runs after one unmeasured round, each into a fresh directory; wall time of the whole ' +
      'command (ours) and of the three tutorial commands in sequence (theirs), ms',
    rows,
  };
}
