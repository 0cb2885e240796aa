/**
 * What the tests make once and keep between runs, under node_modules/.cache/mtls-ca-tests, each in a folder
 * named after a hash of what makes it, so that a change to any of that makes it anew. No vitest here: the
 * global setup loads this file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const CACHE = path.resolve(import.meta.dirname, '../../node_modules/.cache/mtls-ca-tests');

/** 16 hex digits of the SHA-256 of `parts`, each ended by a NUL. */
export function hash(...parts: (string | Buffer)[]): string {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Makes `dir` by `make(tmp)` into a temp folder renamed into place, unless it exists (another run made it). */
export async function cached(dir: string, make: (tmp: string) => Promise<void> | void): Promise<string> {
  if (fs.existsSync(dir)) return dir;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  try {
    await make(tmp);
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // a parallel run that renamed first has made the same thing
    if (!fs.existsSync(dir)) throw e;
  }
  return dir;
}
