/**
 * Go for the interop tests: the programs of test/helpers/go, built once per run by test/global-setup.ts
 * (docs/performance.md, "The test suite").
 */
import path from 'node:path';
import { inject } from 'vitest';

/**
 * The built program of test/helpers/go/`name`.go (throws when there was no go at the start).
 * @param name - the source's name without `.go`, e.g. `mtls-server`
 */
export function goProgram(name: 'mtls-server' | 'mtls' | 'verify-signed'): string {
  const dir = inject('fixtures').goPrograms;
  if (!dir) throw new Error('the Go test programs were not built: no go when the run started');
  return path.join(dir, name);
}
