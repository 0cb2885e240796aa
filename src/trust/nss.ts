/**
 * NSS databases — Chromium's and Chrome's on Linux (`~/.pki/nssdb`) and each Firefox profile — changed with
 * NSS's own certutil and pk12util. The CA goes in under a nickname derived from its certificate, trusted to
 * issue TLS certificates (`C,,`); a client's key and certificate come from its .p12. Every change is checked
 * against the certificate's bytes, so that removing takes away only what mtls-ca put there.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Certificate } from '../pki/certificate.js';
import {
  commandStep,
  haveProgram,
  runProgram,
  type StorePlan,
  type StoreStatus,
  type TrustStep,
} from './plan.js';

export interface NssDatabase {
  /** The database folder (holds cert9.db). */
  dir: string;
  browser: 'chromium' | 'firefox';
  /** Whether the database exists yet (Chromium creates its own on first start; we create it if missing). */
  exists: boolean;
}

/** A certificate's short identity: the first 16 hex digits of its SHA-256. */
export function shortFingerprint(c: Certificate): string {
  return c.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
}

/** The NSS nickname of the CA: its name and fingerprint, so that two CAs of the same name do not collide. */
export function caNickname(ca: Certificate): string {
  return `${ca.commonName ?? 'CA'} [mtls-ca ${shortFingerprint(ca)}]`;
}

/**
 * The current user's NSS databases: Chromium's (listed even when it does not exist yet) and every Firefox
 * profile's, the snap package's included.
 * @param home - the user's home folder
 */
export function nssDatabases(home: string): NssDatabase[] {
  const chromium = path.join(home, '.pki', 'nssdb');
  const out: NssDatabase[] = [
    { dir: chromium, browser: 'chromium', exists: existsSync(path.join(chromium, 'cert9.db')) },
  ];
  for (const base of [
    path.join(home, '.mozilla', 'firefox'),
    path.join(home, 'snap', 'firefox', 'common', '.mozilla', 'firefox'),
  ]) {
    let profiles: string[] = [];
    try {
      profiles = readdirSync(base);
    } catch {
      continue;
    }
    for (const p of profiles.sort()) {
      const dir = path.join(base, p);
      if (existsSync(path.join(dir, 'cert9.db'))) out.push({ dir, browser: 'firefox', exists: true });
    }
  }
  return out;
}

const db = (dir: string) => `sql:${dir}`;

/** The certificate stored under `nickname` (DER), or undefined. */
async function certificateAt(dir: string, nickname: string): Promise<Buffer | undefined> {
  const r = await runProgram(['certutil', '-L', '-d', db(dir), '-n', nickname, '-r']);
  return r.code === 0 && r.raw.length > 0 ? r.raw : undefined;
}

/** The trust flags of `nickname` (`C,,`, `u,u,u`) from the database's listing. */
async function trustFlags(dir: string, nickname: string): Promise<string | undefined> {
  const r = await runProgram(['certutil', '-L', '-d', db(dir)]);
  for (const line of r.stdout.split('\n')) {
    const m = /^(.*\S)\s+(\S*,\S*,\S*)\s*$/.exec(line);
    if (m && m[1] === nickname) return m[2];
  }
  return undefined;
}

/** The tools a plan needs, or the blocker when one is missing. */
export async function nssBlocker(tools: string[]): Promise<StorePlan['blocked']> {
  for (const tool of tools) {
    if (!(await haveProgram(tool))) return { kind: 'missing-tool', tool, packageName: 'libnss3-tools' };
  }
  return undefined;
}

/** Whether the CA is in the database, and trusted for TLS. */
export async function nssCaStatus(d: NssDatabase, ca: Certificate): Promise<StoreStatus> {
  const base = { store: 'nss' as const, location: d.dir };
  if (!d.exists) return { ...base, state: 'absent', detail: 'no database yet' };
  const nickname = caNickname(ca);
  const der = await certificateAt(d.dir, nickname);
  if (!der?.equals(ca.der)) return { ...base, state: 'absent' };
  const flags = await trustFlags(d.dir, nickname);
  return {
    ...base,
    state: flags?.split(',')[0]?.includes('C') ? 'trusted' : 'untrusted',
    detail: `"${nickname}" ${flags ?? ''}`.trim(),
  };
}

