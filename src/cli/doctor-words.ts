/**
 * What `doctor` says: the verdict of a live diagnosis as one sentence — its cause, then its fix — with the
 * evidence under it, and each finding of the lint with the command or setting that fixes it. The operations
 * return codes and data (src/ops/doctor-*.ts); the words, which name commands, flags and other servers'
 * settings, are the CLI's.
 */
import type { CertificateProblem } from '../ops/doctor-checks.js';
import type { Finding, LintReport, Note } from '../ops/doctor-lint.js';
import type { Evidence, LiveDiagnosis } from '../ops/doctor-live.js';
import type { Output } from './output.js';
import { day } from './render.js';

/** How commands in a fix refer to the CA directory: nothing for the default, else `--dir D`. */
export interface WordsContext {
  dirFlag: string;
}

const list = (items: string[]) => (items.length === 0 ? 'none' : items.join('; '));

/** `alice` from `CN=alice`, for a command line; undefined when the subject has no single CN. */
function commonName(subject: string): string | undefined {
  const names = subject.split(', ').filter((a) => a.startsWith('CN='));
  return names.length === 1 ? names[0]!.slice(3) : undefined;
}

/** Whether our CA issued the client certificate (then mtls-ca's own commands fix it). */
function ours(e: Evidence): boolean {
  return (
    e.clientCertificate !== undefined &&
    e.clientCertificate.checkedAgainst.ca !== undefined &&
    !e.clientCertificate.problems.some((p) => p.kind === 'not-issued-by-ca')
  );
}

function reactionText(e: Evidence): string {
  const r = e.reaction;
  if (!r) return 'nothing';
  switch (r.kind) {
    case 'alert':
      return r.alert === 'encrypted' ? 'an encrypted TLS alert' : `the TLS alert ${r.alert}`;
    case 'closed':
      return r.how === 'reset' ? 'a reset of the connection' : 'a close of the connection without an answer';
    case 'http':
      if (r.page === 'certificate-error') return 'nginx\'s 400 page "The SSL certificate error"';
      if (r.page === 'no-certificate') return 'nginx\'s 400 page "No required SSL certificate was sent"';
      return `HTTP ${r.status}${r.reason ? ` ${JSON.stringify({ reason: r.reason, ...(r.detail ? { detail: r.detail } : {}) })}` : ''}`;
    case 'silent':
      return 'no answer within the time-out';
  }
}

