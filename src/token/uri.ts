/**
 * PKCS#11 URIs (RFC 7512): `pkcs11:token=CA;object=ca-key;type=private?pin-source=file:/etc/ca.pin`. They name a
 * token and an object in it; where the module and the PIN come from is up to the caller. A PIN in the URI
 * itself (`pin-value`) is refused: a URI is typed on command lines and stored in ca/ca-key.uri, so it would show
 * in `ps`, in shell history and in the CA directory.
 */
import { MtlsCaError } from '../pki/errors.js';

/** The attributes of a pkcs11: URI that mtls-ca uses; the others of RFC 7512 are read and ignored. */
export interface Pkcs11Uri {
  /** The token's label (CKA_LABEL of its CK_TOKEN_INFO). */
  token?: string;
  /** The token's manufacturer, model and serial number, to tell tokens of one label apart. */
  manufacturer?: string;
  model?: string;
  serial?: string;
  /** The key's label (CKA_LABEL). */
  object?: string;
  /** The key's CKA_ID, as bytes. */
  id?: Buffer;
  /** The object class; mtls-ca signs with `private` keys only. */
  type?: string;
  /** Where the PIN is: a file path (`file:` URI or plain path). */
  pinSource?: string;
  /** The PKCS#11 module (a shared library) to load. */
  modulePath?: string;
}

/** RFC 7512 2.3: the path attributes, then the query attributes; `x-` names are vendor extensions. */
const PATH_ATTRIBUTES = new Set([
  'token',
  'manufacturer',
  'serial',
  'model',
  'library-manufacturer',
  'library-version',
  'library-description',
  'object',
  'type',
  'id',
  'slot-description',
  'slot-manufacturer',
  'slot-id',
]);
const QUERY_ATTRIBUTES = new Set(['pin-source', 'pin-value', 'module-name', 'module-path']);
const OBJECT_TYPES = new Set(['public', 'private', 'cert', 'secret-key', 'data']);

function refuse(text: string, cause: string): MtlsCaError {
  return new MtlsCaError('INVALID_ARGUMENT', `use ${text}: ${cause}`);
}

/**
 * Percent-decoding to bytes; `%` must be followed by two hex digits. Read by code point: a character outside
 * the BMP is two UTF-16 units, which encoded one by one would each become U+FFFD.
 */
function percentDecode(value: string, text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== '%') {
      const c = String.fromCodePoint(value.codePointAt(i)!);
      out.push(...Buffer.from(c, 'utf8'));
      i += c.length - 1;
      continue;
    }
    const hex = value.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw refuse(text, `"%${hex}" is not a percent-encoded byte`);
    out.push(Number.parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(out);
}

/** The attributes of one part (path or query) of the URI, each name once. */
function attributes(part: string, separator: string, known: Set<string>, text: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (part === '') return out;
  for (const item of part.split(separator)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw refuse(text, `"${item}" is not name=value`);
    const name = item.slice(0, eq).toLowerCase();
    if (!known.has(name) && !name.startsWith('x-')) {
      throw refuse(text, `"${name}" is not a PKCS#11 URI attribute here (RFC 7512)`);
    }
    if (out.has(name)) throw refuse(text, `"${name}" appears twice`);
    out.set(name, percentDecode(item.slice(eq + 1), text));
  }
  return out;
}

/**
 * Reads a pkcs11: URI.
 * @param text - the URI as given
 * @throws MtlsCaError INVALID_ARGUMENT for a malformed URI or one that carries a PIN (`pin-value`)
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!/^pkcs11:/i.test(text)) throw refuse(text, 'a PKCS#11 URI starts with pkcs11:');
  const body = text.slice('pkcs11:'.length);
  const q = body.indexOf('?');
  const path = attributes(q < 0 ? body : body.slice(0, q), ';', PATH_ATTRIBUTES, text);
  const query = attributes(q < 0 ? '' : body.slice(q + 1), '&', QUERY_ATTRIBUTES, text);
  if (query.has('pin-value')) {
    throw new MtlsCaError(
      'INVALID_ARGUMENT',
      'use the PKCS#11 URI: it holds the PIN (pin-value), which would show in the process list and shell history',
      { detail: { kind: 'pin-in-uri' } },
    );
  }
  const str = (m: Map<string, Buffer>, name: string) => m.get(name)?.toString('utf8');
  const type = str(path, 'type');
  if (type !== undefined && !OBJECT_TYPES.has(type)) {
    throw refuse(text, `type=${type} is none of ${[...OBJECT_TYPES].join(', ')}`);
  }
  const uri: Pkcs11Uri = {
    token: str(path, 'token'),
    manufacturer: str(path, 'manufacturer'),
    model: str(path, 'model'),
    serial: str(path, 'serial'),
    object: str(path, 'object'),
    id: path.get('id'),
    type,
    pinSource: str(query, 'pin-source'),
    modulePath: str(query, 'module-path'),
  };
  for (const k of Object.keys(uri) as (keyof Pkcs11Uri)[]) if (uri[k] === undefined) delete uri[k];
  return uri;
}

/** RFC 3986 unreserved characters, and those RFC 7512 allows unescaped in attribute values. */
function percentEncode(value: string | Buffer, allowed: RegExp): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && allowed.test(c) ? c : `%${b.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return out;
}

const PATH_CHAR = /[A-Za-z0-9\-._~:[\]@!$'()*+,=&]/;
const QUERY_CHAR = /[A-Za-z0-9\-._~:[\]@!$'()*+,=/?|]/;

/**
 * Writes a pkcs11: URI of the attributes given, in a fixed order (token, manufacturer, model, serial, object,
 * id, type; then pin-source, module-path). Every byte of `id` is percent-encoded, as RFC 7512 recommends.
 */
export function formatPkcs11Uri(u: Pkcs11Uri): string {
  const path: string[] = [];
  for (const name of ['token', 'manufacturer', 'model', 'serial', 'object'] as const) {
    const v = u[name];
    if (v !== undefined) path.push(`${name}=${percentEncode(v, PATH_CHAR)}`);
  }
  if (u.id) path.push(`id=${[...u.id].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`);
  if (u.type) path.push(`type=${u.type}`);
  const query: string[] = [];
  if (u.pinSource !== undefined) query.push(`pin-source=${percentEncode(u.pinSource, QUERY_CHAR)}`);
  if (u.modulePath !== undefined) query.push(`module-path=${percentEncode(u.modulePath, QUERY_CHAR)}`);
  return `pkcs11:${path.join(';')}${query.length ? `?${query.join('&')}` : ''}`;
}

/**
 * The path of a `pin-source` (RFC 7512 2.3): a `file:` URI, or a plain path. The value is taken as
 * {@link parsePkcs11Uri} decoded it, once: `pin-source=file:/etc/my%20ca.pin` names `/etc/my ca.pin`.
 * @param pinSource - the attribute's value
 */
export function pinSourcePath(pinSource: string): string {
  if (!pinSource.startsWith('file:')) return pinSource;
  const rest = pinSource.slice('file:'.length);
  // file:///abs, file://localhost/abs (RFC 8089), file:/abs and file:relative
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const host = rest.slice(2, slash < 0 ? undefined : slash);
    if (host !== '' && host !== 'localhost') {
      throw new MtlsCaError('INVALID_ARGUMENT', `use pin-source=${pinSource}: a PIN file on another host`);
    }
    return slash < 0 ? '/' : rest.slice(slash);
  }
  return rest;
}
