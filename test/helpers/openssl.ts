/** OpenSSL 3 as the tests run it: argument lists spelled once, and runs that serve several checks. */
import { run, runOk } from './tools.js';

/**
 * OpenSSL 3's argument lists for the checks the tests make again and again, spelled once. Each returns the
 * arguments after `openssl`, for run/runOk (test/helpers/tools.ts) or an asynchronous exec. Passwords go in
 * through files (`file:`), never on the command line.
 */
export const opensslArgs = {
  /**
   * `openssl verify` of `cert` (or of each of several) against the CA certificate in `caFile`.
   * @param opts.purpose - the use the leaf must be fit for (`-purpose`)
   * @param opts.strict - `-x509_strict`: RFC 5280's rules, not OpenSSL's leniency
   * @param opts.crlFile - check revocation against this CRL (`-crl_check -CRLfile`)
   */
  verify(
    caFile: string,
    cert: string | string[],
    opts: { purpose?: 'sslclient' | 'sslserver'; strict?: boolean; crlFile?: string } = {},
  ): string[] {
    return [
      'verify',
      ...(opts.strict ? ['-x509_strict'] : []),
      ...(opts.crlFile ? ['-crl_check', '-CRLfile', opts.crlFile] : []),
      '-CAfile',
      caFile,
      ...(opts.purpose ? ['-purpose', opts.purpose] : []),
      ...[cert].flat(),
    ];
  },

  /** `openssl x509 -noout -text`: the certificate as OpenSSL reads it. */
  x509Text(cert: string): string[] {
    return ['x509', '-in', cert, '-noout', '-text'];
  },

  /** `openssl req -verify -noout`: checks a request's self-signature (the verdict is on stderr). */
  reqVerify(csr: string, inform: 'PEM' | 'DER' = 'PEM'): string[] {
    return ['req', '-in', csr, '-inform', inform, '-verify', '-noout'];
  },

  /** `openssl crl -noout -text`, verified against `caFile` when given (the verdict is on stderr). */
  crlText(crl: string, caFile?: string, inform: 'PEM' | 'DER' = 'PEM'): string[] {
    return ['crl', '-in', crl, '-inform', inform, ...(caFile ? ['-CAfile', caFile] : []), '-noout', '-text'];
  },

  /**
   * `openssl ocsp` asking the responder at `${baseUrl}/ocsp`, its answer verified with the CA certificate only.
   * @param query - what to ask, and how: `['-cert', file]`, `['-serial', '0x…']`, `-resp_text`, …
   */
  ocsp(caFile: string, baseUrl: string, query: string[]): string[] {
    return ['ocsp', '-issuer', caFile, '-CAfile', caFile, '-url', `${baseUrl}/ocsp`, ...query];
  },

  /** `openssl crl -verify -noout`: checks the CRL's signature against `caFile`. */
  crlVerify(crl: string, caFile: string, inform: 'PEM' | 'DER' = 'PEM'): string[] {
    return ['crl', '-in', crl, '-inform', inform, '-CAfile', caFile, '-verify', '-noout'];
  },

  /** `openssl pkcs12 -nodes`: decrypts a PKCS#12 file and prints its key and certificates as PEM. */
  pkcs12Nodes(p12: string, passFile: string): string[] {
    return ['pkcs12', '-in', p12, '-nodes', '-passin', `file:${passFile}`];
  },

  /**
   * `openssl pkcs12 -export`: a PKCS#12 file made by OpenSSL, the tutorial's way.
   * @param o.chain - a PEM file of certificates to add after the leaf (`-certfile`)
   * @param o.name - the friendly name (`-name`)
   * @param o.legacy - OpenSSL 1.1's algorithms (RC2, 3DES, SHA-1 MAC)
   */
  pkcs12Export(o: {
    key: string;
    cert: string;
    out: string;
    passFile: string;
    chain?: string;
    name?: string;
    legacy?: boolean;
  }): string[] {
    return [
      'pkcs12',
      '-export',
      ...(o.legacy ? ['-legacy'] : []),
      '-inkey',
      o.key,
      '-in',
      o.cert,
      ...(o.chain ? ['-certfile', o.chain] : []),
      ...(o.name ? ['-name', o.name] : []),
      '-passout',
      `file:${o.passFile}`,
      '-out',
      o.out,
    ];
  },

  /** `openssl ecparam -genkey`: a new P-256 key, PEM, to `out`. */
  newEcKey(out: string): string[] {
    return ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', out];
  },
};

