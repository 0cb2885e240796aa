import path from 'node:path';
import type tls from 'node:tls';
import { type Command, Option } from 'commander';
import type { ClientIdentity, LiveDiagnosis, Sourced } from '../../ops/doctor-live.js';
import type { Certificate } from '../../pki/certificate.js';
import type { Crl } from '../../pki/crl.js';
import { isMtlsCaError, MtlsCaError } from '../../pki/errors.js';
import type { CaStore } from '../../store/ca-store.js';
import { DEFAULT_DIR } from '../../store/layout.js';
import { type CommandContext, ExitError, helpAfter } from '../context.js';
import type { WordsContext } from '../doctor-words.js';
import { INPUT, inputName, readInput } from '../input.js';
import type { Io } from '../io.js';
import { ENV_CA_PASSWORD, ENV_STORE_PASSWORD, givenStorePassword, readPasswordFile } from '../passwords.js';

interface Flags {
  client?: string;
  p12?: string;
  cert?: string;
  key?: string;
  passwordFile?: string;
  ca?: string;
  servername?: string;
  tlsMin?: '1.2' | '1.3';
  tlsMax?: '1.2' | '1.3';
  host?: string[];
  caPasswordFile?: string;
}

/** The flags of the live check, which mean nothing without a URL. */
const LIVE_FLAGS = [
  'client',
  'p12',
  'cert',
  'key',
  'passwordFile',
  'ca',
  'servername',
  'tlsMin',
  'tlsMax',
] as const;
const FLAG_NAMES: Record<string, string> = {
  client: '--client',
  p12: '--p12',
  cert: '--cert',
  key: '--key',
  passwordFile: '--password-file',
  ca: '--ca',
  servername: '--servername',
  tlsMin: '--tls-min',
  tlsMax: '--tls-max',
  host: '--host',
  caPasswordFile: '--ca-password-file',
};

const VERSIONS = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' } as const satisfies Record<string, tls.SecureVersion>;

