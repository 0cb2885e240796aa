/** A CA directory's CRL and audit log as the tests read them: parsed, and the CRL verified by openssl. */
import { readFileSync } from 'node:fs';
import { Crl } from '../../src/pki/crl.js';
import type { AuditRecord } from '../../src/store/audit.js';
import { layout } from '../../src/store/layout.js';
import { type RunResult, run, runOk } from './tools.js';

/** `<dir>/ca/crl.pem`, parsed (its signature unchecked). */
export function readCaCrl(dir: string): Crl {
  const file = layout(dir).crl;
  return Crl.from(readFileSync(file), file);
}

/**
 * `openssl crl -verify` of `<dir>/ca/crl.pem` against `<dir>/ca/ca.crt`; throws unless openssl says
 * `verify OK`.
 * @param print - openssl's print options (`-lastupdate`, `-nextupdate`)
 * @returns what openssl printed on stdout
 */
export function opensslVerifyCaCrl(dir: string, print: string[] = []): string {
  const l = layout(dir);
  const r = runOk('openssl', ['crl', '-in', l.crl, '-CAfile', l.caCert, '-noout', ...print]);
  if (!r.stderr.includes('verify OK')) throw new Error(`openssl crl: no "verify OK"\n${r.stderr}`);
  return r.stdout;
}

/**
 * `openssl verify -crl_check` of `cert` against `<dir>/ca/ca.crt` and `<dir>/ca/crl.pem`; what it said, not
 * thrown when it refused (a revoked certificate is the point of most callers).
 */
export function verifyWithCrl(dir: string, cert: string): RunResult {
  const l = layout(dir);
  return run('openssl', ['verify', '-crl_check', '-CAfile', l.caCert, '-CRLfile', l.crl, cert]);
}

/** The records of `<dir>/ca/audit.log`, oldest first (their `prev` and `sig` included). */
export function readAuditRecords(dir: string): (AuditRecord & { prev: string; sig: string })[] {
  return readFileSync(layout(dir).auditLog, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}