/** The cause and the fix of a verdict, from its evidence. */
export function verdictWords(d: LiveDiagnosis, w: WordsContext): { cause: string; fix: string } {
  const e = d.evidence;
  const subject = e.clientCertificate?.subject ?? 'the client certificate';
  const name = e.clientCertificate ? commonName(e.clientCertificate.subject) : undefined;
  const caNames = e.clientAuth?.caNames ?? [];
  const target = e.address ?? e.url;
  const said = reactionText(e);
  const refused = `the server refused ${subject} (${said})`;
  switch (d.verdict) {
    case 'OK':
      return {
        cause: `mutual TLS works: the server accepted ${subject} and answered HTTP ${e.answer?.status ?? '?'}`,
        fix: 'nothing to fix',
      };
    case 'UNREACHABLE': {
      if (!e.connect.ok) {
        const why = e.connect.timedOut
          ? `no connection to ${e.url} within ${Math.round(e.connect.ms / 1000)} s`
          : e.connect.error === 'ENOTFOUND' || e.connect.error === 'EAI_AGAIN'
            ? `the host of ${e.url} does not resolve (${e.connect.error})`
            : `nothing accepts connections at ${e.url} (${e.connect.error})`;
        return { cause: why, fix: 'start the server, or check the host, the port and any firewall between' };
      }
      if (e.reaction?.kind === 'silent') {
        return {
          cause: `the server at ${target} completed the handshake but sent no answer before the time-out`,
          fix: "look in the server's log for what it is waiting for",
        };
      }
      return {
        cause: `${target} does not speak TLS: it answered the ClientHello with something else, or closed the connection`,
        fix: "use the server's TLS port, or turn TLS on there",
      };
    }
    case 'TLS_VERSION_MISMATCH': {
      const offered =
        e.offered.min === e.offered.max ? `only ${e.offered.min}` : `${e.offered.min} to ${e.offered.max}`;
      return {
        cause:
          e.reaction?.kind === 'closed'
            ? `the server answered a ClientHello offering ${offered} with ${said}: it does not accept those versions, most likely`
            : `the client (offering ${offered}) and the server share no TLS version${e.tls ? `; the server chose ${e.tls.version}` : ''} (${said})`,
        fix: 'allow a common version on both sides: TLS 1.2 and 1.3 on the server, or the client allowed the newer one',
      };
    }
    case 'TLS_HANDSHAKE_FAILED':
      return {
        cause: `the server answered the ClientHello with ${said}, before choosing a version or cipher`,
        fix: "compare the server's TLS versions and cipher suites with the client's, and read the server's log",
      };
    case 'SERVER_CERT_UNTRUSTED': {
      const s = e.serverCertificate!;
      const leaf = e.serverChain?.[0]?.subject ?? 'the server certificate';
      const why =
        s.trust === 'untrusted'
          ? `does not chain to ${s.trustedFrom}`
          : s.trust === 'wrong-purpose'
            ? 'is not a server certificate (no serverAuth)'
            : s.trust === 'expired'
              ? 'or a certificate above it has expired'
              : 'or a certificate above it is not valid yet';
      return {
        cause: `a client cannot trust the server: ${leaf} ${why}`,
        fix:
          s.trust === 'untrusted'
            ? `give the CA that issued it with --ca FILE, or give the server a certificate of your CA (mtls-ca issue-server HOST${w.dirFlag})`
            : `give the server a new certificate (mtls-ca renew server${w.dirFlag})`,
      };
    }
    case 'SERVER_NAME_MISMATCH':
      return {
        cause: `the server certificate is not for ${e.servername}: it holds ${e.serverCertificate?.names.join(', ') || 'no name'}`,
        fix: `connect with a name it holds, or issue one that holds ${e.servername} (mtls-ca issue-server ${e.servername}${w.dirFlag})`,
      };
    case 'CLIENT_CERT_NOT_REQUESTED':
      return {
        cause: 'the server does not ask for a client certificate, so it authenticates no client by one',
        fix: 'turn client authentication on in the server (nginx ssl_verify_client on; Spring server.ssl.client-auth=need; HAProxy verify required; mtls-ca serve asks by default)',
      };
    case 'NO_CLIENT_CERT': {
      const sentNone = e.clientCertificate !== undefined;
      return {
        cause: sentNone
          ? `the server asked for a client certificate and received none (${said}), although ${subject} was offered${e.clientCertificate?.sent === 0 ? ': the client sent an empty list, as for a key the server does not accept' : ''}`
          : `the server asks for a client certificate${caNames.length ? ` issued by ${list(caNames)}` : ''} and none was given`,
        fix: sentNone
          ? `compare the server's signature algorithms (${list(e.clientAuth?.signatureAlgorithms.slice(0, 6) ?? [])}…) with the key of ${subject}`
          : 'pass --client NAME, --p12 FILE or --cert FILE --key FILE',
      };
    }
    case 'ISSUER_NOT_ADVERTISED':
      return {
        cause: `the server accepted ${subject}, but its issuer ${e.clientCertificate?.issuer} is not among the CA names it sends (${list(caNames)}): Java and Go clients then send no certificate at all`,
        fix: "add the CA to the server's list of client CAs (nginx ssl_client_certificate, HAProxy ca-file, openssl s_server -CAfile)",
      };
    case 'CLIENT_CA_UNTRUSTED':
      return {
        cause: `${refused}: it does not trust the issuer ${e.clientCertificate?.issuer}${caNames.length ? `; it asks for ${list(caNames)}` : ''}`,
        fix: ours(e)
          ? "add the CA certificate to the server's client CAs (its trust store)"
          : `use a certificate of a CA the server trusts (mtls-ca issue-client NAME${w.dirFlag}), or add ${e.clientCertificate?.issuer} to the server's client CAs`,
      };
    case 'CLIENT_CERT_EXPIRED':
      return {
        cause: `${refused}: the certificate expired on ${day(e.clientCertificate!.notAfter)}`,
        fix:
          ours(e) && name
            ? `renew it: mtls-ca renew ${name}${w.dirFlag}`
            : 'have its CA issue a new certificate',
      };
    case 'CLIENT_CERT_NOT_YET_VALID':
      return {
        cause: `${refused}: the certificate is valid only from ${e.clientCertificate!.notBefore}`,
        fix: 'check the clocks of the CA and the server, or wait until then',
      };
    case 'CLIENT_CERT_WRONG_PURPOSE': {
      const c = e.clientCertificate;
      const usage = c?.problems.find(
        (p): p is Extract<CertificateProblem, { kind: 'wrong-purpose' }> => p.kind === 'wrong-purpose',
      );
      return {
        cause: `${refused}: it is not a client certificate (${usage?.isCa ? 'it is a CA certificate' : `its extended key usage is ${usage?.extendedKeyUsage.join(', ') || 'not clientAuth'}`})`,
        fix: `use a client certificate (mtls-ca issue-client ${name ?? 'NAME'}${w.dirFlag})`,
      };
    }
    case 'CLIENT_CERT_REVOKED': {
      const revoked = e.clientCertificate?.problems.find((p) => p.kind === 'revoked');
      return {
        cause: `${refused}: the certificate is revoked${revoked && revoked.kind === 'revoked' ? ` (since ${day(revoked.revokedAt)}${revoked.reason ? `, ${revoked.reason}` : ''})` : ''}`,
        fix:
          ours(e) && name
            ? `issue a new one: mtls-ca issue-client ${name}${w.dirFlag}`
            : 'have its CA issue a new certificate',
      };
    }
    case 'CLIENT_CERT_REFUSED':
      return {
        cause: `${refused}, and the certificate shows no problem against ${list(Object.values(e.clientCertificate?.checkedAgainst ?? {}))}`,
        fix: "read the server's log for its reason (its trust store, CRL and user rules)",
      };
    case 'SERVER_REVOCATION_UNAVAILABLE':
      return {
        cause: `the server cannot check revocation (${said}): its CRL is out of date, and it refuses every client until it has a fresh one`,
        fix: `re-sign the CRL: mtls-ca crl${w.dirFlag} (and daily from cron, or serve with --crl-auto-renew)`,
      };
    case 'ACCESS_DENIED':
      return {
        cause: `the server accepted ${subject} and then denied access (${said})`,
        fix: `give ${name ?? 'the user'} the role the path needs in users.json (serve reads it while running), or change the server's access rules`,
      };
  }
}

