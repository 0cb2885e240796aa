/**
 * Fixtures made once for the whole run, before any test file starts, and kept between runs under
 * node_modules/.cache/mtls-ca-tests in a folder named after a hash of what makes them (this file, the key
 * recipe, the Java sources, the java version), so that a change to any of them makes them anew:
 *
 * - key pairs of every type, made by our own generateKeyPair, for the tests that need keys but do not test
 *   key generation (keys.test.ts does, with fresh keys). Without them a dozen files each spent seconds on
 *   their own RSA-3072 and RSA-4096 keys;
 * - the Java programs the interop tests run, compiled once: `java File.java` compiles the source at every
 *   start, which costs more than the program itself; and the Tomcat recipe of docs/recipes/tomcat, compiled
 *   against the installed Tomcat (a javac start is about three CPU-seconds);
 * - the Go programs of test/helpers/go, built once (`go run` builds at every start), with Go's own build
 *   cache kept beside them;
 * - test/helpers/kill-at.c, the library the crash-safety tests preload to kill the binary at one call,
 *   compiled once;
 * - (not cached) the run's scratch folder, on a tmpfs where the machine has one: TMPDIR for the run, removed
 *   at the end (test/helpers/scratch.ts says why);
 * - (not cached) one temporary PostgreSQL server for the run, in which each test file of the database store
 *   makes its own database (test/helpers/postgres-server.ts); stopped and removed at the end.
 *
 * A test file reaches them through test/helpers/fixtures.ts, test/helpers/java.ts, test/helpers/go.ts and
 * test/helpers/strace.ts;
 * what they save and how to undo them is in docs/performance.md ("The test suite").
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { exportPrivateKeyPem, generateKeyPair, KEY_TYPES, type KeyType } from '../src/pki/keys.js';
import { CACHE, cached, hash } from './helpers/cache.js';
import { startPostgres, stopPostgres } from './helpers/postgres-server.js';
import { useScratchFolder } from './helpers/scratch.js';

/** How many distinct key pairs of each type a test file may ask for (index 0 … n-1). */
export const KEY_RECIPE: Record<KeyType, number> = {
  'ecdsa-p256': 6,
  'ecdsa-p384': 4,
  'rsa-2048': 4,
  'rsa-3072': 3,
  'rsa-4096': 3,
  ed25519: 4,
};

export interface Fixtures {
  /** A JSON file: key type → PKCS#8 PEM private keys, {@link KEY_RECIPE} of each. */
  keysFile: string;
  /** The compiled test/helpers/java programs, or undefined when there is no javac (their suites skip). */
  javaClasses?: string;
  /**
   * docs/recipes/tomcat compiled against {@link TOMCAT_HOME}: the folder of its classes, or javac's error when
   * it does not compile (that fails the Tomcat test, not the run); undefined without javac or Tomcat.
   */
  tomcatRecipe?: { classes: string } | { error: string };
  /** The folder of the built test/helpers/go programs, or undefined when there is no go (their suites skip). */
  goPrograms?: string;
  /** test/helpers/kill-at.c compiled, or undefined when there is no cc (the crash-safety suites skip). */
  killAt?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    fixtures: Fixtures;
    /** The run's scratch folder on a tmpfs (TMPDIR), or null where the run writes to the usual temp folder. */
    scratch: string | null;
  }
}

const HERE = import.meta.dirname;
const JAVA_SOURCES = path.join(HERE, 'helpers/java');
const GO_SOURCES = path.join(HERE, 'helpers/go');
/** Debian's tomcat10: the Tomcat the interop tests run. */
const TOMCAT_HOME = '/usr/share/tomcat10';
const TOMCAT_RECIPE = path.join(HERE, '../docs/recipes/tomcat');
const KILL_AT_SOURCE = path.join(HERE, 'helpers/kill-at.c');

const run = promisify(execFile);

async function makeKeys(): Promise<string> {
  const recipe = JSON.stringify(KEY_RECIPE);
  const dir = path.join(CACHE, `keys-${hash(fs.readFileSync(import.meta.filename), recipe)}`);
  await cached(dir, async (tmp) => {
    const keys = Object.fromEntries(
      await Promise.all(
        KEY_TYPES.map(async (kt) => [
          kt,
          await Promise.all(
            Array.from({ length: KEY_RECIPE[kt] }, async () =>
              exportPrivateKeyPem((await generateKeyPair(kt)).privateKey),
            ),
          ),
        ]),
      ),
    );
    fs.writeFileSync(path.join(tmp, 'keys.json'), `${JSON.stringify(keys)}\n`, { mode: 0o600 });
  });
  return path.join(dir, 'keys.json');
}

