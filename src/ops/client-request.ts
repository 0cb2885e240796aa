/**
 * What `issue-client` is asked for: one client from the command line, or many from a `--from` file (one user
 * per line). Every request is checked here, before a key is generated or the CA key is read.
 */
import { MtlsCaError } from '../pki/errors.js';
import { assertAltNames } from '../pki/general-names.js';
import { assertSafeName, nameKey } from '../pki/names.js';

/** One client to issue: its name (the certificate's CN), its roles for users.json, its email SANs. */
export interface ClientRequest {
  name: string;
  roles: string[];
  email: string[];
}

const ROLE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Checks a request's name, roles and email addresses; throws the first refusal. */
export function validateClientRequest(o: ClientRequest): void {
  assertSafeName(o.name, 'client name');
  for (const r of o.roles) {
    if (!ROLE.test(r)) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        `use role ${JSON.stringify(r)}: roles are 1-64 of A-Z a-z 0-9 _ . : -`,
      );
    }
  }
  assertAltNames({ email: o.email });
}

/**
 * Reads a batch file: one user per line, `name [role …]` (roles separated by spaces or commas); blank lines
 * and `#` comments are skipped. Every line is checked before anything is generated.
 * @param text - the file's contents
 * @param file - the file as the user named it, for messages
 */
export function parseClientList(text: string, file: string): ClientRequest[] {
  const out: ClientRequest[] = [];
  /** Name key → the line that listed it, so that `Pavel` after `pavel` is a duplicate too. */
  const seen = new Map<string, { name: string; line: number }>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, ...rest] = line.split(/[\s,]+/);
    const request = { name: name!, roles: rest.filter(Boolean), email: [] };
    try {
      validateClientRequest(request);
    } catch (e) {
      if (e instanceof MtlsCaError)
        throw new MtlsCaError(e.code, `read ${file} line ${i + 1}: ${e.message}`, {
          hint: e.hint,
          detail: e.detail,
        });
      throw e;
    }
    const earlier = seen.get(nameKey(request.name));
    if (earlier) {
      throw new MtlsCaError(
        'INVALID_ARGUMENT',
        earlier.name === request.name
          ? `read ${file} line ${i + 1}: "${request.name}" is listed twice`
          : `read ${file} line ${i + 1}: "${request.name}" reads the same as "${earlier.name}" on line ${earlier.line}`,
        'list each user once, in one spelling',
      );
    }
    seen.set(nameKey(request.name), { name: request.name, line: i + 1 });
    out.push(request);
  }
  if (out.length === 0) throw new MtlsCaError('INVALID_ARGUMENT', `read ${file}: no client names in it`);
  return out;
}
