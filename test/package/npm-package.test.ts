/**
 * The npm package as users get it: `npm pack` on the sources alone (prepack builds), the tarball installed into
 * an empty project and globally, and the CLI and the `mtls-ca/pki` library used from there. Packing happens in
 * a copy of the sources, because a build replaces dist/, which the other test files are running.
 *
 * The installs use the npm cache first (`--prefer-offline`): after `npm ci` every dependency is in it, so the
 * registry is asked only for what the cache lacks.
 *
 * A release check rather than a unit of the suite: `npm run test:package` runs it (vitest.package.config.ts),
 * `npm test` leaves it out, and CI runs both.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { run, tempDir } from '../helpers/tools.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
/** What a build reads: a fresh clone has these and node_modules, and no dist/. */
const SOURCES = [
  'package.json',
  'README.md',
  'LICENSE',
  'bin',
  'src',
  'scripts',
  'tsconfig.json',
  'tsconfig.build.json',
];
const PASSWORDS = { MTLS_CA_PASSWORD: 'ca-secret-1', MTLS_CA_STORE_PASSWORD: 'store-secret-1' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * npm or the installed CLI, outside the npm run that started the tests: its npm_* variables (the repo's
 * package, its lifecycle event) would leak into the commands under test.
 */
function sh(
  command: string,
  args: string[],
  cwd: string,
  extraEnv: Record<string, string> = {},
): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extraEnv };
  for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k];
  delete env.CI; // npm prints progress differently under CI; nothing here depends on it
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

