/**
 * `index.txt` of `openssl ca` and easy-rsa: the rows OpenSSL writes, read to exact values, and every row it
 * does not write refused with its line number. The rows below are in the form OpenSSL's apps/ca.c writes them;
 * files written by the real tools are read in test/interop/import.interop.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { canonicalSerial } from '../../src/pki/certificate.js';
import { parseOpensslIndex } from '../../src/pki/openssl-index.js';
import { errorOf } from '../helpers/errors.js';

const row = (...fields: string[]) => `${fields.join('\t')}\n`;

describe('parseOpensslIndex', () => {
  test('valid, revoked and expired rows; UTCTime and GeneralizedTime; serials in one spelling, and as written', () => {
    const text =
      row('V', '290309182147Z', '', '3048833167F262BF92D2373079B225B2', 'unknown', '/CN=alice') +
      row(
        'R',
        '290309182148Z',
        '261205182151Z,keyCompromise',
        'E66A43F8426C7E5B1A73649A264EE557',
        'unknown',
        '/CN=bob',
      ) +
      row('E', '240101000000Z', '', '1000', 'unknown', '/CN=carol/O=Team') +
      '\n' +
      row('V', '20510101120000Z', '', '00FF', 'unknown', '/CN=dave');
    expect(parseOpensslIndex(text, 'index.txt')).toEqual([
      {
        line: 1,
        status: 'valid',
        expires: new Date('2029-03-09T18:21:47Z'),
        serial: '3048833167f262bf92d2373079b225b2',
        writtenSerial: '3048833167F262BF92D2373079B225B2',
        subject: '/CN=alice',
      },
      {
        line: 2,
        status: 'revoked',
        expires: new Date('2029-03-09T18:21:48Z'),
        revokedAt: new Date('2026-12-05T18:21:51Z'),
        reason: 'keyCompromise',
        serial: 'e66a43f8426c7e5b1a73649a264ee557',
        writtenSerial: 'E66A43F8426C7E5B1A73649A264EE557',
        subject: '/CN=bob',
      },
      {
        line: 3,
        status: 'expired',
        expires: new Date('2024-01-01T00:00:00Z'),
        serial: '1000',
        writtenSerial: '1000',
        subject: '/CN=carol/O=Team',
      },
      {
        line: 5,
        status: 'valid',
        expires: new Date('2051-01-01T12:00:00Z'),
        serial: 'ff',
        writtenSerial: '00FF',
        subject: '/CN=dave',
      },
    ]);
  });

  test.each([
    ['', 'unspecified'],
    [',unspecified', 'unspecified'],
    [',CACompromise', 'cACompromise'],
    [',keyTime,20261201000000Z', 'keyCompromise'],
    [',CAkeyTime,20261201000000Z', 'cACompromise'],
    [',holdInstruction,holdInstructionReject', 'certificateHold'],
    [',certificateHold', 'certificateHold'],
    [',superseded', 'superseded'],
    [',cessationOfOperation', 'cessationOfOperation'],
    [',affiliationChanged', 'affiliationChanged'],
  ])('revocation "261205182151Z%s" → %s', (suffix, reason) => {
    const [r] = parseOpensslIndex(
      row('R', '290309182148Z', `261205182151Z${suffix}`, '01', 'unknown', '/CN=x'),
      'i',
    );
    expect(r!.reason).toBe(reason);
  });

  test.each([
    [row('X', '290309182147Z', '', '01', 'unknown', '/CN=a'), 'line 1 has the status "X", not V, R or E'],
    [row('S', '290309182147Z', '', '01', 'unknown', '/CN=a'), 'line 1 has the status "S", not V, R or E'],
    ['V\t290309182147Z\t\t01\t/CN=a\n', 'line 1 has 5 tab-separated fields, not 6'],
    [
      row('V', '2903091821Z', '', '01', 'unknown', '/CN=a'),
      'line 1 has the expiry "2903091821Z", not a time like 290309182147Z',
    ],
    [
      row('V', '290230182147Z', '', '01', 'unknown', '/CN=a'),
      'line 1 has the expiry "290230182147Z", not a time like 290309182147Z',
    ],
    [row('V', '290309182147Z', '', '0x1', 'unknown', '/CN=a'), 'line 1 has the serial "0x1", not hex digits'],
    [
      row('V', '290309182147Z', '261205182151Z', '01', 'unknown', '/CN=a'),
      'line 1 is valid but has a revocation time ("261205182151Z")',
    ],
    [
      row('R', '290309182147Z', '', '01', 'unknown', '/CN=a'),
      'line 1 has the revocation time "", not a time like 261205182151Z',
    ],
    [
      row('R', '290309182147Z', '261205182151Z,removeFromCRL', '01', 'unknown', '/CN=a'),
      'line 1 has the revocation reason "removeFromCRL", which OpenSSL does not write',
    ],
    [
      row('R', '290309182147Z', '261205182151Z,superseded,extra', '01', 'unknown', '/CN=a'),
      'line 1 has the revocation "261205182151Z,superseded,extra", not time[,reason]',
    ],
    [
      row('V', '290309182147Z', '', '0A', 'unknown', '/CN=a') +
        row('V', '290309182147Z', '', '000a', 'unknown', '/CN=b'),
      'line 2 repeats the serial a of line 1',
    ],
  ])('refuses %j: %s', (text, cause) => {
    const error = errorOf(() => parseOpensslIndex(text, 'pki/index.txt'));
    expect([error.code, error.message]).toEqual(['PARSE_FAILED', `read pki/index.txt: ${cause}`]);
  });
});

test('canonicalSerial: one spelling for the DER form, OpenSSL’s form and zero', () => {
  expect(canonicalSerial('00e66a43')).toBe('e66a43');
  expect(canonicalSerial('E66A43')).toBe('e66a43');
  expect(canonicalSerial('00')).toBe('0');
  expect(canonicalSerial('0')).toBe('0');
});