/**
 * `openssl <args>`, an `x509` command that only reads and prints a certificate (`-text`, `-serial`, `-dates`,
 * `-fingerprint`, `-pubkey`, `-ext`): its stdout (it must exit 0). OpenSSL 3.0's x509 command loads the
 * system's trust store (/etc/ssl/certs/ca-certificates.crt, about 140 certificates) at every start, for signing
 * with `-CA`; printing never consults it, and loading it is half of such a run's CPU, so the run gets
 * `SSL_CERT_FILE=/dev/null`, where that load finds nothing. Not for runs that sign (`-req -CA`) or verify.
 * @param args - the arguments after `openssl`, `x509` first (as {@link opensslArgs.x509Text} gives them)
 */
export function x509Print(args: string[]): string {
  if (args[0] !== 'x509') throw new Error(`x509Print: not an x509 command: ${args.join(' ')}`);
  return runOk('openssl', args, { env: { ...process.env, SSL_CERT_FILE: '/dev/null' } }).stdout;
}

/** What `openssl verify` said about one of the certificates of a run. */
export interface VerifyVerdict {
  /** openssl printed `<file>: OK` for it. */
  ok: boolean;
  /** Its `<file>: OK` line, or its own lines of the report: the subject, each `error N at D depth lookup: …`. */
  output: string;
}

/**
 * One `openssl verify` run for several certificates, with each one's verdict apart. verify checks every
 * certificate on its own against the same trust and options, writes `<file>: OK` on stdout for those that
 * pass and, for the others, their report on stderr ending `error <file>: verification failed`; it exits 2
 * when any failed. A certificate that got neither (say, a file it could not read) has `ok: false` and the
 * whole of stderr as its output.
 * @param caFile - the trusted CA certificate(s) (`-CAfile`)
 * @param certs - the certificates to verify, each file once
 * @param opts - as for opensslArgs.verify
 * @returns the run's exit status and each certificate's verdict
 */
export function verifyEach(
  caFile: string,
  certs: string[],
  opts: Parameters<typeof opensslArgs.verify>[2] = {},
): { status: number | null; verdict: (cert: string) => VerifyVerdict } {
  if (new Set(certs).size !== certs.length)
    throw new Error(`verifyEach: a certificate given twice: ${certs}`);
  const r = run('openssl', opensslArgs.verify(caFile, certs, opts));
  const verdicts = new Map<string, VerifyVerdict>();
  for (const line of r.stdout.split('\n')) {
    const file = line.endsWith(': OK') ? line.slice(0, -': OK'.length) : undefined;
    if (file !== undefined && certs.includes(file)) verdicts.set(file, { ok: true, output: `${line}\n` });
  }
  let block = '';
  for (const line of r.stderr.split('\n')) {
    block += `${line}\n`;
    const failed = line.match(/^error (.*): verification failed$/);
    if (failed && certs.includes(failed[1]!)) {
      verdicts.set(failed[1]!, { ok: false, output: block });
      block = '';
    }
  }
  return {
    status: r.status,
    verdict: (cert) => {
      if (!certs.includes(cert)) throw new Error(`verifyEach: ${cert} was not verified in this run`);
      return verdicts.get(cert) ?? { ok: false, output: `no verdict for ${cert}; stderr:\n${r.stderr}` };
    },
  };
}
