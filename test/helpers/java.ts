/**
 * Java for the interop tests: the programs of test/helpers/java, compiled once per run by
 * test/global-setup.ts, and keytool, whose commands run many to a JVM ({@link keytoolBatch}), as HTTPS
 * clients do ({@link httpsClientBatch}): a JVM start costs far more than most Java checks once it runs
 * (docs/performance.md, "The test suite").
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { type RunResult, run } from './tools.js';

/**
 * For JVMs that live a second: the client compiler only and the serial collector cut the CPU a start costs
 * (C2 and the parallel collector pay off in long runs); the TLS, key store and crypto code is the same.
 */
export const SHORT_LIVED_JVM = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];

/** The folder of the compiled test/helpers/java programs (throws when there was no javac at the start). */
export function javaClasses(): string {
  const dir = inject('fixtures').javaClasses;
  if (!dir) throw new Error('the Java test programs were not compiled: no javac when the run started');
  return dir;
}

/**
 * The folder of docs/recipes/tomcat's classes, compiled against the installed Tomcat by test/global-setup.ts
 * (throws javac's error when the recipe did not compile, or when there was no javac or Tomcat at the start).
 */
export function tomcatRecipeClasses(): string {
  const recipe = inject('fixtures').tomcatRecipe;
  if (!recipe)
    throw new Error('docs/recipes/tomcat was not compiled: no javac or no Tomcat when the run started');
  if ('error' in recipe)
    throw new Error(`docs/recipes/tomcat does not compile against Tomcat:\n${recipe.error}`);
  return recipe.classes;
}

/**
 * The smallest Tomcat-wide configuration of a temporary CATALINA_BASE (`conf/web.xml`, `conf/context.xml`):
 * the default servlet only (no JSP engine to start) and no jar scanning (nothing the tests deploy has TLDs,
 * web fragments or annotations). Debian's versions of both cost about a CPU-second of Tomcat's start.
 * @param base - the CATALINA_BASE folder (conf/ is made when missing)
 */
export function writeTomcatDefaults(base: string): void {
  fs.mkdirSync(path.join(base, 'conf'), { recursive: true });
  fs.writeFileSync(
    path.join(base, 'conf/web.xml'),
    `<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet><servlet-name>default</servlet-name><servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class></servlet>
  <servlet-mapping><servlet-name>default</servlet-name><url-pattern>/</url-pattern></servlet-mapping>
</web-app>
`,
  );
  fs.writeFileSync(
    path.join(base, 'conf/context.xml'),
    '<Context><JarScanner scanClassPath="false" scanManifest="false"/></Context>\n',
  );
}

/**
 * `java` arguments that run one of the test/helpers/java programs.
 * @param program - the class name, e.g. `HttpsClient`
 * @param args - the program's arguments
 * @param properties - system properties, `-Dkey=value` (e.g. `javax.net.ssl.trustStore`)
 */
export function javaProgram(
  program:
    | 'HttpsClient'
    | 'MtlsHandshake'
    | 'KeytoolBatch'
    | 'DefaultContextClient'
    | 'ParseJava'
    | 'JsseServer'
    | 'MtlsServer'
    | 'VerifySigned',
  args: string[] = [],
  properties: Record<string, string> = {},
): string[] {
  const defines = Object.entries(properties).map(([k, v]) => `-D${k}=${v}`);
  return [...SHORT_LIVED_JVM, ...defines, '-cp', javaClasses(), program, ...args];
}

/**
 * The answers of a batch program (KeytoolBatch, HttpsClient --batch): one line per item,
 * `<exit>\t<stdout, base64>\t<stderr, base64>`, among whatever else the JVM printed.
 */
function batchAnswers(stdout: string): HttpsClientResult[] {
  const decode = (b: string) => Buffer.from(b, 'base64').toString('utf8');
  return stdout
    .split('\n')
    .filter((l) => /^\d+\t/.test(l))
    .map((l) => {
      const [exit, out, err] = l.split('\t');
      return { exit: Number(exit), stdout: decode(out!), stderr: decode(err!) };
    });
}

/** What HttpsClient answered one GET: exit 0 and `<status>\n<body>` on stdout, or exit 3 and the error. */
export interface HttpsClientResult {
  exit: number;
  stdout: string;
  stderr: string;
}

/**
 * GETs by HttpsClient, all in one JVM (`HttpsClient --batch`): the case named `viaProperties` is configured
 * only through javax.net.ssl.* system properties of the JVM and its default SSLContext, as a Spring Boot or
 * plain Java client is; every other case gets an SSLContext of its own, built from its settings the way JSSE
 * builds the default one, so its key store and trust store are read by the same JSSE code.
 * Asynchronous: the server may run in this process and must keep answering while java runs.
 * @param cases - name → the URL and its settings without their `javax.net.ssl.` prefix (keyStore, …)
 * @param viaProperties - the case whose settings become system properties
 * @returns name → what `java -Djavax.net.ssl.… HttpsClient <url>` would have given with that case's settings
 */
