/**
 * Golden transcripts: what a person reads from the CLI, kept in test/golden/*.txt and compared exactly, so that
 * every change to it shows in review as a diff of those files.
 *
 * To accept a change, regenerate them and read the diff:
 *
 *     UPDATE_GOLDEN=1 npx vitest run test/cli/golden.test.ts && git diff test/golden
 *
 * (refused under CI=true, where a golden must be compared, never written).
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { CliResult } from './cli.js';
import { inCi } from './tools.js';

const GOLDEN_DIR = path.resolve(import.meta.dirname, '../golden');

/** One command as a transcript shows it: the command line, stdout, stderr (each only when not empty), exit code. */
export function transcriptOf(args: string[], r: CliResult): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  const section = (name: string, text: string) =>
    text === '' ? '' : `[${name}]\n${text}${text.endsWith('\n') ? '' : '\n[no newline at the end]\n'}`;
  return `$ mtls-ca ${args.map(quote).join(' ')}\n${section('stdout', r.stdout)}${section('stderr', r.stderr)}[exit ${r.code}]\n`;
}

/**
 * The variable parts of a transcript, made stable; everything else is compared as printed. Dates are not
 * among them: the golden tests run on a fixed clock, so dates, days left and backup folder names are what
 * they print at that instant.
 *
 * - `root` (the test's temp folder) → `<tmp>`
 * - random values, numbered by their first appearance in the transcript, so that the same value reads the
 *   same everywhere (a serial in `list` and in `revoke`) and one value never passes for another — each
 *   replaced by a token of the same length, so that columns stay aligned:
 *   serial numbers (32 hex digits) → `<serial 1.......................>`,
 *   SHA-256 fingerprints (`AB:CD:…`, 32 bytes) → `<sha256 1…>`, key identifiers (20 bytes) → `<key id 1…>`,
 *   SHA-256 hashes (64 hex digits, the audit log's) → `<hash 1…>`, SHA-1 fingerprints (40 hex digits, a
 *   macOS keychain's) → `<sha1 1…>`, the CA's short identity in trust store names (16 hex digits) →
 *   `<id 1…>`;
 * - `secrets` (generated passwords read from the `.pass` files) → `<password>`.
 */
export function normalise(text: string, root: string, secrets: string[] = []): string {
  let out = text.replaceAll(root, '<tmp>');
  for (const s of secrets) out = out.replaceAll(s, '<password>');
  const numbered = (pattern: RegExp, label: string) => {
    const seen = new Map<string, string>();
    out = out.replace(pattern, (value) => {
      const key = value.toLowerCase();
      if (!seen.has(key)) {
        const token = `<${label} ${seen.size + 1}`;
        seen.set(key, `${token}${'.'.repeat(Math.max(0, value.length - token.length - 1))}>`);
      }
      return seen.get(key)!;
    });
  };
  const colonHex = (bytes: number) =>
    new RegExp(`(?<![0-9A-F:])[0-9A-F]{2}(?::[0-9A-F]{2}){${bytes - 1}}(?![0-9A-F:])`, 'gi');
  const hex = (digits: number) => new RegExp(`(?<![0-9A-F])[0-9A-F]{${digits}}(?![0-9A-F])`, 'gi');
  numbered(colonHex(32), 'sha256');
  numbered(colonHex(20), 'key id');
  numbered(hex(64), 'hash');
  numbered(hex(32), 'serial');
  numbered(hex(40), 'sha1');
  numbered(hex(16), 'id');
  return out;
}

/**
 * Compares `actual` with test/golden/`name`.txt, or writes it there in update mode (UPDATE_GOLDEN=1).
 * @param name - the golden file's name without `.txt`, e.g. `help/init`
 */
export function expectGolden(name: string, actual: string): void {
  const file = path.join(GOLDEN_DIR, `${name}.txt`);
  const shown = path.relative(path.resolve(GOLDEN_DIR, '../..'), file);
  if (process.env.UPDATE_GOLDEN === '1') {
    if (inCi) throw new Error('UPDATE_GOLDEN=1 under CI=true: goldens are compared in CI, never written');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  if (!fs.existsSync(file))
    throw new Error(`no golden file ${shown}: run UPDATE_GOLDEN=1 npx vitest run test/cli/golden.test.ts`);
  expect(
    actual,
    `${shown} differs; if the change is meant, run UPDATE_GOLDEN=1 npx vitest run test/cli/golden.test.ts and review the diff`,
  ).toBe(fs.readFileSync(file, 'utf8'));
}
