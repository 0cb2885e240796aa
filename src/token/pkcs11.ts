/**
 * The one file that loads pkcs11js, the native PKCS#11 binding, and only when a pkcs11: URI is used: it is an
 * optional dependency, built with a C++ compiler, which the default install does without. Above this file the
 * token is a {@link TokenSession}: find a token by its label, log in, find, make and use key objects. Every
 * PKCS#11 failure leaves here as an MtlsCaError naming what was done and the CKR_ code.
 */
import type * as pkcs11js from 'pkcs11js';
import { MtlsCaError } from '../pki/errors.js';
import type { Pkcs11Uri } from './uri.js';

type Binding = typeof pkcs11js;
export type Handle = Buffer;
export type Template = pkcs11js.Template;

let binding: Promise<Binding> | undefined;

/** pkcs11js, loaded once; UNSUPPORTED when it is not installed (it is an optional dependency). */
async function loadBinding(): Promise<Binding> {
  binding ??= import('pkcs11js').then(
    (m) => ((m as { default?: Binding }).default ?? m) as Binding,
    (e: unknown) => {
      binding = undefined;
      throw new MtlsCaError(
        'UNSUPPORTED',
        'load pkcs11js, the PKCS#11 binding: it is not installed (an optional dependency, built with a C++ compiler)',
        { cause: e, detail: { kind: 'pkcs11-binding-missing' } },
      );
    },
  );
  return binding;
}

/** The CKR_ name of a PKCS#11 failure (`CKR_PIN_INCORRECT`), or undefined for another error. */
export function ckrOf(e: unknown): string | undefined {
  const m = /\bCKR_[A-Z_]+/.exec((e as Error)?.message ?? '');
  return m?.[0];
}

/** TOKEN_FAILED for a failure without a more telling code. */
export function tokenFailure(action: string, e: unknown): MtlsCaError {
  if (e instanceof MtlsCaError) return e;
  return new MtlsCaError(
    'TOKEN_FAILED',
    `${action}: ${ckrOf(e) ?? (e as Error)?.message ?? String(e)}`,
    undefined,
    e,
  );
}

/** A module is initialized once per process (a second C_Initialize fails); kept for the process's life. */
const modules = new Map<string, pkcs11js.PKCS11>();

async function loadModule(path: string): Promise<{ p11: pkcs11js.PKCS11; lib: Binding }> {
  const lib = await loadBinding();
  let p11 = modules.get(path);
  if (!p11) {
    const fresh = new lib.PKCS11();
    try {
      fresh.load(path);
    } catch (e) {
      const cause = ((e as Error)?.message ?? String(e)).split('\n')[0];
      throw new MtlsCaError('PKCS11_MODULE', `load PKCS#11 module ${path}: ${cause}`, undefined, e);
    }
    try {
      fresh.C_Initialize();
    } catch (e) {
      if (ckrOf(e) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
        throw new MtlsCaError(
          'PKCS11_MODULE',
          `initialize PKCS#11 module ${path}: ${ckrOf(e) ?? (e as Error).message}`,
          undefined,
          e,
        );
      }
    }
    p11 = fresh;
    modules.set(path, p11);
  }
  return { p11, lib };
}

/** CK_TOKEN_INFO strings are blank-padded to a fixed width. */
const trimmed = (s: string | undefined) => (s ?? '').replace(/[\s\0]+$/, '');

/** What the URI says of a token, as `token "CA" (serial 1234)`, for messages. */
export function describeToken(uri: Pkcs11Uri): string {
  const parts = [uri.token !== undefined ? `token "${uri.token}"` : 'the token'];
  if (uri.serial !== undefined) parts.push(`(serial ${uri.serial})`);
  return parts.join(' ');
}

/** An open, logged-in session with one token. */
export class TokenSession {
  readonly lib: Binding;
  readonly #p11: pkcs11js.PKCS11;
  readonly #session: Handle;
  /** `token "CA"`, for messages. */
  readonly name: string;
  #closed = false;

  private constructor(lib: Binding, p11: pkcs11js.PKCS11, session: Handle, name: string) {
    this.lib = lib;
    this.#p11 = p11;
    this.#session = session;
    this.name = name;
  }

