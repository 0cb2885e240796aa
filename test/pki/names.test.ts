/**
 * The rules for names we sign (characters.ts, names.ts, general-names.ts) with their exact codes, rules and
 * messages, and the profiles refusing a hostile name whoever calls them.
 */
import type { KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, test } from 'vitest';
import { findHiddenCharacter, quote } from '../../src/pki/characters.js';
import { InvalidNameError } from '../../src/pki/errors.js';
import { assertAltNames, hostsToAltNames } from '../../src/pki/general-names.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { assertCommonName, assertSafeName, nameKey } from '../../src/pki/names.js';
import {
  type CertificateAuthority,
  createRootCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../../src/pki/profiles.js';
import { errorOf } from '../helpers/errors.js';

/** The refusal as data: what a caller words its own way. */
function refusal(fn: () => unknown) {
  const e = errorOf(fn);
  expect(e).toBeInstanceOf(InvalidNameError);
  const { code, message, hint } = e;
  const { kind, value, rule, reason } = e as InvalidNameError;
  return { code, kind, value, rule, reason, message, hint };
}

describe('quote: what the terminal shows is what was asked', () => {
  test.each([
    ['pavel', false, '"pavel"'],
    ['good.example\0.evil.example', true, '"good.example\\x00.evil.example"'],
    ['a@b.c\x01', true, '"a@b.c\\x01"'],
    ['\u202Elper.crt', false, '"\\u202elper.crt"'],
    ['pav\u200Bel', false, '"pav\\u200bel"'],
    ['soft\u00ADhyphen', false, '"soft\\xadhyphen"'],
    ['tag\u{E0041}', false, '"tag\\u{e0041}"'],
    ['Müller', false, '"Müller"'],
    ['Müller', true, '"M\\xfcller"'],
    ['пётр', false, '"пётр"'],
    ['no\u00A0break', false, '"no\\xa0break"'],
    ['say "hi" \\', false, '"say \\"hi\\" \\\\"'],
  ])('%j (ascii: %s) → %s', (value, ascii, shown) => {
    expect(quote(value, ascii)).toBe(shown);
  });

  test('findHiddenCharacter names the rule and the first character', () => {
    expect(findHiddenCharacter('plain-ascii.example')).toBeUndefined();
    expect(findHiddenCharacter('Müller пётр')).toBeUndefined();
    expect(findHiddenCharacter('a\0b\u202e')).toEqual({
      rule: 'control',
      char: '\0',
      escaped: '\\x00',
      cause: 'a control character (\\x00)',
    });
    for (const [c, rule] of [
      ['\u202A', 'bidi'],
      ['\u202E', 'bidi'],
      ['\u2066', 'bidi'],
      ['\u2069', 'bidi'],
      ['\u200E', 'bidi'],
      ['\u200F', 'bidi'],
      ['\u061C', 'bidi'],
      ['\u200B', 'invisible'],
      ['\u200D', 'invisible'],
      ['\u00AD', 'invisible'],
      ['\u2060', 'invisible'],
      ['\uFEFF', 'invisible'],
      ['\u3164', 'invisible'],
      ['\uFE0F', 'invisible'],
      ['\u2800', 'invisible'],
      ['\u0085', 'control'],
      ['\x7f', 'control'],
      ['\uE000', 'uncertain'],
      ['\uD800', 'uncertain'],
    ] as const) {
      expect([c, findHiddenCharacter(`x${c}y`)?.rule]).toEqual([c, rule]);
    }
  });
});

describe('user names (assertSafeName)', () => {
  test.each([
    ['pav\u200Bel', 'invisible', 'it contains an invisible character (\\u200b)', '"pav\\u200bel"'],
    ['\u202Elper', 'bidi', 'it contains a bidirectional control character (\\u202e)', '"\\u202elper"'],
    ['pavel\u2066', 'bidi', 'it contains a bidirectional control character (\\u2066)', '"pavel\\u2066"'],
    ['a\0b', 'control', 'it contains a control character (\\x00)', '"a\\x00b"'],
    ['tab\there', 'control', 'it contains a control character (\\x09)', '"tab\\x09here"'],
    ['so\u00ADft', 'invisible', 'it contains an invisible character (\\xad)', '"so\\xadft"'],
  ])('%j → %s', (name, rule, reason, shown) => {
    const escaped = reason.slice(reason.lastIndexOf('(') + 1, -1);
    expect(refusal(() => assertSafeName(name, 'client name'))).toEqual({
      code: 'INVALID_NAME',
      kind: 'client name',
      value: name,
      rule,
      reason,
      message: `use client name ${shown}: ${reason}`,
      hint: `remove the ${escaped}: a name must read as it is stored`,
    });
  });

  test.each(['con', 'nul', 'COM1', 'prn', 'Aux', 'lpt9', 'com0', 'COM¹', 'nul.txt', 'con.tar.gz', 'conin$'])(
    'the Windows device name %j is refused',
    (name) => {
      const device = name.split('.')[0]!;
      expect(refusal(() => assertSafeName(name, 'client name'))).toEqual({
        code: 'INVALID_NAME',
        kind: 'client name',
        value: name,
        rule: 'reserved',
        reason: `it is the reserved Windows device name "${device}" (with or without an extension)`,
        message: `use client name "${name}": it is the reserved Windows device name "${device}" (with or without an extension)`,
        hint: 'choose another name: Windows cannot open files named like this',
      });
    },
  );

  test.each(['console', 'nullable', 'com10', 'lpt', 'pavel', 'icon', 'Müller', 'пётр', 'a.con'])(
    '%j is accepted',
    (name) => {
      expect(() => assertSafeName(name, 'client name')).not.toThrow();
    },
  );

  test('a decomposed name is refused with its composed form as the fix', () => {
    expect(refusal(() => assertSafeName('Mu\u0308ller', 'client name'))).toMatchObject({
      rule: 'not-nfc',
      message:
        'use client name "Mu\u0308ller": it is not in Unicode normalisation form C (composed characters)',
      hint: 'type it as "Müller"',
    });
  });

  test('a trailing dot is refused (Windows drops it: "pavel." is "pavel")', () => {
    expect(refusal(() => assertSafeName('pavel.', 'client name'))).toMatchObject({
      rule: 'file-name',
      message: 'use client name "pavel.": it ends with a dot',
    });
  });

  test('common names follow the character rules but not the file-name ones', () => {
    expect(() => assertCommonName('My CA: prod/eu')).not.toThrow();
    expect(refusal(() => assertCommonName('My\u202ECA', 'CA name'))).toMatchObject({
      code: 'INVALID_NAME',
      rule: 'bidi',
      message: 'use CA name "My\\u202eCA": it contains a bidirectional control character (\\u202e)',
    });
    expect(refusal(() => assertCommonName(''))).toMatchObject({ rule: 'empty' });
  });

  test('nameKey: names that read the same share a key, others do not', () => {
    const same = [
      ['pavel', 'Pavel'],
      ['pavel', 'PAVEL'],
      ['pavel', 'ｐａｖｅｌ'],
      ['office', 'oﬃce'],
      ['strasse', 'STRAßE'],
      ['müller', 'MÜLLER'],
      ['user2', 'user²'],
    ];
    for (const [a, b] of same) expect([a, b, nameKey(a!)]).toEqual([a, b, nameKey(b!)]);
    // Look-alike letters of another script are different letters: Cyrillic а (U+0430) is not Latin a.
    expect(nameKey('p\u0430vel')).not.toBe(nameKey('pavel'));
    expect(nameKey('pavel')).not.toBe(nameKey('pavel2'));
  });
});

describe('subjectAltName entries (assertAltNames)', () => {
  const dns = (name: string, wildcard = true) => refusal(() => assertAltNames({ dns: [name] }, wildcard));

  test.each([
    ['good.example\0.evil.example', 'control', 'it contains a control character (\\x00)'],
    ['*', 'wildcard', 'a wildcard must cover at least two labels ("*.example.com", not "*.com")'],
    ['*.com', 'wildcard', 'a wildcard must cover at least two labels ("*.example.com", not "*.com")'],
    ['f*.example.com', 'wildcard', '"*" is allowed only as the whole first label ("*.example.com")'],
    ['*.*.example.com', 'wildcard', '"*" is allowed only as the whole first label ("*.example.com")'],
    ['a..example', 'label', 'it has an empty label'],
    ['.example', 'label', 'it has an empty label'],
    ['example.com.', 'label', 'it ends with a dot'],
    ['-a.example', 'label', 'its label "-a" starts or ends with "-"'],
    ['a-.example', 'label', 'its label "a-" starts or ends with "-"'],
    ['a_b.example', 'label', 'its label "a_b" has a character other than a-z, 0-9 and "-"'],
    ['a b.example', 'label', 'its label "a b" has a character other than a-z, 0-9 and "-"'],
    [`${'a'.repeat(64)}.example`, 'label', `its label "${'a'.repeat(64)}" is longer than 63 characters`],
    [`${'a.'.repeat(126)}ab`, 'too-long', 'it is longer than 253 characters'],
    ['müller.example', 'not-ascii', 'it is not ASCII: write an internationalised name as A-labels (xn--…)'],
    ['xn--zz.example', 'a-label', 'its label "xn--zz" is not a valid A-label (Punycode)'],
    ['xn--mller-kva-.example', 'label', 'its label "xn--mller-kva-" starts or ends with "-"'],
    ['10.0.0.1', 'label', 'its last label is all digits (an IP address goes in an IP address entry)'],
    ['pav\u200Bel.example', 'invisible', 'it contains an invisible character (\\u200b)'],
    ['', 'empty', 'it is empty'],
  ])('DNS %j → %s: %s', (name, rule, reason) => {
    expect(dns(name)).toEqual({
      code: 'INVALID_ARGUMENT',
      kind: 'DNS name',
      value: name,
      rule,
      reason,
      message: `use DNS name ${quote(name, true)}: ${reason}`,
      hint: 'use dot-separated labels of letters, digits and "-", like api.example.com',
    });
  });

  test('the NUL example reads back escaped, byte for byte', () => {
    expect(dns('good.example\0.evil.example').message).toBe(
      'use DNS name "good.example\\x00.evil.example": it contains a control character (\\x00)',
    );
  });

  test.each([
    'localhost',
    'api.example.com',
    '*.example.com',
    '*.api.example.com',
    'xn--mller-kva.example',
    'XN--MLLER-KVA.Example',
    'r3---sn-abc.example',
    '1a.example',
    `${'a'.repeat(63)}.example`,
    `${'a.'.repeat(125)}abc`,
  ])('DNS %j is accepted', (name) => {
    expect(() => assertAltNames({ dns: [name] }, true)).not.toThrow();
  });

  test('a wildcard is refused where it is not allowed (client, email domain, URI host)', () => {
    expect(dns('*.example.com', false)).toMatchObject({
      rule: 'wildcard',
      reason: 'a wildcard is not allowed here',
    });
  });

  const one = (names: Parameters<typeof assertAltNames>[0]) => refusal(() => assertAltNames(names));

  test.each([
    ['a@b.c\x01', 'control', 'it contains a control character (\\x01)'],
    ['a\0@example.com', 'control', 'it contains a control character (\\x00)'],
    ['alice', 'syntax', 'it has no "@"'],
    ['@example.com', 'syntax', 'its local part (before "@") is empty'],
    [
      'a b@example.com',
      'syntax',
      `its local part "a b" is not letters, digits and !#$%&'*+-/=?^_\`{|}~ separated by single dots`,
    ],
    [
      'a..b@example.com',
      'syntax',
      `its local part "a..b" is not letters, digits and !#$%&'*+-/=?^_\`{|}~ separated by single dots`,
    ],
    [
      '"a"@example.com',
      'syntax',
      `its local part "\\"a\\"" is not letters, digits and !#$%&'*+-/=?^_\`{|}~ separated by single dots`,
    ],
    [
      'a@b@example.com',
      'syntax',
      `its local part "a@b" is not letters, digits and !#$%&'*+-/=?^_\`{|}~ separated by single dots`,
    ],
    ['alice@localhost', 'syntax', 'its domain "localhost" has no dot'],
    ['alice@*.example.com', 'wildcard', 'its domain "*.example.com": a wildcard is not allowed here'],
    [
      'alice@ex_ample.com',
      'label',
      'its domain "ex_ample.com": its label "ex_ample" has a character other than a-z, 0-9 and "-"',
    ],
    ['jörg@example.com', 'not-ascii', 'it is not ASCII (an internationalised address is not an rfc822Name)'],
    [`${'a'.repeat(65)}@example.com`, 'too-long', 'its local part is longer than 64 characters'],
  ])('email %j → %s: %s', (address, rule, reason) => {
    expect(one({ email: [address] })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      kind: 'email address',
      rule,
      reason,
      message: `use email address ${quote(address, true)}: ${reason}`,
    });
  });

  test.each(["o'brien+tag@mail.example.com", 'a.b.c@example.co.uk', 'x@xn--mller-kva.example'])(
    'email %j is accepted',
    (address) => expect(() => assertAltNames({ email: [address] })).not.toThrow(),
  );

  test.each([
    ['javascript:alert(1)', 'scheme', 'its scheme "javascript" is not one we sign (https, spiffe, urn)'],
    ['JavaScript:alert(1)', 'scheme', 'its scheme "JavaScript" is not one we sign (https, spiffe, urn)'],
    ['data:text/html,<b>x</b>', 'syntax', 'it contains "<", which must be percent-encoded in a URI'],
    ['data:text/plain,hi', 'scheme', 'its scheme "data" is not one we sign (https, spiffe, urn)'],
    ['file:///etc/passwd', 'scheme', 'its scheme "file" is not one we sign (https, spiffe, urn)'],
    ['http://example.com/', 'scheme', 'its scheme "http" is not one we sign (https, spiffe, urn)'],
    ['https://good.example\0.evil.example/', 'control', 'it contains a control character (\\x00)'],
    ['https://a b/', 'syntax', 'it contains " ", which must be percent-encoded in a URI'],
    ['/relative/path', 'syntax', 'it is not an absolute URI (scheme:…)'],
    ['https:/no-host', 'syntax', 'it has no host ("//host")'],
    [
      'https://good.example@evil.example/',
      'userinfo',
      'it has a user name before "@", which makes the host hard to see',
    ],
    ['https://*.example.com/', 'wildcard', 'its host "*.example.com": a wildcard is not allowed here'],
    ['https://[::1/', 'ip', 'its host "[::1" is not an IPv6 address'],
    ['https://example.com/%zz', 'syntax', 'it has a "%" not followed by two hex digits'],
    ['https://ex\u00e4mple.com/', 'not-ascii', 'it is not ASCII: percent-encode it (RFC 3987 3.1)'],
    ['urn:x:', 'syntax', 'it is not urn:<namespace>:<name>'],
    ['urn:uuid', 'syntax', 'it is not urn:<namespace>:<name>'],
    [
      'spiffe://Example.org/w',
      'syntax',
      'its trust domain is not lower-case letters, digits, ".", "_" and "-"',
    ],
    [
      'spiffe://example.org:443/w',
      'syntax',
      'its trust domain is not lower-case letters, digits, ".", "_" and "-"',
    ],
    ['spiffe://example.org/w?x=1', 'syntax', 'a SPIFFE ID has no query or fragment'],
    [
      'spiffe://example.org/a//b',
      'syntax',
      'its path is not "/"-separated segments of letters, digits, ".", "_" and "-"',
    ],
    ['spiffe://example.org/a/../b', 'syntax', 'its path has a "." or ".." segment'],
  ])('URI %j → %s: %s', (uri, rule, reason) => {
    expect(one({ uri: [uri] })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      kind: 'URI',
      rule,
      reason,
      message: `use URI ${quote(uri, true)}: ${reason}`,
    });
  });

  test.each([
    'https://example.com/users/alice',
    'HTTPS://Example.COM:8443/a?b=c#d',
    'https://10.0.0.1/',
    'https://[2001:db8::1]:8443/',
    'spiffe://example.org/ns/prod/sa/web',
    'spiffe://example.org',
    'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
    'https://example.com/a%20b',
  ])('URI %j is accepted', (uri) => expect(() => assertAltNames({ uri: [uri] })).not.toThrow());

  test('IP entries: a zone, a NUL or garbage is refused', () => {
    expect(one({ ip: ['fe80::1%eth0'] })).toMatchObject({
      code: 'INVALID_ARGUMENT',
      rule: 'ip',
      message: 'use IP address "fe80::1%eth0": not an IPv4 or IPv6 address (without a zone)',
    });
    expect(one({ ip: ['10.0.0.1\0'] })).toMatchObject({
      rule: 'control',
      message: 'use IP address "10.0.0.1\\x00": it contains a control character (\\x00)',
    });
    expect(() => assertAltNames({ ip: ['10.0.0.1', '::1'] })).not.toThrow();
  });

  test('hosts: DNS names and IP addresses, or a refusal that says both were tried', () => {
    expect(hostsToAltNames(['API.example.com', '*.example.com', '10.0.0.5', '::1'])).toEqual({
      dns: ['api.example.com', '*.example.com'],
      ip: ['10.0.0.5', '::1'],
    });
    expect(refusal(() => hostsToAltNames(['*.com']))).toEqual({
      code: 'INVALID_ARGUMENT',
      kind: 'host',
      value: '*.com',
      rule: 'wildcard',
      reason:
        'not an IP address, nor a DNS name: a wildcard must cover at least two labels ("*.example.com", not "*.com")',
      message:
        'use host "*.com": not an IP address, nor a DNS name: a wildcard must cover at least two labels ("*.example.com", not "*.com")',
      hint: 'pass hosts like localhost, api.example.com, 127.0.0.1 or ::1',
    });
  });
});

