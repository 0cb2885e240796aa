#!/usr/bin/env node
/**
 * `npm run bench` (builds first) or `node bench/run.js [name…]`: runs the benchmarks of bench/README.md and writes
 * bench/results/latest.json (raw numbers; a partial run replaces only the benchmarks it ran) and the results
 * section of bench/README.md. Every server and load generator it starts is bound to 127.0.0.1, runs in its
 * own process group and is killed at the end, also on failure or Ctrl-C; temp directories are removed.
 * BENCH_QUICK=1 shortens every duration and repetition count (for trying the harness, not for results): its
 * numbers go to bench/out/quick.json only, so that a try never replaces the recorded results.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupAll, machine, ROOT, round, waitForQuiet } from './lib/util.js';

const BENCHMARKS = {
  startup: () => import('./benchmarks/startup.js'),
  init: () => import('./benchmarks/init.js'),
  'issue-client': () => import('./benchmarks/issue-client.js'),
  batch: () => import('./benchmarks/batch.js'),
  throughput: () => import('./benchmarks/throughput.js'),
  handshakes: () => import('./benchmarks/handshakes.js'),
  scale: () => import('./benchmarks/scale.js'),
  publish: () => import('./benchmarks/publish.js'),
  doctor: () => import('./benchmarks/doctor.js'),
  token: () => import('./benchmarks/token.js'),
  database: () => import('./benchmarks/database.js'),
};
const DEFAULT_SET = [
  'startup',
  'init',
  'issue-client',
  'batch',
  'throughput',
  'handshakes',
  'scale',
  'publish',
  'doctor',
  'token',
  'database',
];

const RESULTS = path.join(ROOT, 'bench/results/latest.json');
const QUICK_RESULTS = path.join(ROOT, 'bench/out/quick.json');
const README = path.join(ROOT, 'bench/README.md');
const START = '<!-- results:start (written by bench/run.js) -->';
const END = '<!-- results:end -->';

function usage() {
  return `usage: node bench/run.js [${Object.keys(BENCHMARKS).join('|')}]…  (none: ${DEFAULT_SET.join(' ')})\n`;
}

const fmt = (x, unit) => {
  if (x === undefined || x === null || Number.isNaN(x)) return '—';
  const digits = x < 10 && unit !== 'ms' ? 2 : x < 100 ? 1 : 0;
  return round(x, digits).toLocaleString('en');
};

function cell(s, unit) {
  if (!s) return '—';
  const range = s.min !== undefined && s.n > 1 ? ` (${fmt(s.min, unit)}–${fmt(s.max, unit)})` : '';
  return `${fmt(s.median, unit)} ${unit}${range}`;
}

function renderBenchmark(key, b) {
  const busy =
    b.busyPercentBefore === undefined
      ? ''
      : ` Run ${b.date} (${b.seconds} s); the machine was ${b.busyPercentBefore}% busy just before it started.`;
  const lines = [
    `### ${b.title}`,
    '',
    `\`node bench/run.js ${key}\` — ${b.method.replace(/\.$/, '')}.${busy}`,
    '',
  ];
  if (b.error) {
    lines.push(`**Failed:** ${b.error}`, '');
    return lines;
  }
  lines.push('| case | ours | theirs | ratio | target | met? |', '|---|---|---|---|---|---|');
  for (const r of b.rows) {
    const theirs = r.theirs ? `${cell(r.theirs, r.unit)}<br>${r.theirsName}` : '—';
    const ratio =
      (r.ratio === undefined ? '—' : `${round(r.ratio, 2)}x`) +
      (r.ratioByCpu === undefined ? '' : ` (by server CPU: ${round(r.ratioByCpu, 2)}x)`);
    const met =
      r.met === null || r.met === undefined
        ? '—'
        : r.met
          ? 'yes'
          : `**no**${r.metNote ? ` (${r.metNote})` : ''}`;
    lines.push(`| ${r.case} | ${cell(r.ours, r.unit)} | ${theirs} | ${ratio} | ${r.target} | ${met} |`);
  }
  lines.push('');
  if (b.table) {
    lines.push(`| ${b.table.headers.join(' | ')} |`, `|${b.table.headers.map(() => '---').join('|')}|`);
    for (const row of b.table.rows) {
      lines.push(
        `| ${b.table.columns
          .map((c) =>
            Array.isArray(row[c]) ? row[c].join(', ') : typeof row[c] === 'number' ? fmt(row[c]) : row[c],
          )
          .join(' | ')} |`,
      );
    }
    lines.push('');
  }
  return lines;
}

function renderResults(all) {
  const m = all.machine;
  const lines = [
    START,
    `Last run: ${all.date} at commit \`${all.commit}\` (a partial run keeps the other benchmarks' earlier ` +
      `results) on ${m.cpu}, ${m.memoryGb} GB RAM, ${m.os}; ` +
      `Node ${m.node}, ${m.openssl}, ${m.java}, ${m.nginx}; pinning: ${m.pinning ?? 'none'}. ` +
      'Ranges are min–max over the repetitions.',
    '',
  ];
  for (const key of Object.keys(BENCHMARKS)) {
    if (all.benchmarks[key]) lines.push(...renderBenchmark(key, all.benchmarks[key]));
  }
  lines.push(END);
  return lines.join('\n');
}

function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head} + uncommitted src changes` : head;
  } catch {
    return 'unknown';
  }
}

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
    process.stderr.write('dist/ is missing: run `npm run build` (or `npm run bench`)\n');
    return 2;
  }
  const selected = names.length > 0 ? names : DEFAULT_SET;
  const quick = process.env.BENCH_QUICK === '1';
  // A partial run keeps the recorded benchmarks it did not run; a quick one records nothing beside its own.
  const previous =
    !quick && fs.existsSync(RESULTS) ? JSON.parse(fs.readFileSync(RESULTS, 'utf8')) : { benchmarks: {} };
  const all = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: gitCommit(),
    machine: machine(),
    quick,
    benchmarks: { ...previous.benchmarks },
  };
  let failed = false;
  for (const key of selected) {
    const started = Date.now();
    const quiet = await waitForQuiet();
    process.stderr.write(
      `bench: ${key}… (machine ${quiet.busyPercent}% busy after waiting ${quiet.waitedS} s)\n`,
    );
    try {
      const mod = await BENCHMARKS[key]();
      const result = await mod.run();
      all.benchmarks[key] = {
        ...result,
        seconds: Math.round((Date.now() - started) / 1000),
        busyPercentBefore: quiet.busyPercent,
        date: new Date(started).toISOString().replace(/\.\d+Z$/, 'Z'),
        commit: all.commit,
      };
      for (const r of result.rows) {
        process.stderr.write(
          `  ${r.case}: ${r.ours?.median} ${r.unit}${r.theirs ? ` vs ${r.theirs.median}` : ''}` +
            `${r.ratio === undefined ? '' : ` = ${round(r.ratio, 2)}x`} (target ${r.target}) ${r.met === null ? '' : r.met ? 'met' : 'MISSED'}\n`,
        );
      }
    } catch (e) {
      failed = true;
      process.stderr.write(`bench: ${key} failed: ${e.stack}\n`);
      all.benchmarks[key] = { title: key, method: 'failed', error: e.message.split('\n')[0], rows: [] };
    } finally {
      await cleanupAll();
    }
    process.stderr.write(`bench: ${key} took ${Math.round((Date.now() - started) / 1000)} s\n`);
  }
  if (all.quick) {
    fs.mkdirSync(path.dirname(QUICK_RESULTS), { recursive: true });
    fs.writeFileSync(QUICK_RESULTS, `${JSON.stringify(all, null, 2)}\n`);
    process.stderr.write(
      `bench: wrote ${path.relative(ROOT, QUICK_RESULTS)} (BENCH_QUICK: bench/README.md and the recorded results are left as they were)\n`,
    );
    return failed ? 1 : 0;
  }
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  const readme = fs.readFileSync(README, 'utf8');
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < 0) throw new Error(`${README} has no results markers`);
  fs.writeFileSync(README, `${readme.slice(0, from)}${renderResults(all)}${readme.slice(to + END.length)}`);
  // `npm run lint` checks bench/ too: format what we wrote the way Biome would (padded tables, JSON layout).
  const biome = path.join(ROOT, 'node_modules/.bin/biome');
  if (fs.existsSync(biome)) {
    try {
      execFileSync(biome, ['format', '--write', README, RESULTS], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      process.stderr.write('bench: biome format failed; run `npx biome format --write bench`\n');
    }
  }
  process.stderr.write(`bench: wrote ${path.relative(ROOT, RESULTS)} and ${path.relative(ROOT, README)}\n`);
  return failed ? 1 : 0;
}

const stop = async (signal) => {
  process.stderr.write(`bench: ${signal}, stopping servers\n`);
  await cleanupAll();
  process.exit(130);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

try {
  process.exitCode = await main();
} catch (e) {
  process.stderr.write(`bench: ${e.stack}\n`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
}