  /**
   * Opens a read-write session with the one token that matches `uri` (label, manufacturer, model, serial) and
   * logs in as its user.
   * @param modulePath - the PKCS#11 module (shared library)
   * @param uri - names the token
   * @param pin - the user PIN
   * @throws MtlsCaError PKCS11_MODULE, TOKEN_NOT_FOUND, BAD_PIN, TOKEN_FAILED
   */
  static async open(modulePath: string, uri: Pkcs11Uri, pin: string): Promise<TokenSession> {
    const { p11, lib } = await loadModule(modulePath);
    const name = describeToken(uri);
    let slot: Handle;
    try {
      const present = p11.C_GetSlotList(true).map((s) => ({ slot: s, info: p11.C_GetTokenInfo(s) }));
      const initialized = present.filter((t) => t.info.flags & lib.CKF_TOKEN_INITIALIZED);
      const matching = initialized.filter(
        ({ info }) =>
          (uri.token === undefined || trimmed(info.label) === uri.token) &&
          (uri.manufacturer === undefined || trimmed(info.manufacturerID) === uri.manufacturer) &&
          (uri.model === undefined || trimmed(info.model) === uri.model) &&
          (uri.serial === undefined || trimmed(info.serialNumber) === uri.serial),
      );
      if (matching.length !== 1) {
        const labels = initialized.map((t) => `"${trimmed(t.info.label)}"`);
        const seen = labels.length ? `the module has ${labels.join(', ')}` : 'the module has no token';
        throw new MtlsCaError(
          'TOKEN_NOT_FOUND',
          matching.length === 0
            ? `open ${name}: no such token (${seen})`
            : `open ${name}: ${matching.length} tokens match (name one by its serial=)`,
        );
      }
      slot = matching[0]!.slot;
    } catch (e) {
      throw tokenFailure(`open ${name}`, e);
    }
    let session: Handle;
    try {
      session = p11.C_OpenSession(slot, lib.CKF_SERIAL_SESSION | lib.CKF_RW_SESSION);
    } catch (e) {
      throw tokenFailure(`open a session with ${name}`, e);
    }
    const opened = new TokenSession(lib, p11, session, name);
    try {
      p11.C_Login(session, lib.CKU_USER, pin);
    } catch (e) {
      const ckr = ckrOf(e);
      // Another session of this process logged in already: the token's login is per process (PKCS#11 §5.6).
      if (ckr !== 'CKR_USER_ALREADY_LOGGED_IN') {
        opened.close();
        if (ckr === 'CKR_PIN_INCORRECT' || ckr === 'CKR_PIN_LEN_RANGE') {
          throw new MtlsCaError('BAD_PIN', `log in to ${name}: wrong PIN`, undefined, e);
        }
        if (ckr === 'CKR_PIN_LOCKED') {
          throw new MtlsCaError('BAD_PIN', `log in to ${name}: the PIN is locked (too many wrong ones)`, {
            cause: e,
            detail: { kind: 'pin-locked' },
          });
        }
        throw tokenFailure(`log in to ${name}`, e);
      }
    }
    return opened;
  }

  /** The objects that match every attribute of `template`. */
  find(template: Template): Handle[] {
    this.#p11.C_FindObjectsInit(this.#session, template);
    try {
      const found: Handle[] = [];
      for (;;) {
        const batch = this.#p11.C_FindObjects(this.#session, 16);
        if (batch.length === 0) return found;
        found.push(...batch);
      }
    } finally {
      this.#p11.C_FindObjectsFinal(this.#session);
    }
  }

  /** The values of the attributes asked for, by type; an attribute the object lacks is refused by the token. */
  attributes(object: Handle, types: number[]): Map<number, Buffer> {
    const got = this.#p11.C_GetAttributeValue(
      this.#session,
      object,
      types.map((type) => ({ type })),
    );
    return new Map(got.map((a) => [a.type, a.value as Buffer]));
  }

  generateKeyPair(mechanism: number, publicTemplate: Template, privateTemplate: Template) {
    return this.#p11.C_GenerateKeyPair(this.#session, { mechanism }, publicTemplate, privateTemplate);
  }

  createObject(template: Template): Handle {
    return this.#p11.C_CreateObject(this.#session, template);
  }

  destroyObject(object: Handle): void {
    this.#p11.C_DestroyObject(this.#session, object);
  }

  /**
   * One signature by `key` with `mechanism` over `data` (for CKM_ECDSA and CKM_RSA_PKCS: the digest, or the
   * DigestInfo, already made).
   * @param maxLength - the longest signature the key makes
   */
  sign(mechanism: number, key: Handle, data: Buffer, maxLength: number): Buffer {
    this.#p11.C_SignInit(this.#session, { mechanism }, key);
    return Buffer.from(this.#p11.C_Sign(this.#session, data, Buffer.alloc(maxLength)));
  }

  /** Closes the session; the token logs out when its last session of this process closes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#p11.C_CloseSession(this.#session);
    } catch {
      // a token removed meanwhile has closed it already
    }
  }
}
