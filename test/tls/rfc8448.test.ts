/**
 * The TLS 1.3 record reader against RFC 8448, "Example Handshake Traces for TLS 1.3", section 3 (a simple
 * 1-RTT handshake, TLS_AES_128_GCM_SHA256): the traffic keys derived from the server's handshake traffic
 * secret, and the server's encrypted flight opened and read message by message. The values are the RFC's.
 */
import { describe, expect, test } from 'vitest';
import { Certificate } from '../../src/pki/certificate.js';
import { readConversation } from '../../src/tls/conversation.js';
import { parseCertificate, parseServerHello, TLS13 } from '../../src/tls/messages.js';
import {
  hkdfExpandLabel,
  parseKeyLog,
  RecordOpener,
  tls13Suite,
  trafficKeys,
} from '../../src/tls/record-protection.js';
import { HandshakeReassembler, HandshakeType, splitRecords } from '../../src/tls/records.js';

const hex = (...parts: string[]) => Buffer.from(parts.join(''), 'hex');

const SERVER_HANDSHAKE_TRAFFIC_SECRET = hex(
  'b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38',
);
const SERVER_APPLICATION_TRAFFIC_SECRET = hex(
  'a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643',
);
const CLIENT_RANDOM = 'cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7';

const SERVER_HELLO = hex(
  '020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d',
  '0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304',
);

/** {server} send handshake record: EncryptedExtensions, Certificate, CertificateVerify, Finished. */
const SERVER_FLIGHT_RECORD = hex(
  '17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca07612ef9f9',
  '45cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13bd9aefb0e57f271585b8e',
  'a9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c7d0e509289444c9b3a648f1d71035d',
  '2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd610928d809810e4b7ed1a8fd991f06aa6248204797e36',
  'a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a89441ac66272fd8fb330ef8190579b3684596c960bd596eea52',
  '0a56a8d650f563aad27409960dca63d3e688611ea5e22f4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad',
  '6d26f59ecaba9acbbb317b66d902f4f292a36ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea',
  '330faeea6dfa31c7a84dc3bd7e1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4',
  'c5e8280a2b48052cf93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df8',
  '81edbe5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb5630',
  'c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038ebba42f3b38edc',
  '0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd502784016e4b3be7ef04dda49f4b4',
  '40a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e750edc53370d2b',
);

/** The messages of that record, as the RFC lists them before protection. */
const ENCRYPTED_EXTENSIONS = hex(
  '080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000',
);
const SERVER_FINISHED = hex('140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718');

const suite = tls13Suite(0x1301)!;

