/**
 * A CA key in a PKCS#11 token, from the command line: the URI (`--ca-key`, `--to`, ca/ca-key.uri), the module
 * (`module-path=` of the URI, else MTLS_CA_PKCS11_MODULE) and the PIN (`pin-source=` of the URI, else
 * MTLS_CA_PKCS11_PIN, else a prompt on a terminal). The PIN is read from those only — never argv, never a log —
 * and handed to the token. The token layer and pkcs11js load only from here, when a pkcs11: URI is used.
 */
import { MtlsCaError } from '../pki/errors.js';
import type { CaStore } from '../store/ca-store.js';
import type { TokenAccess } from '../token/token-key.js';
import type { Pkcs11Uri } from '../token/uri.js';
import { PIN_HINT } from './hints.js';
import { type Io, isInteractive } from './io.js';
import { closeWhenDone } from './open-tokens.js';
import { ENV_PKCS11_PIN, readPasswordFile } from './passwords.js';
import { askPassword } from './prompts.js';

export const ENV_PKCS11_MODULE = 'MTLS_CA_PKCS11_MODULE';
export { ENV_PKCS11_PIN };

const LIST_HINT = 'p11tool --list-all --login "pkcs11:token=LABEL" lists its keys';
const MODULE_HINT = `set ${ENV_PKCS11_MODULE} (or module-path= in the URI) to the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so`;

/**
 * The CLI's words for what went wrong with a token, by the code the token layer raised; the cases it tells
 * apart within one code carry an ErrorDetail, worded by hints.ts.
 */
function tokenHint(e: MtlsCaError): string | undefined {
  switch (e.code) {
    case 'PKCS11_MODULE':
      return MODULE_HINT;
    case 'UNSUPPORTED':
      return 'choose --key-type ecdsa-p256, ecdsa-p384 or rsa-2048/3072/4096 for a token key';
    case 'TOKEN_NOT_FOUND':
      return 'name a token the module has by its label: token=LABEL (softhsm2-util --show-slots lists them)';
    case 'BAD_PIN':
    case 'PASSWORD_REQUIRED':
      return PIN_HINT;
    case 'KEY_NOT_FOUND':
      return `check object= (and id=) of the URI; ${LIST_HINT}`;
    case 'WRONG_KEY_TYPE':
    case 'KEY_MISMATCH':
      return `name the private key made for this CA with object= and id=; ${LIST_HINT}`;
    case 'ALREADY_EXISTS':
      return 'choose another object= label: a key in a token is never replaced';
    case 'TOKEN_FAILED':
      return 'check that the token is present and has room, then run the command again';
    default:
      return e.hint;
  }
}

/** Runs `fn`, giving a token failure the hint the CLI words for it. */
export async function withTokenHints<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof MtlsCaError && !e.detail) {
      throw new MtlsCaError(e.code, e.message, { hint: tokenHint(e), cause: e.cause ?? e });
    }
    throw e;
  }
}

/**
 * Reads a pkcs11: URI given on the command line.
 * @param text - the URI
 * @param flag - the option it came with, for messages
 */
export async function parseTokenUri(text: string, flag: string): Promise<Pkcs11Uri> {
  const { parsePkcs11Uri } = await import('../token/uri.js');
  try {
    return parsePkcs11Uri(text);
  } catch (e) {
    if (!(e instanceof MtlsCaError)) throw e;
    throw new MtlsCaError(e.code, `${flag}: ${e.message}`, {
      hint: "write it as pkcs11:token=LABEL;object=KEY-LABEL (RFC 7512), quoted for the shell's sake",
      detail: e.detail,
    });
  }
}

/**
 * The module and PIN that open the token `uri` names.
 * @param o.prompt - whether a person at a terminal may be asked for the PIN (never for `serve`)
 */
export async function tokenAccess(io: Io, uri: Pkcs11Uri, o: { prompt: boolean }): Promise<TokenAccess> {
  const tokenName = uri.token !== undefined ? `token "${uri.token}"` : 'the token';
  const modulePath = uri.modulePath ?? io.env[ENV_PKCS11_MODULE];
  if (!modulePath) {
    throw new MtlsCaError('PKCS11_MODULE', 'open the token: no PKCS#11 module was given', {
      hint: MODULE_HINT,
    });
  }
  let pin: string | undefined;
  if (uri.pinSource !== undefined) {
    const { pinSourcePath } = await import('../token/uri.js');
    pin = await readPasswordFile(io, pinSourcePath(uri.pinSource), 'pin-source');
  } else if (io.env[ENV_PKCS11_PIN]) {
    pin = io.env[ENV_PKCS11_PIN];
  } else if (o.prompt && isInteractive(io)) {
    pin = await askPassword(io, `PIN of ${tokenName}`);
  }
  if (!pin) {
    throw new MtlsCaError('PASSWORD_REQUIRED', `open ${tokenName}: no PIN was given`, { hint: PIN_HINT });
  }
  return { modulePath, pin };
}

/**
 * Opens the token key of a CA whose ca/ca-key.uri names one, checks that it signs for the CA certificate, and
 * hands it to the store, which signs with it from then on. The session ends with the command (main.ts).
 * @param o.prompt - whether a person at a terminal may be asked for the PIN
 */
export async function useCaTokenKey(io: Io, store: CaStore, o: { prompt: boolean }): Promise<void> {
  const text = store.tokenKeyUri();
  if (text === undefined) return;
  await withTokenHints(async () => {
    const { parsePkcs11Uri } = await import('../token/uri.js');
    const uri = parsePkcs11Uri(text);
    const access = await tokenAccess(io, uri, o);
    const { openTokenKey } = await import('../token/token-key.js');
    const key = await openTokenKey(uri, store.readCaCertificate().publicKey, access);
    closeWhenDone(key);
    store.useTokenKey(key);
  });
}
