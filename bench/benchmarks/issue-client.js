/**
 * 3. `mtls-ca issue-client` against the tutorial's client steps with the same key type:
 *
 *   openssl req -new -newkey <key> -out client/request.csr -keyout client/myPrivateKey.pem -nodes
 *   openssl x509 -req -days 360 -in request.csr -CA server/server.crt -CAkey server/serverPrivateKey.pem
 *                -CAcreateserial -out client/pavel.crt -sha256
 *   openssl pkcs12 -export -out client/client_pavel.p12 -inkey client/myPrivateKey.pem -in client/pavel.crt
 *                -certfile server/server.crt
 *
 * Their CA key is unencrypted (-nodes); ours is encrypted, so every issue-client also decrypts it (PBKDF2),
 * takes the directory lock, appends the inventory, merges users.json and fsyncs each file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cli, STORE_PASSWORD, summarize, tempDir, timeRun } from '../lib/util.js';
import { tutorialServerSteps } from './init.js';

const CASES = [
  { keyType: 'ecdsa-p256', newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], reps: 9 },
  { keyType: 'rsa-4096', newkey: ['-newkey', 'rsa:4096'], reps: 9 },
];

/** The tutorial's three client commands for `name` in a directory prepared by tutorialServerSteps. */
export function tutorialClientSteps(dir, newkey, name) {
  fs.mkdirSync(path.join(dir, 'client'), { recursive: true });
  const opts = { cwd: dir };
  const csr = `client/${name}.csr`;
  const key = `client/${name}.key`;
  const crt = `client/${name}.crt`;
  let ms = 0;
  ms += timeRun(
    'openssl',
    ['req', '-new', ...newkey, '-out', csr, '-keyout', key, '-nodes', '-subj', `/CN=${name}`],
    opts,
  ).ms;
  ms += timeRun(
    'openssl',
    [
      'x509',
      '-req',
      '-days',
      '360',
      '-in',
      csr,
      '-CA',
      'server/server.crt',
      '-CAkey',
      'server/serverPrivateKey.pem',
      '-CAcreateserial',
      '-out',
      crt,
      '-sha256',
    ],
    opts,
  ).ms;
  ms += timeRun(
    'openssl',
    [
      'pkcs12',
      '-export',
      '-out',
      `client/client_${name}.p12`,
      '-inkey',
      key,
      '-in',
      crt,
      '-certfile',
      'server/server.crt',
      '-passout',
      `file:${path.join(dir, 'pass.txt')}`,
    ],
    opts,
  ).ms;
  return ms;
}

export async function run() {
  const rows = [];
  for (const c of CASES) {
    const base = tempDir(`issue-${c.keyType}`);
    const oursDir = path.join(base, 'ours');
    const theirsDir = path.join(base, 'theirs');
    cli(['init', '--dir', oursDir, '--ca-name', 'bench', '--key-type', c.keyType]);
    tutorialServerSteps(theirsDir, c.newkey);
    fs.writeFileSync(path.join(theirsDir, 'pass.txt'), `${STORE_PASSWORD}\n`);
    const ours = [];
    const theirs = [];
    for (let i = -1; i < c.reps; i++) {
      const name = `user${i + 1}`;
      const a = cli(['issue-client', name, '--role', 'user', '--dir', oursDir, '--key-type', c.keyType]).ms;
      const b = tutorialClientSteps(theirsDir, c.newkey, name);
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
      theirsName: 'openssl req -new + openssl x509 -req -CA + openssl pkcs12 -export',
      unit: 'ms',
      ratio: o.median / t.median,
      target: '<= 0.8x',
      met: o.median / t.median <= 0.8,
    });
  }
  return {
    title: '`issue-client` vs the tutorial’s openssl client steps',
    method:
      'alternating runs after one unmeasured round, one new user per run in the same CA; wall time of the ' +
      'command (ours) and of the three openssl commands in sequence (theirs), ms',
    rows,
  };
}