describe('RFC 8448 §3: a simple 1-RTT handshake', () => {
  test('HKDF-Expand-Label gives the server handshake write key and IV', () => {
    const { key, iv } = trafficKeys(suite, SERVER_HANDSHAKE_TRAFFIC_SECRET);
    expect(key.toString('hex')).toBe('3fce516009c21727d0f2e4e86ee403bc');
    expect(iv.toString('hex')).toBe('5d313eb2671276ee13000b30');
  });

  test('and the server application write key and IV', () => {
    const { key, iv } = trafficKeys(suite, SERVER_APPLICATION_TRAFFIC_SECRET);
    expect(key.toString('hex')).toBe('9f02283b6c9c07efc26bb9f2ac92e356');
    expect(iv.toString('hex')).toBe('cf782b88dd83549aadf1e984');
  });

  test('the finished key is HKDF-Expand-Label(secret, "finished", "", 32)', () => {
    expect(
      hkdfExpandLabel('sha256', SERVER_HANDSHAKE_TRAFFIC_SECRET, 'finished', Buffer.alloc(0), 32),
    ).toEqual(hex('008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8'));
  });

  test('the ServerHello says TLS 1.3 and TLS_AES_128_GCM_SHA256 (supported_versions, not legacy_version)', () => {
    expect(parseServerHello(SERVER_HELLO.subarray(4))).toEqual({
      version: TLS13,
      cipherSuite: 0x1301,
      helloRetryRequest: false,
    });
  });

  test("the server's protected flight opens into EncryptedExtensions, Certificate, CertificateVerify, Finished", () => {
    const { records, rest } = splitRecords(SERVER_FLIGHT_RECORD);
    expect(rest.length).toBe(0);
    expect(records).toHaveLength(1);
    const opened = new RecordOpener(suite, SERVER_HANDSHAKE_TRAFFIC_SECRET).open(records[0]!);
    expect(opened.type).toBe(22);
    expect(opened.content.length).toBe(657);
    const messages = new HandshakeReassembler().push(opened.content);
    expect(messages.map((m) => m.type)).toEqual([
      HandshakeType.encryptedExtensions,
      HandshakeType.certificate,
      HandshakeType.certificateVerify,
      HandshakeType.finished,
    ]);
    expect(opened.content.subarray(0, ENCRYPTED_EXTENSIONS.length)).toEqual(ENCRYPTED_EXTENSIONS);
    expect(opened.content.subarray(-SERVER_FINISHED.length)).toEqual(SERVER_FINISHED);
    const chain = parseCertificate(messages[1]!.body, TLS13);
    expect(chain).toHaveLength(1);
    expect(new Certificate(chain[0]!).subjectName).toBe('CN=rsa');
  });

  test('a record opened under another secret does not authenticate (BAD_SIGNATURE), and nothing is returned', () => {
    const { records } = splitRecords(SERVER_FLIGHT_RECORD);
    expect(() => new RecordOpener(suite, SERVER_APPLICATION_TRAFFIC_SECRET).open(records[0]!)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });

  test('one flipped ciphertext bit fails authentication', () => {
    const damaged = Buffer.from(SERVER_FLIGHT_RECORD);
    damaged[100]! ^= 1;
    const { records } = splitRecords(damaged);
    expect(() => new RecordOpener(suite, SERVER_HANDSHAKE_TRAFFIC_SECRET).open(records[0]!)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });

  test('readConversation reads the chain from the captured bytes and the key log, and sees no CertificateRequest', () => {
    const helloRecord = Buffer.concat([
      hex('160303', SERVER_HELLO.length.toString(16).padStart(4, '0')),
      SERVER_HELLO,
    ]);
    const keyLog = parseKeyLog([
      `SERVER_HANDSHAKE_TRAFFIC_SECRET ${CLIENT_RANDOM} ${SERVER_HANDSHAKE_TRAFFIC_SECRET.toString('hex')}\n`,
    ]);
    const c = readConversation({
      client: Buffer.alloc(0),
      server: Buffer.concat([helloRecord, hex('140303000101'), SERVER_FLIGHT_RECORD]),
      keyLog,
    });
    expect(c.notTls).toBe(false);
    expect(c.server.hello?.version).toBe(TLS13);
    expect(c.server.certificates?.map((d) => new Certificate(d).subjectName)).toEqual(['CN=rsa']);
    expect(c.server.certificateRequest).toBeUndefined();
    expect(c.server.flightComplete).toBe(true);
    expect(c.server.unread).toBeUndefined();
  });

  test('without the secret in the key log, reading stops after the ServerHello and says why', () => {
    const helloRecord = Buffer.concat([
      hex('160303', SERVER_HELLO.length.toString(16).padStart(4, '0')),
      SERVER_HELLO,
    ]);
    const c = readConversation({
      client: Buffer.alloc(0),
      server: Buffer.concat([helloRecord, SERVER_FLIGHT_RECORD]),
      keyLog: new Map(),
    });
    expect(c.server.hello?.cipherSuite).toBe(0x1301);
    expect(c.server.certificates).toBeUndefined();
    expect(c.server.unread).toBe('the key log has no SERVER_HANDSHAKE_TRAFFIC_SECRET');
  });
});
