import { expect, test } from 'vitest';
import { isPem, pemBlocks, pemOrDer, toPem } from '../../src/pki/pem.js';

const der = Buffer.from('3003020101', 'hex');

test('toPem wraps at 64 columns and round-trips through pemBlocks', () => {
  const big = Buffer.alloc(100, 7);
  const pem = toPem('CERTIFICATE', big);
  expect(pem.split('\n')[1]).toHaveLength(64);
  expect(pemBlocks(pem)).toEqual([{ label: 'CERTIFICATE', der: big }]);
});

test('regression: text before the armour (openssl x509 -text output) is still PEM', () => {
  const text = `Certificate:\n    Data:\n        Version: 3 (0x2)\n${toPem('CERTIFICATE', der)}`;
  expect(isPem(text)).toBe(true);
  expect(isPem(Buffer.from(text))).toBe(true);
  expect(pemOrDer(Buffer.from(text), ['CERTIFICATE'], 'x.pem')).toEqual(der);
});

test('DER stays DER; a PEM without the wanted label is PARSE_FAILED naming the file', () => {
  expect(isPem(der)).toBe(false);
  expect(pemOrDer(der, ['CERTIFICATE'], 'x.der')).toBe(der);
  expect(() => pemOrDer(toPem('X509 CRL', der), ['CERTIFICATE'], 'x.pem')).toThrow(
    'read x.pem: no CERTIFICATE PEM block found',
  );
});
