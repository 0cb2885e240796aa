/**
 * The rules a subjectAltName entry must follow before we sign it, whoever asked for it (a flag, a batch file,
 * a CSR, a certificate being renewed). RFC 5280 4.2.1.6 types each entry; what a peer does with a malformed
 * one is up to its parser, so we sign only entries that every parser reads the same way.
 *
 * - dNSName: LDH labels ("preferred name syntax", RFC 1034 3.5 as amended by RFC 1123 2.1): letters, digits
 *   and `-`, 1–63 characters, not starting or ending with `-`; at most 253 characters; no trailing dot; the
 *   last label not all digits (`10.0.0.1` belongs in an IP entry). An internationalised name must come as
 *   A-labels (`xn--mller-kva.example`, RFC 5890): the entry is an IA5String, and converting a U-label
 *   ourselves would sign a name the requester never saw; an A-label must be valid Punycode that converts back
 *   to itself (UTS #46). A wildcard is the whole first label, over at least two more (`*.example.com`):
 *   `*`, `*.com` and `f*.example.com` are refused (as the CA/Browser Forum's rules and RFC 6125 6.4.3 do).
 * - iPAddress: IPv4 or IPv6, without a zone.
 * - rfc822Name: `local@domain` (RFC 5321 Mailbox): a dot-atom local part of printable ASCII (RFC 5322 3.2.3;
 *   quoted local parts are refused), a domain as for dNSName with at least one dot and no wildcard.
 *   An internationalised address needs SmtpUTF8Mailbox (RFC 9598), which we do not issue.
 * - uniformResourceIdentifier: absolute, RFC 3986 characters only, and a scheme from {@link URI_SCHEMES}.
 *
 * Every entry is also refused with a control, invisible or bidirectional character in it (characters.ts).
 */
import { domainToASCII, domainToUnicode } from 'node:url';
import { findHiddenCharacter, quote } from './characters.js';
import { InvalidNameError, type NameRule } from './errors.js';
import { isZonedIpv6, parseIp, type SubjectAltNames } from './extensions.js';

/**
 * The URI schemes we sign, compared without regard to case. A URI SAN is an identity, yet certificate viewers
 * and admin pages show it, often as a link: `javascript:` runs script in whatever renders it, `data:` carries a
 * whole document (a page, an image, a script) and `file:` points into the reader's own disk. We sign only
 * schemes that name something: `https` (a web identity), `spiffe` (workload identities, X.509-SVID) and `urn`
 * (`urn:uuid:…`, device and account identifiers).
 */
export const URI_SCHEMES = ['https', 'spiffe', 'urn'] as const;

const MAX_DNS_NAME_LENGTH = 253;

interface Refusal {
  rule: NameRule;
  reason: string;
}

const refuse = (rule: NameRule, reason: string): Refusal => ({ rule, reason });

function hiddenRefusal(value: string): Refusal | undefined {
  const hidden = findHiddenCharacter(value);
  return hidden ? refuse(hidden.rule, `it contains ${hidden.cause}`) : undefined;
}

/** An A-label must decode, and encode back to itself: `xn--mller-kva` ↔ `müller`. */
function isValidALabel(label: string): boolean {
  const unicode = domainToUnicode(label);
  return unicode !== '' && unicode !== label.toLowerCase() && domainToASCII(unicode) === label.toLowerCase();
}

/**
 * Why `name` is not a dNSName we sign, or undefined when it is one.
 * @param wildcard - whether a leading `*.` is allowed (server names, not email domains or URI hosts)
 */
function dnsNameRefusal(name: string, wildcard: boolean): Refusal | undefined {
  if (name === '') return refuse('empty', 'it is empty');
  const hidden = hiddenRefusal(name);
  if (hidden) return hidden;
  if (!/^[\x20-\x7e]*$/.test(name)) {
    return refuse('not-ascii', 'it is not ASCII: write an internationalised name as A-labels (xn--…)');
  }
  if (name.length > MAX_DNS_NAME_LENGTH) {
    return refuse('too-long', `it is longer than ${MAX_DNS_NAME_LENGTH} characters`);
  }
  if (name.endsWith('.')) return refuse('label', 'it ends with a dot');
  const labels = name.split('.');
  if (labels[0] === '*') {
    if (!wildcard) return refuse('wildcard', 'a wildcard is not allowed here');
    if (labels.length < 3) {
      return refuse('wildcard', 'a wildcard must cover at least two labels ("*.example.com", not "*.com")');
    }
    labels.shift();
  }
  for (const label of labels) {
    if (label === '') return refuse('label', 'it has an empty label');
    if (label.includes('*')) {
      return refuse('wildcard', '"*" is allowed only as the whole first label ("*.example.com")');
    }
    if (label.length > 63) return refuse('label', `its label ${quote(label)} is longer than 63 characters`);
    if (!/^[A-Za-z0-9-]+$/.test(label)) {
      return refuse('label', `its label ${quote(label)} has a character other than a-z, 0-9 and "-"`);
    }
    if (label.startsWith('-') || label.endsWith('-')) {
      return refuse('label', `its label ${quote(label)} starts or ends with "-"`);
    }
    if (/^xn--/i.test(label) && !isValidALabel(label)) {
      return refuse('a-label', `its label ${quote(label)} is not a valid A-label (Punycode)`);
    }
  }
  if (/^[0-9]+$/.test(labels.at(-1)!)) {
    return refuse('label', 'its last label is all digits (an IP address goes in an IP address entry)');
  }
  return undefined;
}