/** The verdict as one line: `CODE: cause; fix.` */
export function verdictLine(out: Output, d: LiveDiagnosis, w: WordsContext): string {
  const { cause, fix } = verdictWords(d, w);
  const code = d.verdict === 'OK' ? out.color.green(d.verdict) : out.color.red(d.verdict);
  return `${code}: ${cause}; ${fix}.`;
}

/** The evidence under the verdict, one labelled line (or a few) per step. */
export function evidenceLines(e: Evidence): string[] {
  const lines: string[] = [];
  const row = (label: string, ...values: string[]) => {
    values.forEach((v, i) => {
      lines.push(`  ${i === 0 && label ? `${label}:`.padEnd(14) : ' '.repeat(14)}${v}`);
    });
  };
  row(
    'Connection',
    e.connect.ok
      ? `${e.address} in ${e.connect.ms} ms`
      : `${e.connect.error}${e.connect.timedOut ? ' (time-out)' : ''} after ${e.connect.ms} ms`,
  );
  if (e.tls)
    row(
      'TLS',
      `${e.tls.version}, ${e.tls.cipher}${e.tls.helloRetryRequest ? ' (after a HelloRetryRequest)' : ''}`,
    );
  if (e.serverChain) {
    row(
      'Server chain',
      ...e.serverChain.map(
        (c, i) =>
          `${i + 1}. ${c.subject} (${c.subject === c.issuer ? 'self-signed' : `issued by ${c.issuer}`}, until ${day(c.notAfter)})`,
      ),
    );
    const s = e.serverCertificate!;
    const trust =
      s.trust === 'trusted'
        ? `chains to ${s.anchor} from ${s.trustedFrom}`
        : s.trust === 'untrusted'
          ? `does not chain to ${s.trustedFrom}`
          : `chains to ${s.anchor}, but is ${s.trust}`;
    row(
      '',
      `${trust}; ${e.servername} is ${s.nameMatches ? '' : 'not '}one of its names (${s.names.join(', ')})`,
    );
  }
  if (e.clientAuth) {
    row(
      'Client auth',
      e.clientAuth.requested
        ? `requested${e.clientAuth.caNames.length ? `, from ${list(e.clientAuth.caNames)}` : ', any CA (no CA names sent)'}`
        : 'not requested',
    );
  }
  const c = e.clientCertificate;
  if (c) {
    const advertised =
      c.issuerAdvertised === undefined
        ? ''
        : c.issuerAdvertised
          ? ', an advertised CA'
          : ', a CA the server does not name';
    const sent = c.sent === undefined ? '' : `; ${c.sent} certificate${c.sent === 1 ? '' : 's'} sent`;
    row('Presented', `${c.subject} from ${c.source}, issued by ${c.issuer}${advertised}${sent}`);
    const against = list(Object.values(c.checkedAgainst));
    row(
      'Lint',
      c.problems.length === 0
        ? `no problem against ${against}`
        : `${c.problems.map(problemText).join('; ')} (against ${against})`,
    );
  } else {
    row('Presented', 'no client certificate');
  }
  row('Server said', reactionText(e));
  if (e.tlsError) row('TLS error', e.tlsError);
  if (e.unread) row('Unread', ...Object.entries(e.unread).map(([side, why]) => `${side}: ${why}`));
  row('Took', `${e.timings.totalMs} ms`);
  return lines;
}