/** javac's version line (a JVM start, so asked once), or undefined without javac. */
async function javacVersion(): Promise<string | undefined> {
  const version = await run('javac', ['-version']).catch(() => undefined);
  return version && version.stdout + version.stderr;
}

/** The .java files of `folder` (full paths, in order), and their names and contents for a cache key. */
function javaSources(folder: string): { files: string[]; key: (string | Buffer)[] } {
  const names = fs
    .readdirSync(folder)
    .filter((f) => f.endsWith('.java'))
    .sort();
  const files = names.map((f) => path.join(folder, f));
  return { files, key: names.flatMap((f, i) => [f, fs.readFileSync(files[i]!)]) };
}

async function compileJava(javac: Promise<string | undefined>): Promise<string | undefined> {
  const version = await javac;
  if (!version) return undefined;
  const sources = javaSources(JAVA_SOURCES);
  const dir = path.join(CACHE, `java-${hash(version, ...sources.key)}`);
  return cached(dir, async (tmp) => {
    const exports = ['--add-exports', 'java.base/sun.security.tools.keytool=ALL-UNNAMED'];
    await run('javac', [...exports, '-d', tmp, ...sources.files]);
  });
}

async function compileTomcatRecipe(javac: Promise<string | undefined>): Promise<Fixtures['tomcatRecipe']> {
  const lib = path.join(TOMCAT_HOME, 'lib');
  if (!fs.existsSync(lib)) return undefined;
  const version = await javac;
  if (!version) return undefined;
  const sources = javaSources(TOMCAT_RECIPE);
  // Tomcat's jars by name and size: a new Tomcat package compiles the recipe anew.
  const jars = fs
    .readdirSync(lib)
    .sort()
    .map((f) => `${f} ${fs.statSync(path.join(lib, f)).size}`);
  const dir = path.join(CACHE, `tomcat-recipe-${hash(version, ...jars, ...sources.key)}`);
  try {
    const classes = await cached(dir, async (tmp) => {
      await run('javac', ['-cp', `${lib}/*`, '-d', tmp, ...sources.files]);
    });
    return { classes };
  } catch (e) {
    const { stderr, message } = e as { stderr?: string; message: string };
    return { error: stderr || message };
  }
}

async function buildGo(): Promise<string | undefined> {
  const version = await run('go', ['version']).catch(() => undefined);
  if (!version) return undefined;
  const sources = fs
    .readdirSync(GO_SOURCES)
    .filter((f) => f.endsWith('.go'))
    .sort();
  const dir = path.join(
    CACHE,
    `go-${hash(version.stdout, ...sources.flatMap((f) => [f, fs.readFileSync(path.join(GO_SOURCES, f))]))}`,
  );
  // Go keeps its compiled packages in GOCACHE; without HOME (CI) it has no default, and a kept one makes a
  // rebuild after a change to a program take a second instead of ten.
  const env = { ...process.env, GOCACHE: path.join(CACHE, 'go-build'), GOPATH: path.join(CACHE, 'go-path') };
  return cached(dir, async (tmp) => {
    for (const f of sources) {
      await run('go', ['build', '-o', path.join(tmp, f.replace(/\.go$/, '')), path.join(GO_SOURCES, f)], {
        env,
      });
    }
  });
}

async function compileKillAt(): Promise<string | undefined> {
  const version = await run('cc', ['--version']).catch(() => undefined);
  if (!version) return undefined;
  const dir = path.join(CACHE, `kill-at-${hash(version.stdout, fs.readFileSync(KILL_AT_SOURCE))}`);
  await cached(dir, async (tmp) => {
    await run('cc', [
      '-O2',
      '-Wall',
      '-shared',
      '-fPIC',
      '-o',
      path.join(tmp, 'kill-at.so'),
      KILL_AT_SOURCE,
      '-ldl',
    ]);
  });
  return path.join(dir, 'kill-at.so');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // first: everything below and every worker started after this writes its temp files there
  const scratch = useScratchFolder();
  const javac = javacVersion();
  const [keysFile, javaClasses, tomcatRecipe, goPrograms, killAt, postgres] = await Promise.all([
    makeKeys(),
    compileJava(javac),
    compileTomcatRecipe(javac),
    buildGo(),
    compileKillAt(),
    startPostgres({ fast: true }),
  ]);
  project.provide('fixtures', { keysFile, javaClasses, tomcatRecipe, goPrograms, killAt });
  project.provide('postgres', postgres);
  project.provide('scratch', scratch.folder ?? null);
  return async () => {
    if (postgres) await stopPostgres(postgres);
    scratch.remove();
  };
}
