/** A byte-level picture of a directory tree, to prove that a failed command changed nothing. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out[`${path.relative(dir, p)}/`] = 'dir';
        walk(p);
      } else {
        const st = fs.statSync(p);
        out[path.relative(dir, p)] =
          `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(fs.readFileSync(p)).digest('hex')}`;
      }
    }
  };
  walk(dir);
  return out;
}
