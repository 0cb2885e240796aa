/**
 * 10. A CA key in a PKCS#11 token: `mtls-ca issue-client --from FILE` with 1,000 ecdsa-p256 clients into a CA
 * whose key SoftHSM 2 holds (`init --ca-key pkcs11:…`) against the same into a CA with an encrypted key file.
 * With the token key every certificate and audit line is signed by SoftHSM in the main thread's session (the
 * worker threads ask it for each chunk's signatures and build the rest); with the file key the workers sign. Three runs
 * of each, alternating, after one smaller unmeasured round of each: the median of a shared machine's runs.
 *
 * Every run checks its output: 1,000 .p12 files and inventory lines, and one certificate verified by
 * `openssl verify` against the CA.
 */
import fs from 'node:fs';
import path from 'node:path';
import { softHsm } from '../lib/softhsm.js';
import { cli, runOk, summarize, tempDir } from '../lib/util.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CLIENTS = QUICK ? 200 : 1_000;
const REPS = QUICK ? 1 : 3;
/** A fresh CA — key in the token, or in a file — then the timed batch; wall ms and the directory. */
function batch(base, hsm, list, name, inToken) {
  const dir = path.join(base, name);
  const caKey = inToken ? ['--ca-key', `pkcs11:token=${name};object=ca-key`] : [];
  if (inToken) hsm.initToken(name);
  cli(['init', '--dir', dir, '--ca-name', `bench ${name}`, '--key-type', 'ecdsa-p256', ...caKey], {
    env: hsm.env,
  });
  const { ms } = cli(['issue-client', '--from', list, '--dir', dir], { env: hsm.env });
  return { ms, dir };
}

function checkOutput(dir, count, inToken) {
  const client = path.join(dir, 'client');
  const p12s = fs.readdirSync(client).filter((f) => f.endsWith('.p12'));
  if (p12s.length !== count) throw new Error(`${client}: ${p12s.length} .p12 files, expected ${count}`);
  const issued = fs
    .readFileSync(path.join(dir, 'ca/inventory.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"op":"issue"') && l.includes('"profile":"client"')).length;
  if (issued !== count) throw new Error(`inventory: ${issued} client issue lines, expected ${count}`);
  if (inToken !== fs.existsSync(path.join(dir, 'ca/ca-key.uri')))
    throw new Error(`${dir}: the CA key is not where asked`);
  const leaf = path.join(client, `user${count}.crt`);
  const verified = runOk('openssl', ['verify', '-CAfile', path.join(dir, 'ca/ca.crt'), leaf]);
  if (!verified.includes(': OK')) throw new Error(`openssl verify ${leaf}: ${verified}`);
}

export async function run() {
  const base = tempDir('token');
  const hsm = softHsm(base);
  const list = path.join(base, 'clients.txt');
  fs.writeFileSync(list, Array.from({ length: CLIENTS }, (_, i) => `user${i + 1} user\n`).join(''));
  const small = path.join(base, 'warm-up.txt');
  fs.writeFileSync(small, Array.from({ length: 100 }, (_, i) => `user${i + 1} user\n`).join(''));

  batch(base, hsm, small, 'warm-token', true);
  batch(base, hsm, small, 'warm-file', false);

  const tokenMs = [];
  const fileMs = [];
  for (let rep = 0; rep < REPS; rep++) {
    const t = batch(base, hsm, list, `token${rep}`, true);
    checkOutput(t.dir, CLIENTS, true);
    const f = batch(base, hsm, list, `file${rep}`, false);
    checkOutput(f.dir, CLIENTS, false);
    tokenMs.push(t.ms);
    fileMs.push(f.ms);
  }
  const rate = (ms) => CLIENTS / (ms / 1000);
  const ours = summarize(tokenMs.map(rate), 0);
  const theirs = summarize(fileMs.map(rate), 0);
  const ratio = ours.median / theirs.median;
  return {
    title: 'A CA key in a PKCS#11 token (SoftHSM 2) vs a key file: `issue-client --from`',
    method:
      `${CLIENTS.toLocaleString('en')} ecdsa-p256 clients, ${REPS} runs each after one unmeasured round of 100, ` +
      'alternating, token first. Ours: wall time of `mtls-ca issue-client --from` into a fresh CA made by `init --ca-key ' +
      "pkcs11:…` (SoftHSM 2's token in a temp folder; every certificate and audit line signed in the token). " +
      'Theirs: the same into a fresh CA with an encrypted ca.key. Output checked: .p12 count, inventory lines, ' +
      '`openssl verify` of one client',
    rows: [
      {
        case: `issue-client --from, ${CLIENTS.toLocaleString('en')} clients: token key vs file key (ratio: share of the file key's rate)`,
        ours,
        theirs,
        theirsName: 'the same with the CA key in an encrypted file',
        unit: 'clients/s',
        ratio,
        target: '>= 0.7x',
        met: ratio >= 0.7,
      },
    ],
  };
}
