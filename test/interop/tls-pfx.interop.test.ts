/**
 * Node's own TLS stack (OpenSSL 3, default provider only) loads our PKCS#12 files as `pfx` on both ends of
 * a mutual-TLS handshake, for every key type and both profiles.
 */
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Certificate } from '../../src/pki/certificate.js';
import { KEY_TYPES, type KeyType } from '../../src/pki/keys.js';
import { createPkcs12, PKCS12_PROFILES, type Pkcs12Profile } from '../../src/pki/pkcs12.js';
import {
  type CertificateAuthority,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../../src/pki/profiles.js';
import { fixtureKeys } from '../helpers/fixtures.js';

const PASSWORD = 'Tls-pfx-secret';

interface Pki {
  ca: CertificateAuthority;
  server: { certificate: Certificate; key: KeyObject };
  client: { certificate: Certificate; key: KeyObject };
}

/**
 * CA, server (127.0.0.1) and client of one key type, from the fixture keys `first`, `first` + 1 and
 * `first` + 2 of that type.
 */
function makePki(kt: KeyType, clientName: string, first = 0): Pki {
  const caKeys = fixtureKeys(kt, first);
  const ca = {
    certificate: createRootCa({
      subject: { commonName: `Test CA ${kt} ${clientName}` },
      ...caKeys,
      days: 30,
    }),
    privateKey: caKeys.privateKey,
  };
  const serverKeys = fixtureKeys(kt, first + 1);
  const clientKeys = fixtureKeys(kt, first + 2);
  return {
    ca,
    server: {
      certificate: issueServerCertificate({
        ca,
        publicKey: serverKeys.publicKey,
        altNames: { ip: ['127.0.0.1'] },
        days: 5,
      }),
      key: serverKeys.privateKey,
    },
    client: {
      certificate: issueClientCertificate({
        ca,
        publicKey: clientKeys.publicKey,
        commonName: clientName,
        days: 5,
      }),
      key: clientKeys.privateKey,
    },
  };
}

function pfxOf(pki: Pki, who: 'server' | 'client', profile: Pkcs12Profile): Buffer {
  const { certificate, key } = pki[who];
  return createPkcs12({
    privateKey: key,
    certificate,
    chain: [pki.ca.certificate],
    password: PASSWORD,
    profile,
  });
}

interface Outcome {
  /** What the client received: the server greets with the CN it saw. */
  received: string;
  /** CNs of the client certificates the server accepted. */
  serverSaw: string[];
  clientError?: NodeJS.ErrnoException;
  serverError?: NodeJS.ErrnoException;
  /** Why the server refused the client certificate (Node destroys the socket without a TLS alert). */
  authorizationError?: string;
}

/** One mTLS exchange on 127.0.0.1 (ephemeral port); the server is always closed. */
async function handshake(serverPfx: Buffer, clientPfx: Buffer, caPem: string): Promise<Outcome> {
  const out: Outcome = { received: '', serverSaw: [] };
  const server = tls.createServer(
    { pfx: serverPfx, passphrase: PASSWORD, requestCert: true, rejectUnauthorized: true, ca: [caPem] },
    (socket) => {
      const cn = String(socket.getPeerCertificate().subject?.CN);
      out.serverSaw.push(cn);
      socket.end(`hello ${cn}`);
    },
  );
  server.on('tlsClientError', (e, socket) => {
    out.serverError = e;
    out.authorizationError = socket.authorizationError?.toString();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await new Promise<void>((resolve) => {
      const client = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        pfx: clientPfx,
        passphrase: PASSWORD,
        ca: [caPem],
      });
      client.setEncoding('utf8');
      client.on('data', (d: string) => {
        out.received += d;
      });
      client.on('error', (e) => {
        out.clientError = e;
      });
      client.on('close', () => resolve());
    });
  } finally {
    // close() waits for the server's side of the connection, so tlsClientError has fired by then.
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return out;
}

/** Every key type in both profiles. */
const CASES: [KeyType, Pkcs12Profile][] = KEY_TYPES.flatMap((kt) =>
  PKCS12_PROFILES.map((p): [KeyType, Pkcs12Profile] => [kt, p]),
);

const pkis = new Map<KeyType, Pki>();
let stranger: Pki;
beforeAll(() => {
  for (const kt of KEY_TYPES) pkis.set(kt, makePki(kt, `alice-${kt}`));
  stranger = makePki('ecdsa-p256', 'mallory', 3);
});

// Only Node itself is needed here, so no describeWithTools.
describe('Node TLS loads our PKCS#12 as pfx', () => {
  test.each(CASES)('%s %s: mutual TLS handshake; the server sees the client CN', async (kt, profile) => {
    const pki = pkis.get(kt)!;
    const r = await handshake(
      pfxOf(pki, 'server', profile),
      pfxOf(pki, 'client', profile),
      pki.ca.certificate.toPem(),
    );
    expect(r.clientError).toBeUndefined();
    expect(r.serverError).toBeUndefined();
    expect(r.serverSaw).toEqual([`alice-${kt}`]);
    expect(r.received).toBe(`hello alice-${kt}`);
  });

  test.each(PKCS12_PROFILES)('%s: a client P12 from another CA is rejected', async (profile) => {
    const pki = pkis.get('ecdsa-p256')!;
    const r = await handshake(
      pfxOf(pki, 'server', profile),
      pfxOf(stranger, 'client', profile),
      pki.ca.certificate.toPem(),
    );
    expect(r.serverSaw).toEqual([]);
    expect(r.received).toBe('');
    // The stranger's chain ends in a root this server does not trust.
    expect(r.authorizationError).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    expect(r.serverError).toBeDefined();
  });
});
