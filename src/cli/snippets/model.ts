/**
 * The shape of a configuration snippet and the helpers the target modules share. A snippet is a few parts —
 * each a file to paste (a config block, a program) with a suggested name and the command that uses it — and
 * the environment variables its parts read secrets from, each with the bash line that sets it. A snippet
 * never holds a secret: a generated password is read from its `.pass` file by that line, one the user chose
 * is typed at a hidden prompt.
 */
import type { PasswordSource, SnippetFacts } from '../../ops/snippet.js';
import { shellWord as sh } from '../render.js';

export { sh };

/** One file of a snippet. */
export interface SnippetPart {
  /** A suggested file name (`mtls.conf`, `client.go`); the command in `run` uses it. */
  file: string;
  /** Where it goes or what it is, one line: `nginx: the http {} context, e.g. /etc/nginx/conf.d/`. */
  about: string;
  /** The file's text, ending in a newline. */
  text: string;
  /** The command that uses it, run from the file's folder, after the environment lines. */
  run?: string;
}

/** A secret a snippet reads from the environment. */
export interface SnippetVariable {
  name: string;
  /** What it holds: `the password of /…/keyStore.p12`. */
  holds: string;
  /** The bash line that sets it (reads a generated `.pass` file, or asks without echo). */
  set: string;
}

export interface Snippet {
  target: string;
  /** One line: what the snippet sets up. */
  title: string;
  environment: SnippetVariable[];
  parts: SnippetPart[];
}

/** What a target's template is filled in from. */
export interface SnippetInput {
  facts: SnippetFacts;
  /** The port a server snippet listens on. */
  port: number;
  /** The URL a client snippet calls. */
  url: string;
  /** Where a proxy snippet forwards requests (`http://127.0.0.1:8080`). */
  upstream: string;
}

/**
 * What `snippet` needs of a target before it runs: the help's list, the argument's choices, which
 * certificates to look for. The template itself is the target's {@link SnippetBuild}, in its module.
 */
export interface SnippetTarget {
  name: string;
  /** One line for the help's list of targets. */
  summary: string;
  /** Which certificates it configures: a server's, a client's, or both. */
  uses: 'server' | 'client' | 'both';
  /** The port its server listens on unless `--port` says otherwise (server snippets). */
  defaultPort?: number;
}

/**
 * Fills in a target's template.
 * @param input - the CA directory's facts, and the port, URL and upstream of the command line
 */
export type SnippetBuild = (input: SnippetInput) => Snippet;

/** What a target module exports as `builders`: the build of each of its targets, by target name. */
export type SnippetBuilders = Readonly<Record<string, SnippetBuild>>;

/** A string literal for JavaScript, Java, Go (and Python, whose escapes agree for these paths). */
export function str(s: string): string {
  return JSON.stringify(s);
}

/**
 * An environment variable holding a store password, with the line that sets it.
 * @param name - the variable (`MTLS_KEYSTORE_PASSWORD`)
 * @param file - the store, for the message
 * @param source - where the password is
 */
export function passwordVariable(name: string, file: string, source: PasswordSource): SnippetVariable {
  const set = source.file
    ? `export ${name}="$(cat ${sh(source.file)})"`
    : `read -rsp ${sh(`Password of ${file}: `)} ${name} && echo && export ${name}`;
  return { name, holds: `the password of ${file}`, set };
}

/** The variable for the server's key store password. */
export const keyStoreVariable = (f: SnippetFacts) =>
  passwordVariable('MTLS_KEYSTORE_PASSWORD', f.server.keyStore, f.server.keyStorePassword);

/** The variable for the JKS trust store's password. */
export const trustStoreVariable = (f: SnippetFacts) =>
  passwordVariable('MTLS_TRUSTSTORE_PASSWORD', f.trustStoreJks.file, f.trustStoreJks.password);

/** The variable for the client's `.p12` password (the snippet has a client). */
export function clientVariable(f: SnippetFacts): SnippetVariable {
  const c = clientOf(f);
  return passwordVariable('MTLS_CLIENT_PASSWORD', c.p12, c.p12Password);
}

/** The client of a snippet that needs one (the command resolves it before building). */
export function clientOf(f: SnippetFacts): NonNullable<SnippetFacts['client']> {
  if (!f.client) throw new Error('a client snippet was built without a client');
  return f.client;
}

/** The users with at least one role, as `role → names`, roles in order of first appearance. */
export function usersByRole(f: SnippetFacts): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const u of f.users) for (const r of u.roles) out.set(r, [...(out.get(r) ?? []), u.name]);
  return out;
}

/** The server's first DNS name (else its first address, else localhost): the name clients call it by. */
export function serverHost(f: SnippetFacts): string {
  return f.server.hosts[0] ?? 'localhost';
}

/** A line about the CRL's next update, for the comments of a server that reads the CRL once. */
export function crlDeadline(f: SnippetFacts): string {
  return f.crlNextUpdate ? `the current one expires ${f.crlNextUpdate.slice(0, 10)}` : 'it expires';
}