function problemText(p: CertificateProblem): string {
  switch (p.kind) {
    case 'expired':
      return `expired on ${day(p.notAfter)}`;
    case 'not-yet-valid':
      return `not valid before ${p.notBefore}`;
    case 'expiring':
      return `expires in ${p.daysLeft} days`;
    case 'wrong-purpose':
      return p.isCa
        ? 'a CA certificate'
        : `not for ${p.use} authentication (${p.extendedKeyUsage.join(', ') || 'key usage'})`;
    case 'not-issued-by-ca':
      return `issued by ${p.issuer}, not by ${p.ca}`;
    case 'revoked':
      return `revoked on ${day(p.revokedAt)}`;
  }
}

/** A finding's message and fix, in the CLI's words. */
export function findingWords(
  f: Finding,
  w: WordsContext & { dir: string },
): { message: string; fix: string } {
  const path = (file: string) => (file === '.' ? w.dir : `${w.dir}/${file}`);
  const named = (n?: string) => (n ? ` (${n})` : '');
  switch (f.code) {
    case 'COMMIT_INTERRUPTED':
      return {
        message:
          f.state === 'pending'
            ? 'a killed command left a commit half applied: its files may disagree until it is finished'
            : 'a killed command left temp files of a commit it never made',
        fix: `run any command that uses the directory, e.g. mtls-ca list${w.dirFlag}, which finishes or undoes it`,
      };
    case 'FILE_UNREADABLE':
      return { message: f.cause, fix: 'restore the file from a backup, or issue it again' };
    case 'CA_NOT_SELF_SIGNED':
      return {
        message: 'the CA certificate does not verify with its own key',
        fix: 'restore ca/ca.crt from a backup',
      };
    case 'CA_NOT_ISSUED_BY_ROOT':
      return {
        message: `the intermediate CA certificate does not verify with the key of ${f.root}`,
        fix: 'restore ca/ca.crt and ca/root.crt from a backup',
      };
    case 'CA_NOT_A_CA':
      return {
        message: 'the CA certificate is not a CA (basicConstraints CA:TRUE and keyCertSign are required)',
        fix: `create a new CA: mtls-ca init --force${w.dirFlag}`,
      };
    case 'CERT_EXPIRED':
      return {
        message: `expired on ${day(f.notAfter)}`,
        fix: f.name ? renewFix(f.file, f.name, w) : 'replace it',
      };
    case 'CERT_NOT_YET_VALID':
      return {
        message: `not valid before ${f.notBefore}`,
        fix: 'check the clock of the machine that issued it',
      };
    case 'CERT_EXPIRING':
      return {
        message: `expires in ${f.daysLeft} day${f.daysLeft === 1 ? '' : 's'}, on ${day(f.notAfter)}`,
        fix: f.name ? renewFix(f.file, f.name, w) : 'replace it before then',
      };
    case 'CERT_WRONG_PURPOSE':
      return {
        message: f.isCa
          ? `a CA certificate where a ${f.use} certificate belongs`
          : `not usable for ${f.use} authentication (extended key usage: ${f.extendedKeyUsage.join(', ') || 'none'}, or a key usage without signing)`,
        fix:
          f.use === 'server'
            ? `issue one: mtls-ca issue-server HOST${w.dirFlag}`
            : `issue one: mtls-ca issue-client NAME${w.dirFlag}`,
      };
    case 'CERT_NOT_ISSUED_BY_CA':
      return {
        message: `issued by ${f.issuer}, not by this CA (${f.ca})`,
        fix: 'clients and servers that trust this CA refuse it: issue one with this CA, or move it out of the CA directory',
      };
    case 'CERT_ISSUER_REVOKED':
      return {
        message: `issued by ${f.issuer}, which the root revoked on ${day(f.revokedAt)}`,
        fix: `servers that check the CRL of each link of the chain (nginx ssl_crl, mtls-ca serve) refuse it: ${f.name ? `renew it, with the CA that issues now: mtls-ca renew ${f.name}${w.dirFlag}` : 'issue one with the CA that issues now'}`,
      };
    case 'CERT_NOT_IN_INVENTORY':
      return {
        message: `signed by this CA, but serial ${f.serial} is not in the inventory (it cannot be listed or revoked)`,
        fix: 'restore ca/inventory.jsonl from a backup',
      };
    case 'KEY_MISMATCH':
      return {
        message: `does not belong to ${f.certificate}`,
        fix: 'restore the matching key, or issue the certificate again with a new key (renew --rekey)',
      };
    case 'P12_WRONG_PASSWORD':
      return {
        message: `does not open with the password in ${f.passFile}`,
        fix: 'restore the .pass file, or issue the bundle again (renew NAME)',
      };
    case 'P12_OUT_OF_STEP':
      return {
        message:
          f.problem === 'no-key'
            ? 'holds no private key'
            : f.problem === 'key-mismatch'
              ? 'holds a key that matches none of its certificates'
              : `holds another certificate than ${f.certificate}`,
        fix: 'issue the bundle again (renew NAME), and hand out the new one',
      };
    case 'TRUST_STORE_MISSING':
      return {
        message: 'is missing: Java servers configured with it do not start',
        fix: 'restore it from a backup (mtls-ca init writes both trust stores)',
      };
    case 'TRUST_STORE_WITHOUT_CA':
      return {
        message: `does not hold the CA certificate ${f.ca}: Java trusts no client of this CA with it`,
        fix: `import it: keytool -importcert -alias ${f.alias} -file ${path(f.caFile)} -keystore ${path(f.file)}`,
      };
    case 'TRUST_STORE_NOT_TRUSTED':
      return {
        message: `holds ${f.ca} without Java's trusted attribute: keytool lists no trusted entry`,
        fix: `re-import it with keytool -importcert (keytool sets the attribute) into ${path(f.file)}`,
      };
    case 'CRL_MISSING':
      return {
        message: 'there is no CRL: servers that load it do not start',
        fix: `write one: mtls-ca crl${w.dirFlag}`,
      };
    case 'CRL_NOT_SIGNED_BY_CA':
      return {
        message: `is signed by ${f.issuer}, not by this CA: servers refuse it`,
        fix: `write one of this CA: mtls-ca crl${w.dirFlag}`,
      };
    case 'CRL_EXPIRED':
      return {
        message: `expired on ${f.nextUpdate}: servers that check revocation refuse every client`,
        fix: `re-sign it now: mtls-ca crl${w.dirFlag} (then daily from cron, or serve --crl-auto-renew)`,
      };
    case 'CRL_NOT_YET_VALID':
      return {
        message: `is valid only from ${f.thisUpdate}`,
        fix: `check the clock, then mtls-ca crl${w.dirFlag}`,
      };
    case 'CRL_EXPIRING':
      return {
        message: `expires on ${f.nextUpdate}`,
        fix: `re-sign it: mtls-ca crl${w.dirFlag} (daily from cron, or serve --crl-auto-renew)`,
      };
    case 'CRL_OUT_OF_STEP':
      return {
        message: `disagrees with the inventory: ${f.notListed.length ? `revoked but not listed: ${f.notListed.join(', ')}` : ''}${f.notListed.length && f.notRevoked.length ? '; ' : ''}${f.notRevoked.length ? `listed but not revoked: ${f.notRevoked.join(', ')}` : ''}`,
        fix: `re-sign it from the inventory: mtls-ca crl${w.dirFlag}`,
      };
    case 'MODE_TOO_OPEN':
      return {
        message: `mode ${f.mode}: a secret others on this machine can read`,
        fix: `chmod 600 ${path(f.file)}`,
      };
    case 'MODE_WORLD_WRITABLE':
      return {
        message: `mode ${f.mode}: anyone on this machine can change it`,
        fix: `chmod o-w ${path(f.file)}`,
      };
    case 'FILE_MISSING':
      return {
        message: `is missing, though ${f.name}${named(f.serial)} is still in use`,
        fix: 'restore it, or revoke the certificate if the file left on purpose',
      };
    case 'USER_WITHOUT_CERTIFICATE':
      return {
        message: `user ${f.user} has no certificate in use: nobody can log in as ${f.user}`,
        fix: `issue one (mtls-ca issue-client ${f.user}${w.dirFlag}) or remove the user`,
      };
    case 'CERTIFICATE_WITHOUT_USER':
      return {
        message: `${f.user} has a certificate in use but is not in users.json: serve answers 403`,
        fix: `add roles: mtls-ca issue-client ${f.user} --role user --force${w.dirFlag}, or edit users.json`,
      };
    case 'SERVER_NO_SAN':
      return {
        message: 'has no DNS name or IP address: browsers, Go, Java and Node refuse it for every host',
        fix: `issue one with names: mtls-ca issue-server HOST${w.dirFlag}`,
      };
    case 'HOST_NOT_COVERED':
      return {
        message: `no server certificate holds ${f.host}: clients connecting to it refuse the server`,
        fix: `issue one: mtls-ca issue-server ${f.host}${w.dirFlag}`,
      };
    case 'OCSP_RESPONDER_MISSING':
      return {
        message: `the CA publishes at ${f.publishUrl}, but the OCSP responder certificate is missing: every OCSP request is answered tryLater, and servers checking OCSP refuse every client`,
        fix: `issue it: mtls-ca crl${w.dirFlag}`,
      };
    case 'OCSP_RESPONDER_INVALID':
      return {
        message: `the OCSP responder certificate ${
          f.problem === 'expired'
            ? 'has expired'
            : f.problem === 'not-issued-by-ca'
              ? 'is not signed by this CA'
              : 'is not for OCSP signing (OCSPSigning)'
        }: servers checking OCSP refuse every client`,
        fix: `issue a new one: remove ${path('ca/ocsp.key')}, then mtls-ca crl${w.dirFlag} (publish --auto-renew keeps it fresh)`,
      };
    case 'CERT_WITHOUT_PUBLISH_URL':
      return {
        message: `in use, but names no CRL at ${f.publishUrl}/crl (issued before the publish URL): Java and nginx cannot check whether it is revoked`,
        fix: f.name ? `renew it to add the URLs: mtls-ca renew ${f.name}${w.dirFlag}` : 'issue it again',
      };
    case 'ED25519_FOR_BROWSERS':
      return {
        message:
          f.use === 'server'
            ? 'an Ed25519 server certificate: Chromium offers no Ed25519 in TLS and fails to connect'
            : 'an Ed25519 client key in a browser bundle: NSS (Firefox; Chromium on Linux) cannot import it',
        fix:
          f.use === 'server'
            ? `issue an ECDSA one: mtls-ca issue-server HOST… --name server --key-type ecdsa-p256 --force${w.dirFlag}`
            : `issue an ECDSA one: mtls-ca issue-client NAME --key-type ecdsa-p256 --force${w.dirFlag}`,
      };
  }
}