function ipRefusal(ip: string): Refusal | undefined {
  if (parseIp(ip)) return undefined;
  const hidden = hiddenRefusal(ip);
  return hidden ?? refuse('ip', 'not an IPv4 or IPv6 address (without a zone)');
}

/** RFC 5322 3.2.3 atext, and the dots between atoms. */
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

function emailRefusal(address: string): Refusal | undefined {
  if (address === '') return refuse('empty', 'it is empty');
  const hidden = hiddenRefusal(address);
  if (hidden) return hidden;
  if (!/^[\x20-\x7e]*$/.test(address)) {
    return refuse('not-ascii', 'it is not ASCII (an internationalised address is not an rfc822Name)');
  }
  const at = address.lastIndexOf('@');
  if (at < 0) return refuse('syntax', 'it has no "@"');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local === '') return refuse('syntax', 'its local part (before "@") is empty');
  if (local.length > 64) return refuse('too-long', 'its local part is longer than 64 characters');
  if (!DOT_ATOM.test(local)) {
    return refuse(
      'syntax',
      `its local part ${quote(local)} is not letters, digits and !#$%&'*+-/=?^_\`{|}~ separated by single dots`,
    );
  }
  const d = dnsNameRefusal(domain, false);
  if (d) return refuse(d.rule, `its domain ${quote(domain)}: ${d.reason}`);
  if (!domain.includes('.')) return refuse('syntax', `its domain ${quote(domain)} has no dot`);
  return undefined;
}

