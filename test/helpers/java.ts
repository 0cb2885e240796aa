/**
 * Java for the interop tests: the programs of test/helpers/java, compiled once per run by
 * test/global-setup.ts, and keytool, whose commands run many to a JVM ({@link keytoolBatch}): a JVM start
 * costs far more than most Java checks once it runs (docs/performance.md, "The test suite").
 */
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
 * `java` arguments for HttpsClient: a GET of `url` by HttpsURLConnection, configured only through the standard
 * javax.net.ssl.* system properties, as a Spring Boot or plain Java client is.
 * @param ssl - the properties without their `javax.net.ssl.` prefix: trustStore, keyStorePassword, …
 */
export function httpsClientArgs(url: string, ssl: Record<string, string>): string[] {
  const properties = Object.fromEntries(Object.entries(ssl).map(([k, v]) => [`javax.net.ssl.${k}`, v]));
  return javaProgram('HttpsClient', [url], properties);
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
    const lines = jvm.stdout.split('\n').filter((l) => /^\d+\t/.test(l));
    if (lines.length === 0)
      throw new Error(`KeytoolBatch ran nothing (exit ${jvm.status}):\n${jvm.stderr}${jvm.stdout}`);
    for (const line of lines.slice(0, rest.length)) {
      const [status, out, err] = line.split('\t');
      results.push({
        status: Number(status),
        stdout: Buffer.from(out!, 'base64').toString('utf8'),
        stderr: Buffer.from(err!, 'base64').toString('utf8'),
      });
    }
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
