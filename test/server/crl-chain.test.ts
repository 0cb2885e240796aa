/**
 * The server's CRLs of a CA directory with an intermediate: ca/crl.pem holds the intermediate's CRL and the
 * root's, read as one file; each link of a client's chain is judged by the CRL of its issuer. The chain is
 * given as Node links it (getPeerCertificate(true)); the TLS handshakes themselves are in
 * test/interop/intermediate.interop.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { createCrl } from '../../src/pki/crl.js';
import {
  type CertificateAuthority,
  createIntermediateCa,
  createRootCa,
  issueClientCertificate,
} from '../../src/pki/profiles.js';
import { judgeByCrls, revokedBy } from '../../src/server/crl-in-force.js';
import { type DetailedPeerCertificate, describePeerCertificate } from '../../src/server/identity.js';
import { readCrlFile } from '../../src/server/revocation.js';
import { errorOf } from '../helpers/errors.js';
import { fixtureKeys } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/tools.js';

const DAY = 86_400_000;
const now = new Date('2026-06-01T00:00:00Z');
const dir = tempDir('mtls-ca-crl-chain-');

const rootKeys = fixtureKeys('ecdsa-p256', 0);
const root: CertificateAuthority = {
  certificate: createRootCa({
    subject: { commonName: 'Chain Root' },
    ...rootKeys,
    pathLength: 1,
    days: 3650,
    now,
  }),
  privateKey: rootKeys.privateKey,
};
const intKeys = fixtureKeys('ecdsa-p256', 1);
const intermediate: CertificateAuthority = {
  certificate: createIntermediateCa({
    root,
    subject: { commonName: 'Chain Int' },
    ...intKeys,
    days: 3650,
    now,
  }),
  privateKey: intKeys.privateKey,
};
const pavel = issueClientCertificate({
  ca: intermediate,
  publicKey: fixtureKeys('ecdsa-p256', 2).publicKey,
  commonName: 'pavel',
  days: 365,
  now,
});

/** A CRL of `ca` listing `revoked`, valid from `now` for `days`. */
function crlOf(ca: CertificateAuthority, revoked: Certificate[] = [], days = 7, crlNumber = 1n) {
  return createCrl({
    ca,
    crlNumber,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + days * DAY),
    revoked: revoked.map((c) => ({ serialHex: c.serialHex, revokedAt: now })),
  });
}

let files = 0;
function crlFile(...pems: string[]): string {
  const file = path.join(dir, `crl-${files++}.pem`);
  fs.writeFileSync(file, pems.join(''));
  return file;
}

/** The socket of a client that sent pavel's certificate and the intermediate, as Node links the verified chain. */
const socket = (() => {
  const rootNode: DetailedPeerCertificate = { raw: root.certificate.der };
  rootNode.issuerCertificate = rootNode;
  const intNode: DetailedPeerCertificate = { raw: intermediate.certificate.der, issuerCertificate: rootNode };
  return { getPeerCertificate: () => ({ raw: pavel.der, issuerCertificate: intNode }) };
})();
const peer = describePeerCertificate(pavel.der);
const trusted = [intermediate.certificate, root.certificate];
const at = (days: number) => now.getTime() + days * DAY;

describe('the CRLs of an intermediate and its root, in one file', () => {
  test('are read in file order, each checked against its CA', () => {
    const crls = readCrlFile(crlFile(crlOf(intermediate).toPem(), crlOf(root, [], 180).toPem()), trusted);
    expect(crls.crls.map((c) => [c.issuerName, c.signer.subjectName])).toEqual([
      ['CN=Chain Int', 'CN=Chain Int'],
      ['CN=Chain Root', 'CN=Chain Root'],
    ]);
    expect(judgeByCrls(crls, peer, socket, at(1))).toBeUndefined();
  });

  test('a revoked intermediate refuses the leaf under it, though the intermediate’s own CRL lists nothing', () => {
    const crls = readCrlFile(
      crlFile(crlOf(intermediate).toPem(), crlOf(root, [intermediate.certificate], 180).toPem()),
      trusted,
    );
    expect(judgeByCrls(crls, peer, socket, at(1))).toEqual({ reason: 'REVOKED', detail: 'CERT_REVOKED' });
    expect(revokedBy(crls, peer, socket)).toBe(true);
  });

  test('each link is judged by the dates of its own CRL: an expired root CRL refuses, an expired intermediate CRL too', () => {
    const rootShort = readCrlFile(
      crlFile(crlOf(intermediate, [], 30).toPem(), crlOf(root, [], 2).toPem()),
      trusted,
    );
    expect(judgeByCrls(rootShort, peer, socket, at(1))).toBeUndefined();
    expect(judgeByCrls(rootShort, peer, socket, at(3))).toEqual({
      reason: 'REVOCATION_UNAVAILABLE',
      detail: 'CRL_HAS_EXPIRED',
    });
    const intShort = readCrlFile(
      crlFile(crlOf(intermediate, [], 2).toPem(), crlOf(root, [], 180).toPem()),
      trusted,
    );
    expect(judgeByCrls(intShort, peer, socket, at(3))).toEqual({
      reason: 'REVOCATION_UNAVAILABLE',
      detail: 'CRL_HAS_EXPIRED',
    });
  });

  test('two CRLs of one CA in the file are refused: which one applies would be a guess', () => {
    const e = errorOf(() =>
      readCrlFile(crlFile(crlOf(intermediate).toPem(), crlOf(intermediate, [pavel], 7, 2n).toPem()), trusted),
    );
    expect([e.code, e.message]).toEqual([
      'INVALID_ARGUMENT',
      `use CRL ${path.join(dir, `crl-${files - 1}.pem`)}: it holds two CRLs of one CA`,
    ]);
  });

  test('a CRL of a CA the server does not trust, beside ours, rejects the file', () => {
    const e = errorOf(() =>
      readCrlFile(crlFile(crlOf(intermediate).toPem(), crlOf(root).toPem()), [intermediate.certificate]),
    );
    expect(e.code).toBe('BAD_SIGNATURE');
  });
});
