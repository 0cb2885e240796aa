/** RFC 7512 PKCS#11 URIs: what `--ca-key`, `ca move-key --to` and ca/ca-key.uri hold. */
import { describe, expect, test } from 'vitest';
import { formatPkcs11Uri, parsePkcs11Uri, pinSourcePath } from '../../src/token/uri.js';
import { errorOf } from '../helpers/errors.js';

describe('parsePkcs11Uri', () => {
  test('token, object, id and type from the path; pin-source and module-path from the query', () => {
    expect(
      parsePkcs11Uri(
        'pkcs11:token=My%20CA;object=ca-key;id=%01%02%ff;type=private?pin-source=file:/etc/ca.pin&module-path=/usr/lib/softhsm/libsofthsm2.so',
      ),
    ).toEqual({
      token: 'My CA',
      object: 'ca-key',
      id: Buffer.from([1, 2, 255]),
      type: 'private',
      pinSource: 'file:/etc/ca.pin',
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
    });
  });

  test("RFC 7512's own examples read, with the attributes mtls-ca does not use ignored", () => {
    expect(parsePkcs11Uri('pkcs11:')).toEqual({});
    expect(parsePkcs11Uri('pkcs11:object=my-pubkey;type=public')).toEqual({
      object: 'my-pubkey',
      type: 'public',
    });
    expect(
      parsePkcs11Uri(
        'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=',
      ),
    ).toEqual({
      token: 'The Software PKCS#11 Softtoken',
      manufacturer: 'Snake Oil, Inc.',
      model: '1.0',
      object: 'my-certificate',
      type: 'cert',
      id: Buffer.from('69953e5cf4bdec91', 'hex'),
      serial: '',
    });
    expect(parsePkcs11Uri('pkcs11:slot-description=Sun%20Metaslot;library-version=1')).toEqual({});
    // A UTF-8 label, percent-encoded or not
    expect(parsePkcs11Uri('pkcs11:token=%C3%BCber;object=Schl%C3%BCssel').token).toBe('über');
    expect(parsePkcs11Uri('pkcs11:token=über').token).toBe('über');
  });

  test('a label with a character outside the BMP (two UTF-16 units) is read whole, not as two U+FFFD', () => {
    expect(parsePkcs11Uri('pkcs11:token=CA;object=key-\u{1F511}').object).toBe('key-\u{1F511}');
    expect(parsePkcs11Uri('pkcs11:object=key-%F0%9F%94%91').object).toBe('key-\u{1F511}');
  });

  test('a PIN in the URI is refused, and the message does not repeat it', () => {
    const e = errorOf(() => parsePkcs11Uri('pkcs11:token=CA;object=k?pin-value=123456'));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe(
      'use the PKCS#11 URI: it holds the PIN (pin-value), which would show in the process list and shell history',
    );
  });

  test.each([
    ['http://example.com', 'a PKCS#11 URI starts with pkcs11:'],
    ['pkcs11:token=a;token=b', '"token" appears twice'],
    ['pkcs11:colour=blue', '"colour" is not a PKCS#11 URI attribute here (RFC 7512)'],
    ['pkcs11:token', '"token" is not name=value'],
    ['pkcs11:object=%4', '"%4" is not a percent-encoded byte'],
    ['pkcs11:type=secret', 'type=secret is none of public, private, cert, secret-key, data'],
    ['pkcs11:token=a?module=/lib/p11.so', '"module" is not a PKCS#11 URI attribute here (RFC 7512)'],
  ])('%s is refused: %s', (text, cause) => {
    const e = errorOf(() => parsePkcs11Uri(text));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe(`use ${text}: ${cause}`);
  });

  test('vendor attributes (x-…) are read and ignored', () => {
    expect(parsePkcs11Uri('pkcs11:token=a;x-vendor=1')).toEqual({ token: 'a' });
  });
});

describe('formatPkcs11Uri', () => {
  test('writes what it reads back, the id as percent-encoded bytes', () => {
    const uri = {
      token: 'My CA; prod',
      object: 'ca/key',
      id: Buffer.from([0, 0xab, 0x10]),
      type: 'private',
      pinSource: 'file:/etc/mtls ca/pin',
      modulePath: '/usr/lib/softhsm/libsofthsm2.so',
    };
    const text = formatPkcs11Uri(uri);
    expect(text).toBe(
      'pkcs11:token=My%20CA%3B%20prod;object=ca%2Fkey;id=%00%ab%10;type=private?pin-source=file:/etc/mtls%20ca/pin&module-path=/usr/lib/softhsm/libsofthsm2.so',
    );
    expect(parsePkcs11Uri(text)).toEqual(uri);
  });
});

describe('pinSourcePath', () => {
  test.each([
    ['file:/etc/ca.pin', '/etc/ca.pin'],
    ['file:///etc/ca.pin', '/etc/ca.pin'],
    ['file://localhost/etc/ca.pin', '/etc/ca.pin'],
    ['file:/etc/my ca.pin', '/etc/my ca.pin'],
    ['file:ca.pin', 'ca.pin'],
    ['/etc/ca.pin', '/etc/ca.pin'],
  ])('%s → %s', (source, file) => {
    expect(pinSourcePath(source)).toBe(file);
  });

  test('a PIN file on another host is refused', () => {
    expect(errorOf(() => pinSourcePath('file://server/etc/ca.pin')).message).toBe(
      'use pin-source=file://server/etc/ca.pin: a PIN file on another host',
    );
  });
});