export function registerDoctor(program: Command, ctx: CommandContext): void {
  program
    .command('doctor')
    .summary('say why an mTLS connection fails, or what is wrong in the CA directory')
    .description(
      "With a URL: connects once (a TLS handshake and one GET of the URL's path) and says in one sentence\n" +
        'why mutual TLS fails there and how to fix it, with the evidence: TLS version and cipher, the server\n' +
        'chain as sent and whether it verifies, whether the server asks for a client certificate and from\n' +
        'which CAs (read from the handshake, TLS 1.2 and 1.3), what the server did with ours (an alert, a\n' +
        'close, an HTTP status), and a lint of our certificate against the CA and its CRL. Each step times\n' +
        'out (connect 5 s, handshake 5 s, answer 5 s).\n\n' +
        'Without a URL: lints the CA directory — chains and signatures, validity (a warning 30 days ahead),\n' +
        'keys against certificates, every .p12 against its .pass, the trust stores, the CRL, file modes,\n' +
        'users.json against the certificates in use, the server names, Ed25519 where browsers go; with a\n' +
        'publish URL, the OCSP responder and the URL in every certificate in use. It reads and never writes.',
    )
    .argument('[url]', 'https://HOST[:PORT][/PATH] of the server to diagnose')
    .option('--client <name>', 'present the certificate of client NAME of the CA directory')
    .option(
      '--p12 <file>',
      'present the key and certificate of a .p12 (password: --password-file, env, <file>.pass)',
    )
    .option('--cert <file>', 'present this certificate (PEM, its chain after it), with --key')
    .option('--key <file>', 'the unencrypted key of --cert (PEM)')
    .option('--password-file <file>', `the password of --p12, first line (or ${ENV_STORE_PASSWORD})`)
    .option('--ca <file>', "trust the server's certificate to these CAs (PEM; default: the CA directory's)")
    .option('--servername <name>', "the name to ask for (SNI) and check the server's certificate against")
    .addOption(new Option('--tls-min <version>', 'the lowest TLS version to offer').choices(['1.2', '1.3']))
    .addOption(new Option('--tls-max <version>', 'the highest TLS version to offer').choices(['1.2', '1.3']))
    .option(
      '--host <host>',
      'without a URL: a name or address a server certificate must hold (repeatable)',
      collectHosts,
    )
    .option('--ca-password-file <file>', `without a URL: check the CA key too (or ${ENV_CA_PASSWORD})`)
    .addHelpText(
      'after',
      helpAfter(
        [
          'mtls-ca doctor',
          'mtls-ca doctor https://localhost:8443 --client pavel',
          'mtls-ca doctor https://api.example.com/health --p12 alice.p12 --ca ca.crt --json',
        ],
        '\n  1   also: with a URL, a verdict other than OK; without one, a finding',
      ),
    )
    .action(async (url: string | undefined, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd, { readOnly: true });
      const dir = ctx.globals(cmd).dir;
      const words: WordsContext = { dirFlag: path.normalize(dir) === DEFAULT_DIR ? '' : ` --dir ${dir}` };
      checkFlags(url, flags);
      // loaded when doctor runs: the largest module of the CLI, which every other command's start would parse
      const { evidenceLines, lintLines, verdictLine, verdictWords } = await import('../doctor-words.js');
      if (url === undefined) {
        const { lintCaDirectory } = await import('../../ops/doctor-lint.js');
        const caPassword =
          flags.caPasswordFile !== undefined
            ? await readPasswordFile(ctx.io, flags.caPasswordFile, '--ca-password-file')
            : ctx.io.env[ENV_CA_PASSWORD] || undefined;
        const report = await lintCaDirectory(store, { caPassword, hosts: flags.host });
        out.result({ clean: report.findings.length === 0, ...report }, () => lintLines(out, report, words));
        if (report.findings.length > 0) throw new ExitError(1);
        return;
      }
      const d = await diagnoseUrl(ctx.io, store, url, flags);
      const { cause, fix } = verdictWords(d, words);
      out.result({ verdict: d.verdict, cause, fix, evidence: d.evidence }, () => [
        verdictLine(out, d, words),
        ...evidenceLines(d.evidence),
      ]);
      if (d.verdict !== 'OK') throw new ExitError(1);
    });
}

