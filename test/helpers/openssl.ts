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

  /** `openssl req -noout -text`: the request as OpenSSL reads it. */
  reqText(csr: string): string[] {
    return ['req', '-in', csr, '-noout', '-text'];
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