describe('the profiles check names themselves, whoever calls them', () => {
  let ca: CertificateAuthority;
  let publicKey: KeyObject;
  beforeAll(async () => {
    const keys = await generateKeyPair('ecdsa-p256');
    ca = {
      certificate: createRootCa({ subject: { commonName: 'Names CA' }, ...keys, days: 30 }),
      privateKey: keys.privateKey,
    };
    publicKey = keys.publicKey;
  });

  test('a server certificate for "*" or a NUL-split name is never signed', () => {
    expect(
      errorOf(() => issueServerCertificate({ ca, publicKey, altNames: { dns: ['*'] }, days: 1 })),
    ).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^use DNS name "\*": /) });
    expect(
      errorOf(() =>
        issueServerCertificate({
          ca,
          publicKey,
          altNames: { dns: ['good.example\0.evil.example'] },
          days: 1,
        }),
      ).message,
    ).toBe('use DNS name "good.example\\x00.evil.example": it contains a control character (\\x00)');
  });

  test('a client certificate with a javascript: URI, a control character in its email or a hidden CN is never signed', () => {
    const client = (o: { commonName?: string; email?: string[]; uri?: string[] }) =>
      errorOf(() => issueClientCertificate({ ca, publicKey, commonName: 'alice', days: 1, ...o })).message;
    expect(client({ uri: ['javascript:alert(1)'] })).toBe(
      'use URI "javascript:alert(1)": its scheme "javascript" is not one we sign (https, spiffe, urn)',
    );
    expect(client({ email: ['a@b.c\x01'] })).toBe(
      'use email address "a@b.c\\x01": it contains a control character (\\x01)',
    );
    expect(client({ commonName: 'pav\u200Bel' })).toBe(
      'use common name "pav\\u200bel": it contains an invisible character (\\u200b)',
    );
    expect(
      errorOf(() => issueClientCertificate({ ca, publicKey, commonName: '\u202Eevil', days: 1 })).code,
    ).toBe('INVALID_NAME');
  });
});