/** RFC 3986 2: a character that is neither unreserved, reserved nor `%` must be percent-encoded. */
const NOT_URI_CHARACTER = /[^A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/;
/** RFC 3986 appendix B, for a URI without {@link NOT_URI_CHARACTER}. */
const URI_PARTS = /^([^:/?#]+):(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/;

/** The host of an authority (`host`, `host:port`, `[v6]:port`) as RFC 5280 wants it: a DNS name or an IP. */
function hostRefusal(authority: string): Refusal | undefined {
  if (authority.startsWith('[')) {
    const literal = /^\[([^\]]*)\](?::\d*)?$/.exec(authority);
    if (literal && parseIp(literal[1]!)?.length === 16) return undefined;
    return refuse('ip', `its host ${quote(literal ? `[${literal[1]}]` : authority)} is not an IPv6 address`);
  }
  const host = authority.replace(/:\d*$/, '');
  if (parseIp(host)) return undefined;
  const d = dnsNameRefusal(host, false);
  return d ? refuse(d.rule, `its host ${quote(host)}: ${d.reason}`) : undefined;
}

/** The SPIFFE ID rules (SPIFFE-ID specification 2): lower-case trust domain, no port, query or fragment. */
function spiffeRefusal(
  authority: string,
  path: string,
  query?: string,
  fragment?: string,
): Refusal | undefined {
  if (!/^[a-z0-9._-]+$/.test(authority)) {
    return refuse('syntax', 'its trust domain is not lower-case letters, digits, ".", "_" and "-"');
  }
  if (query !== undefined || fragment !== undefined)
    return refuse('syntax', 'a SPIFFE ID has no query or fragment');
  if (path !== '' && !/^(?:\/[A-Za-z0-9._-]+)+$/.test(path)) {
    return refuse('syntax', 'its path is not "/"-separated segments of letters, digits, ".", "_" and "-"');
  }
  if (/\/\.\.?(?:\/|$)/.test(path)) return refuse('syntax', 'its path has a "." or ".." segment');
  return undefined;
}

function uriRefusal(uri: string): Refusal | undefined {
  if (uri === '') return refuse('empty', 'it is empty');
  const hidden = hiddenRefusal(uri);
  if (hidden) return hidden;
  if (!/^[\x20-\x7e]*$/.test(uri))
    return refuse('not-ascii', 'it is not ASCII: percent-encode it (RFC 3987 3.1)');
  const bad = NOT_URI_CHARACTER.exec(uri);
  if (bad) return refuse('syntax', `it contains ${quote(bad[0])}, which must be percent-encoded in a URI`);
  if (/%(?![0-9A-Fa-f]{2})/.test(uri)) return refuse('syntax', 'it has a "%" not followed by two hex digits');
  const parts = URI_PARTS.exec(uri);
  if (!parts || !/^[A-Za-z][A-Za-z0-9+.-]*$/.test(parts[1]!)) {
    return refuse('syntax', 'it is not an absolute URI (scheme:…)');
  }
  const [, schemeText, authority, path, query, fragment] = parts;
  const scheme = schemeText!.toLowerCase();
  if (!(URI_SCHEMES as readonly string[]).includes(scheme)) {
    return refuse(
      'scheme',
      `its scheme ${quote(schemeText!)} is not one we sign (${URI_SCHEMES.join(', ')})`,
    );
  }
  if (scheme === 'urn') {
    // RFC 8141 2: urn:<NID>:<NSS>, the NID 2-32 letters, digits and inner hyphens.
    return /^urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:[^?#]+/i.test(uri)
      ? undefined
      : refuse('syntax', 'it is not urn:<namespace>:<name>');
  }
  // https and spiffe name a host: RFC 5280 4.2.1.6 wants a fully qualified domain name or an IP address.
  if (authority === undefined || authority === '') return refuse('syntax', 'it has no host ("//host")');
  if (authority.includes('@')) {
    return refuse('userinfo', 'it has a user name before "@", which makes the host hard to see');
  }
  if (scheme === 'spiffe') return spiffeRefusal(authority, path!, query, fragment);
  return hostRefusal(authority);
}

const KINDS = {
  dns: 'DNS name',
  ip: 'IP address',
  email: 'email address',
  uri: 'URI',
} as const;

const HINTS = {
  dns: 'use dot-separated labels of letters, digits and "-", like api.example.com',
  ip: 'use an address like 10.0.0.5 or 2001:db8::5',
  email: 'use an address like alice@example.com',
  uri: `use an absolute URI with the scheme ${URI_SCHEMES.join(', ')}, like spiffe://example.org/alice`,
} as const;

function refusalError(kind: keyof typeof KINDS, value: string, r: Refusal): InvalidNameError {
  const shown = quote(value, true);
  return new InvalidNameError('INVALID_ARGUMENT', KINDS[kind], value, shown, r.rule, r.reason, HINTS[kind]);
}

/**
 * Checks every subjectAltName entry against the rules in this file's comment, in the order dns, ip, email,
 * uri, and refuses the first bad one.
 * @param names - the entries
 * @param wildcard - whether a dNSName may start with `*.` (a server certificate); default false
 * @throws InvalidNameError `INVALID_ARGUMENT`, `kind` naming the entry type and `value` the entry as given
 */
export function assertAltNames(names: SubjectAltNames, wildcard = false): void {
  const check = (
    kind: keyof typeof KINDS,
    values: string[] | undefined,
    why: (v: string) => Refusal | undefined,
  ) => {
    for (const v of values ?? []) {
      const r = why(v);
      if (r) throw refusalError(kind, v, r);
    }
  };
  check('dns', names.dns, (d) => dnsNameRefusal(d, wildcard));
  check('ip', names.ip, ipRefusal);
  check('email', names.email, emailRefusal);
  check('uri', names.uri, uriRefusal);
}

/**
 * Splits host arguments into DNS names (lower-cased) and IP addresses, refusing anything else.
 * @param hosts - `localhost`, `api.example.com`, `*.example.com`, `127.0.0.1`, `::1`
 * @throws InvalidNameError `INVALID_ARGUMENT` (kind `host`)
 */
export function hostsToAltNames(hosts: string[]): SubjectAltNames {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const h of hosts) {
    if (parseIp(h) || isZonedIpv6(h)) {
      ip.push(h);
      continue;
    }
    const r = dnsNameRefusal(h, true);
    if (r) {
      throw new InvalidNameError(
        'INVALID_ARGUMENT',
        'host',
        h,
        quote(h, true),
        r.rule,
        `not an IP address, nor a DNS name: ${r.reason}`,
        'pass hosts like localhost, api.example.com, 127.0.0.1 or ::1',
      );
    }
    dns.push(h.toLowerCase());
  }
  return { dns, ip };
}