async function ok(command: string, args: string[], cwd: string, env?: Record<string, string>): Promise<Run> {
  const r = await sh(command, args, cwd, env);
  if (r.code !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`);
  return r;
}

/** Every relative module or file a shipped .js loads: `from './chunk-X.js'`, `import('./init-Y.js')`, `new URL('…')`. */
function relativeReferences(code: string): string[] {
  return [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bnew URL\(\s*)["'](\.\.?\/[^"']+)["']/g)].map(
    (m) => m[1]!,
  );
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

// The commands after the install are independent of each other: they run side by side.
describe.concurrent('the npm package', () => {
  const root = tempDir('mtls-ca-pack-');
  const source = path.join(root, 'source');
  const project = path.join(root, 'project');
  const globalPrefix = path.join(root, 'global');
  let tarball: string;
  let installed: string;
  let localInstall: Run;

  beforeAll(async () => {
    fs.mkdirSync(source);
    for (const f of SOURCES) fs.cpSync(path.join(REPO, f), path.join(source, f), { recursive: true });
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(source, 'node_modules'));
    await ok('npm', ['pack', '--pack-destination', root, '--no-audit', '--no-fund'], source);
    tarball = path.join(root, `mtls-ca-${pkg.version}.tgz`);

    fs.mkdirSync(project);
    fs.writeFileSync(
      path.join(project, 'package.json'),
      '{ "name": "uses-mtls-ca", "private": true, "type": "module" }\n',
    );
    const install = ['--prefer-offline', '--no-audit', '--no-fund', tarball];
    [localInstall] = await Promise.all([
      ok('npm', ['install', ...install], project),
      ok('npm', ['install', '-g', '--prefix', globalPrefix, ...install], root),
    ]);
    installed = path.join(project, 'node_modules/mtls-ca');
  }, 180_000);

  test('the tarball holds what runs — README, LICENSE, bin, the bundle, the typed pki library — and nothing dangling', () => {
    const files = run('tar', ['-tzf', tarball])
      .stdout.trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    const unexpected = files.filter(
      (f) =>
        !['package.json', 'README.md', 'LICENSE', 'bin/mtls-ca.js'].includes(f) &&
        !/^dist\/bundle\/[\w-]+\.js$/.test(f) &&
        !/^dist\/pki\/[\w-]+\.(js|d\.ts)$/.test(f),
    );
    expect(unexpected).toEqual([]);
    expect(files).toContain('dist/bundle/main.js');
    expect(files).toContain('dist/bundle/issue-client-worker.js');
    expect(files).toContain('dist/pki/index.d.ts');
    expect(fs.readFileSync(path.join(installed, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) \d{4} the mtls-ca authors\n/,
    );
    // every module or file a shipped script names is shipped too
    const dangling = filesUnder(installed)
      .filter((f) => f.endsWith('.js'))
      .flatMap((f) =>
        relativeReferences(fs.readFileSync(path.join(installed, f), 'utf8'))
          .filter((ref) => !fs.existsSync(path.resolve(installed, path.dirname(f), ref)))
          .map((ref) => `${f} → ${ref}`),
      );
    expect(dangling).toEqual([]);
    expect(localInstall.stderr).not.toMatch(/install-scripts|allowScripts/);
  });

  test('installed into an empty project: npx mtls-ca --version, init, issue-client pavel --role user, inspect', async () => {
    const npx = (args: string[]) => ok('npx', ['--no', '--', 'mtls-ca', ...args], project, PASSWORDS);
    expect((await npx(['--version'])).stdout.trim()).toBe(pkg.version);
    await npx(['init']);
    const issued = await npx(['issue-client', 'pavel', '--role', 'user']);
    expect(issued.stdout).toMatch(/^Issued a client certificate for "pavel" \(ecdsa-p256\)/);
    const inspected = await npx(['inspect', 'ssl/client/client_pavel.p12']);
    expect(inspected.stdout).toContain('Subject:      CN=pavel');
    expect(inspected.stdout).toContain('matches the first certificate');
  });

  test('a global install (npm install -g) puts a working mtls-ca on the PATH', async () => {
    const r = await ok(path.join(globalPrefix, 'bin/mtls-ca'), ['--version'], root);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  test('mtls-ca/pki is the library entry: it imports, type-checks, and hides the files behind it', async () => {
    fs.writeFileSync(
      path.join(project, 'use-pki.ts'),
      `import { createPkcs12, createRootCa, generateKeyPair, issueClientCertificate, type KeyType, parsePkcs12 } from 'mtls-ca/pki';
const type: KeyType = 'ecdsa-p256';
const caKeys = await generateKeyPair(type);
const ca = { certificate: createRootCa({ subject: { commonName: 'Lib CA' }, ...caKeys, days: 30 }), privateKey: caKeys.privateKey };
const user = await generateKeyPair();
const certificate = issueClientCertificate({ ca, publicKey: user.publicKey, commonName: 'lib-user', days: 7 });
const p12 = createPkcs12({ privateKey: user.privateKey, certificate, chain: [ca.certificate], password: 'pw' });
const back = parsePkcs12(p12, 'pw', 'lib.p12');
console.log(back.certificates.map((c) => c.certificate.subjectName).join(' / '));
try {
  await import('mtls-ca/dist/pki/keys.js' as string);
} catch (e) {
  console.log((e as { code?: string }).code);
}
`,
    );
    const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
    await ok(
      process.execPath,
      [
        tsc,
        ...['--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'],
        // the consumer's file is checked against our declarations; checking @types/node itself costs seconds
        '--skipLibCheck',
        ...['--types', 'node', '--typeRoots', path.join(REPO, 'node_modules/@types'), 'use-pki.ts'],
      ],
      project,
    );
    const r = await ok(process.execPath, ['use-pki.js'], project);
    expect(r.stdout).toBe('CN=lib-user / CN=Lib CA\nERR_PACKAGE_PATH_NOT_EXPORTED\n');
  });

  test('npm ci leaves no install script unreviewed (allowScripts covers esbuild)', async () => {
    const r = await sh('npm', ['install-scripts', 'ls'], REPO);
    if (r.code !== 0 && /unknown command/i.test(r.stderr)) {
      // allowScripts and its warning came with npm 11; an older npm runs every install script and has no check.
      console.warn(
        `[skip] allowScripts: npm ${(await ok('npm', ['--version'], REPO)).stdout.trim()} does not know it`,
      );
      return;
    }
    expect(r.stdout.trim()).toBe('No packages with unreviewed install scripts.');
  });
});