function collectHosts(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function usage(message: string, hint: string): MtlsCaError {
  return new MtlsCaError('USAGE', message, hint);
}

function checkFlags(url: string | undefined, f: Flags): void {
  const given = (k: keyof Flags) => f[k] !== undefined;
  if (url === undefined) {
    const live = LIVE_FLAGS.find(given);
    if (live)
      throw usage(`use ${FLAG_NAMES[live]}: it needs a URL to diagnose`, 'put https://HOST:PORT first');
    return;
  }
  for (const k of ['host', 'caPasswordFile'] as const) {
    if (given(k))
      throw usage(`use ${FLAG_NAMES[k]}: it is for the lint, without a URL`, `leave ${FLAG_NAMES[k]} out`);
  }
  const sources = (['client', 'p12', 'cert'] as const).filter(given);
  if (sources.length > 1) {
    throw usage(
      `use ${sources.map((s) => FLAG_NAMES[s]).join(' and ')}: they name two client certificates`,
      'give one of --client, --p12, --cert with --key',
    );
  }
  if (given('cert') !== given('key')) {
    throw usage(
      `use ${given('cert') ? '--cert' : '--key'}: it needs ${given('cert') ? '--key' : '--cert'}`,
      'give both',
    );
  }
  if (given('passwordFile') && !given('p12')) {
    throw usage('use --password-file: it is the password of --p12', 'leave it out, or add --p12 FILE');
  }
  if (f.tlsMin && f.tlsMax && Number(f.tlsMin) > Number(f.tlsMax)) {
    throw usage(`use --tls-min ${f.tlsMin} with --tls-max ${f.tlsMax}: no version is left`, 'swap them');
  }
}

/** A file a flag names; a missing one says which flag to correct. */
async function readNamed(io: Io, file: string, flag: string): Promise<Buffer> {
  try {
    return await readInput(io, file, INPUT.identity, flag);
  } catch (e) {
    if (isMtlsCaError(e, 'NOT_FOUND') && !e.hint) {
      throw new MtlsCaError(e.code, e.message, `check the path given to ${flag}`, e.cause);
    }
    throw e;
  }
}

/** The client certificate the flags name, or undefined for none. */
async function clientIdentity(io: Io, store: CaStore, f: Flags): Promise<ClientIdentity | undefined> {
  const live = await import('../../ops/doctor-live.js');
  if (f.client !== undefined) return live.clientFromStore(store, f.client);
  if (f.p12 !== undefined) {
    const data = await readNamed(io, f.p12, '--p12');
    const passFile = `${f.p12}.pass`;
    const password =
      (await givenStorePassword(io, f)).given ??
      (f.p12 !== '-'
        ? await readPasswordFile(io, passFile, 'password file').catch((e: unknown) => {
            if (isMtlsCaError(e, 'NOT_FOUND')) return undefined;
            throw e;
          })
        : undefined);
    if (password === undefined) {
      throw new MtlsCaError(
        'PASSWORD_REQUIRED',
        `read --p12 ${inputName(f.p12)}: a PKCS#12 file needs its password`,
        `pass --password-file F, set ${ENV_STORE_PASSWORD}, or put it in ${passFile}`,
      );
    }
    return live.clientFromPkcs12(data, password, inputName(f.p12));
  }
  if (f.cert !== undefined && f.key !== undefined) {
    return live.clientFromFiles(
      { data: await readNamed(io, f.cert, '--cert'), label: inputName(f.cert) },
      { data: await readNamed(io, f.key, '--key'), label: inputName(f.key) },
    );
  }
  return undefined;
}

async function diagnoseUrl(io: Io, store: CaStore, url: string, f: Flags): Promise<LiveDiagnosis> {
  const live = await import('../../ops/doctor-live.js');
  live.parseTarget(url); // a bad URL fails before any file is read
  const { Certificate } = await import('../../pki/certificate.js');
  const { Crl } = await import('../../pki/crl.js');
  const ourCa = store.readCertificate(store.paths.caCert);
  const ca: Sourced<Certificate> | undefined = ourCa && {
    value: ourCa,
    source: store.display(store.paths.caCert),
  };
  const crlRead = ourCa ? store.readCrl() : 'missing';
  const crl: Sourced<Crl> | undefined =
    crlRead instanceof Crl && ourCa && crlRead.isSignedBy(ourCa)
      ? { value: crlRead, source: store.display(store.paths.crl) }
      : undefined;
  let serverCa: Sourced<Certificate[]>;
  if (f.ca !== undefined) {
    const text = (await readNamed(io, f.ca, '--ca')).toString('latin1');
    const certificates = Certificate.allFromPem(text, inputName(f.ca));
    if (certificates.length === 0) {
      throw new MtlsCaError('PARSE_FAILED', `read --ca ${inputName(f.ca)}: no PEM certificate in it`);
    }
    serverCa = { value: certificates, source: inputName(f.ca) };
  } else if (ca) {
    serverCa = { value: [ca.value], source: ca.source };
  } else {
    const { rootCertificates } = await import('node:tls');
    serverCa = {
      value: rootCertificates.map((pem) => Certificate.from(pem)),
      source: "Node's root certificates",
    };
  }
  return live.diagnose({
    url,
    servername: f.servername,
    client: await clientIdentity(io, store, f),
    serverCa,
    ca,
    crl,
    minVersion: f.tlsMin && VERSIONS[f.tlsMin],
    maxVersion: f.tlsMax && VERSIONS[f.tlsMax],
  });
}
