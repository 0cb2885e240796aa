/** SoftHSM 2 for the benchmarks whose CA key is in a PKCS#11 token (token, database). */
import fs from 'node:fs';
import path from 'node:path';
import { CLI_ENV, runOk } from './util.js';

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'];
const PIN = 'bench-token-pin';

/**
 * A SoftHSM token folder of the benchmark's own under `base`, and the environment commands need to use it.
 * Throws when SoftHSM 2 is not installed.
 */
export function softHsm(base) {
  const module = MODULES.find((m) => fs.existsSync(m));
  if (!module) throw new Error('SoftHSM 2 is not installed (Debian: apt-get install softhsm2)');
  const tokens = path.join(base, 'tokens');
  fs.mkdirSync(tokens);
  const conf = path.join(base, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...CLI_ENV, SOFTHSM2_CONF: conf, MTLS_CA_PKCS11_MODULE: module, MTLS_CA_PKCS11_PIN: PIN };
  return {
    env,
    initToken: (label) =>
      runOk(
        'softhsm2-util',
        ['--init-token', '--free', '--label', label, '--pin', PIN, '--so-pin', `${PIN}-so`],
        {
          env,
        },
      ),
  };
}
