/**
 * `publish` on a CA directory with an intermediate: ca/crl.pem holds the intermediate's CRL and the root's,
 * and /crl serves the one of the CA that issues (the CRL its certificates point to), whatever else the file
 * holds: a CRL of a CA publish does not vouch for must not make it refuse the file.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { issueClients } from '../../src/ops/issue-client.js';
import { readCertificateStatuses } from '../../src/ops/publishing.js';
import { revoke } from '../../src/ops/revoke.js';
import { Crl } from '../../src/pki/crl.js';
import { createPublishServer, type PublishServer } from '../../src/server/publish-server.js';
import { CaStore } from '../../src/store/ca-store.js';
import { tempDir } from '../helpers/tools.js';
import { initPublishingCa } from './helpers.js';

const store = new CaStore(`${tempDir('mtls-ca-publish-intermediate-')}/ssl`);
let server: PublishServer;
let url: string;
let alice: string;

beforeAll(async () => {
  await initPublishingCa(store, 'http://127.0.0.1:9', { caName: 'Publish Root', intermediate: true });
  const [issued] = await issueClients(store, [{ name: 'alice', roles: [], email: [] }], {
    days: 30,
    keyType: 'ecdsa-p256',
    p12Profile: 'compat',
    force: false,
    caPassword: undefined,
    store: { given: 'p' },
  });
  alice = issued!.certificate.serial;
  await revoke(store, { target: 'alice', reason: 'keyCompromise', caPassword: undefined });
  server = await createPublishServer({
    dir: store.root,
    port: 0,
    log: () => {},
    statuses: { files: [store.paths.inventory], load: () => readCertificateStatuses(store) },
  });
  url = (await server.listen()).url;
});

afterAll(async () => {
  await server?.close();
});

test('/crl is the intermediate’s CRL, signed by it, listing its revoked client; the file holds the root’s too', async () => {
  const inFile = store.readCrls();
  expect(typeof inFile === 'string' ? inFile : inFile.map((c) => c.issuerName)).toEqual([
    'CN=Publish Root Intermediate 1',
    'CN=Publish Root',
  ]);
  const r = await fetch(`${url}/crl`);
  expect(r.status).toBe(200);
  const crl = Crl.from(Buffer.from(await r.arrayBuffer()), '/crl');
  expect(crl.issuerName).toBe('CN=Publish Root Intermediate 1');
  expect(crl.isSignedBy(store.readCaCertificate())).toBe(true);
  expect(crl.revoked.map((e) => e.serialHex)).toEqual([alice]);
});