/**
 * Installing (or removing) the CA in one NSS database. Installing creates Chromium's database when it does
 * not exist yet, as Chromium would (no password); removing leaves the database.
 */
export async function nssCaPlan(
  action: 'install' | 'uninstall',
  d: NssDatabase,
  ca: Certificate,
  caFile: string,
): Promise<StorePlan> {
  const plan: StorePlan = { store: 'nss', location: d.dir, steps: [] };
  plan.blocked = await nssBlocker(['certutil']);
  if (plan.blocked) return plan;
  const nickname = caNickname(ca);
  const present = d.exists && (await certificateAt(d.dir, nickname))?.equals(ca.der);
  if (action === 'install') {
    if (present && (await nssCaStatus(d, ca)).state === 'trusted') {
      plan.note = `already trusted as "${nickname}"`;
      return plan;
    }
    if (!d.exists) {
      plan.steps.push(commandStep(['mkdir', '-p', '-m', '0700', d.dir]));
      // An empty password (read from an empty file), as Chromium's own database has.
      plan.steps.push(commandStep(['certutil', '-N', '-d', db(d.dir), '-f', '/dev/null']));
    }
    plan.steps.push(
      commandStep(['certutil', '-A', '-d', db(d.dir), '-n', nickname, '-t', 'C,,', '-i', caFile]),
    );
  } else if (present) {
    plan.steps.push(commandStep(['certutil', '-D', '-d', db(d.dir), '-n', nickname]));
  } else {
    plan.note = 'not there';
  }
  return plan;
}

/** Whether the client's certificate (with its key) is in the database, under its .p12 friendly name. */
export async function nssClientStatus(d: NssDatabase, client: Certificate): Promise<StoreStatus> {
  const base = { store: 'client' as const, location: d.dir };
  const nickname = client.commonName ?? '';
  if (!d.exists || !(await certificateAt(d.dir, nickname))?.equals(client.der))
    return { ...base, state: 'absent' };
  return { ...base, state: 'present', detail: `"${nickname}", with its key` };
}

/** Runs `fn` with `password` in a file readable by this user only, in a folder of its own, removed after. */
async function withPasswordFile(password: string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mtls-ca-'));
  try {
    const file = path.join(dir, 'p12.pass');
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How pk12util gets the .p12 password: the generated `.pass` file, or the password the user gave. */
export type P12Password = { file: string } | { value: string };

/**
 * Importing (or removing) a client's key and certificate from its .p12 in one NSS database. The password
 * goes to pk12util on its standard input, never in its arguments. The CA must be in the database first.
 * @param p12 - the .p12 file; its friendly name (the client's CN) becomes the nickname
 */
export async function nssClientPlan(
  action: 'install' | 'uninstall',
  d: NssDatabase,
  client: Certificate,
  p12: string,
  password: P12Password,
): Promise<StorePlan> {
  const plan: StorePlan = { store: 'client', location: d.dir, steps: [] };
  plan.blocked = await nssBlocker(action === 'install' ? ['certutil', 'pk12util'] : ['certutil']);
  if (plan.blocked) return plan;
  const nickname = client.commonName ?? '';
  const present = d.exists && (await certificateAt(d.dir, nickname))?.equals(client.der);
  if (action === 'install') {
    if (present) {
      plan.note = `already there as "${nickname}"`;
      return plan;
    }
    const base = ['pk12util', '-i', p12, '-d', db(d.dir), '-k', '/dev/null'];
    // pk12util reads the password from a file (-w), not from a pipe: the generated .pass file itself, or,
    // for a password the user gave, a file of this process's own that only it can read, removed at once.
    const step: TrustStep =
      'file' in password
        ? commandStep([...base, '-w', password.file])
        : {
            // Shown without -w: run by hand, pk12util asks for the password.
            command: base,
            run: () => withPasswordFile(password.value, (file) => commandStep([...base, '-w', file]).run!()),
          };
    plan.steps.push(step);
  } else if (present) {
    // -F deletes the key and its certificate.
    plan.steps.push(commandStep(['certutil', '-F', '-d', db(d.dir), '-n', nickname, '-f', '/dev/null']));
  } else {
    plan.note = 'not there';
  }
  return plan;
}
