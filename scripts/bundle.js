#!/usr/bin/env node
/**
 * Bundles the CLI into dist/bundle/ (run by `npm run build`, after tsc). Why: a Node process spends a large
 * part of a short command resolving, reading and compiling modules — the ~40 files of dist/ plus
 * commander's 6 were a third of `mtls-ca init` in a CPU profile (docs/performance.md, start-up). The
 * bundle keeps every dynamic import() a separate chunk, so a command still loads only what it uses, and
 * bundles commander (used by every command, hence a devDependency) while the runtime dependencies stay in
 * node_modules, loaded lazily.
 *
 * Layout rule: every output file sits directly in dist/bundle/, one directory below the package root as
 * dist/cli/*.js is two: code that finds files relative to itself (program.ts reads ../../package.json;
 * issue-client.ts starts ./issue-client-worker.js) must resolve the same from both, which the tests prove
 * by running bin/mtls-ca.js (the bundle) and the sources.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

const outdir = path.join(root, 'dist/bundle');
fs.rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts', 'issue-client-worker': 'src/ops/issue-client-worker.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // What the package depends on at run time stays outside; anything else it imports is bundled.
  // So do the optional peer dependencies (pkcs11js, a native module): loaded only where used, when installed.
  external: [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies ?? {})],
  // commander is CommonJS: its require('events') etc. need a require function in an ES module.
  banner: {
    js: "import { createRequire as __mtlsCaCreateRequire } from 'node:module'; const require = __mtlsCaCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