function renewFix(file: string, name: string, w: WordsContext): string {
  return file === 'ca/ca.crt'
    ? `create a new CA before then (mtls-ca init --force${w.dirFlag}) and hand out its certificate`
    : `renew it: mtls-ca renew ${name}${w.dirFlag}`;
}

export function noteText(n: Note): string {
  switch (n.code) {
    case 'CA_KEY_ENCRYPTED':
      return `${n.file}: encrypted; set MTLS_CA_PASSWORD or pass --ca-password-file to check it against the CA certificate`;
    case 'CA_KEY_ABSENT':
      return `${n.file}: not here (a server's copy of the directory?); the key was not checked`;
    case 'CA_KEY_IN_TOKEN':
      return `${n.file}: the CA key is in a PKCS#11 token (${n.uri}); every command that signs checks it, doctor does not open the token`;
    case 'PASSWORD_UNKNOWN':
      return `${n.file}: no .pass beside it (its password was given, not generated); not opened`;
  }
}

/** The lint as text: one line per finding, then a summary; notes after. */
export function lintLines(out: Output, r: LintReport, w: WordsContext): string[] {
  const lines: string[] = [];
  const width = Math.max(0, ...r.findings.map((f) => f.file.length));
  for (const f of r.findings) {
    const { message, fix } = findingWords(f, { ...w, dir: r.dir });
    const severity = f.severity === 'error' ? out.color.red('error  ') : out.color.yellow('warning');
    lines.push(`${severity}  ${f.file.padEnd(width)}  ${f.code}: ${message} — ${fix}`);
  }
  const c = r.checked;
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const what = [
    count(c.certificates, 'certificate'),
    count(c.keys, 'key'),
    count(c.pkcs12, '.p12 file'),
    count(c.trustStores, 'trust store'),
    c.crl ? 'the CRL' : 'no CRL',
    count(c.users, 'user'),
    ...(c.publishUrl ? [`what the publish URL ${c.publishUrl} promises`] : []),
  ].join(', ');
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  lines.push(
    r.findings.length === 0
      ? `${out.color.green('clean')}: ${r.dir} — checked ${what}`
      : `${count(errors, 'error')}, ${count(r.findings.length - errors, 'warning')} in ${r.dir} — checked ${what}`,
  );
  for (const n of r.notes) lines.push(`note: ${noteText(n)}`);
  return lines;
}