export function httpsClientBatch<K extends string>(
  cases: Record<K, { url: string; ssl: Record<string, string> }>,
  viaProperties: NoInfer<K>,
): Promise<Record<K, HttpsClientResult>> {
  const names = Object.keys(cases) as K[];
  const lines = names.map((n) => {
    const { url, ssl } = cases[n];
    const fields = n === viaProperties ? ['default'] : Object.entries(ssl).map(([k, v]) => `${k}=${v}`);
    for (const f of [url, ...fields])
      if (/[\t\n\r]/.test(f)) throw new Error(`httpsClientBatch: a tab or newline in ${JSON.stringify(f)}`);
    return [url, ...fields].join('\t');
  });
  const properties = Object.fromEntries(
    Object.entries(cases[viaProperties].ssl).map(([k, v]) => [`javax.net.ssl.${k}`, v]),
  );
  return new Promise((resolve, reject) => {
    const child = execFile(
      'java',
      javaProgram('HttpsClient', ['--batch'], properties),
      { encoding: 'utf8', timeout: 120_000 },
      (error, stdout, stderr) => {
        const answers = batchAnswers(stdout);
        if (error || answers.length !== names.length) {
          reject(
            new Error(
              `HttpsClient --batch answered ${answers.length} of ${names.length}:\n${stderr}${stdout}`,
            ),
          );
          return;
        }
        resolve(Object.fromEntries(answers.map((a, i) => [names[i], a])) as Record<K, HttpsClientResult>);
      },
    );
    child.stdin!.end(`${lines.join('\n')}\n`);
  });
}

/**
 * Runs keytool commands in as few JVMs as possible: one on Java 17, where KeytoolBatch refuses keytool's
 * System.exit after a failure; on a later Java, which cannot refuse it, one more after each command that fails
 * (so put the commands expected to fail last). Each result is what that command would have given as its own
 * process: exit code, stdout, stderr.
 * @param named - name → the arguments after `keytool`; run in this order
 * @returns name → result
 */
export function keytoolBatch<K extends string>(named: Record<K, string[]>): Record<K, RunResult> {
  const names = Object.keys(named) as K[];
  const commands = names.map((n) => named[n]);
  for (const c of commands)
    for (const a of c)
      if (/[\t\n\r]/.test(a))
        throw new Error(`keytoolBatch: a tab or newline in an argument: ${JSON.stringify(a)}`);
  const results: RunResult[] = [];
  while (results.length < commands.length) {
    const rest = commands.slice(results.length);
    const jvm = run(
      'java',
      ['--add-exports', 'java.base/sun.security.tools.keytool=ALL-UNNAMED', ...javaProgram('KeytoolBatch')],
      { input: `${rest.map((c) => c.join('\t')).join('\n')}\n`, timeout: 300_000, maxBuffer: 64 << 20 },
    );
    const answers = batchAnswers(jvm.stdout);
    if (answers.length === 0)
      throw new Error(`KeytoolBatch ran nothing (exit ${jvm.status}):\n${jvm.stderr}${jvm.stdout}`);
    for (const { exit, stdout, stderr } of answers.slice(0, rest.length))
      results.push({ status: exit, stdout, stderr });
  }
  return Object.fromEntries(names.map((n, i) => [n, results[i]!])) as Record<K, RunResult>;
}

/** One keytool command run by the `keytool` launcher itself, for a file that runs just one (no batch to share). */
export function keytool(args: string[]): RunResult {
  return run('keytool', [...SHORT_LIVED_JVM.map((o) => `-J${o}`), ...args]);
}

/** keytool's argument lists, spelled once. Passwords are read from files (`:file`), never from argv. */
export const keytoolArgs = {
  /** `-list` of a store; `verbose` adds each entry's details (`-v`). */
  list(store: string, passFile: string, opts: { type?: string; verbose?: boolean } = {}): string[] {
    return [
      '-list',
      ...(opts.verbose ? ['-v'] : []),
      '-keystore',
      store,
      ...(opts.type ? ['-storetype', opts.type] : []),
      '-storepass:file',
      passFile,
    ];
  },
  /** `-importkeystore` of every entry of `src` into a new PKCS12 store `dest`. */
  importKeystore(src: string, srcPassFile: string, dest: string, destPassFile: string): string[] {
    return [
      '-importkeystore',
      '-noprompt',
      '-srckeystore',
      src,
      '-srcstoretype',
      'PKCS12',
      '-srcstorepass:file',
      srcPassFile,
      '-destkeystore',
      dest,
      '-deststoretype',
      'PKCS12',
      '-deststorepass:file',
      destPassFile,
    ];
  },
  /** `-importcert` of a PEM certificate as a trusted entry `alias` in `store` (created when missing). */
  importCert(
    alias: string,
    certFile: string,
    store: string,
    type: 'JKS' | 'PKCS12',
    passFile: string,
  ): string[] {
    return [
      '-importcert',
      '-noprompt',
      '-alias',
      alias,
      '-file',
      certFile,
      '-storetype',
      type,
      '-keystore',
      store,
      '-storepass:file',
      passFile,
    ];
  },
};
