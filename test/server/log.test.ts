import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { createLogger, textValue } from '../../src/server/log.js';

const time = new Date('2026-03-01T12:00:00.000Z');

function capture(format: 'text' | 'json') {
  const lines: string[] = [];
  const logger = createLogger({ format, sink: (l) => lines.push(l), now: () => time });
  return { logger, lines };
}

describe('access log', () => {
  test('text: ISO time, user, method, path, status, ms', () => {
    const { logger, lines } = capture('text');
    logger.access({ time, user: 'pavel', method: 'GET', path: '/customer/1', status: 200, ms: 1.234 });
    logger.access({ time, user: undefined, method: 'GET', path: '/health', status: 401, ms: 0.04 });
    expect(lines).toEqual([
      '2026-03-01T12:00:00.000Z pavel GET /customer/1 200 1.2ms',
      '2026-03-01T12:00:00.000Z - GET /health 401 0ms',
    ]);
  });

  test('json: one object a line, user null when unknown', () => {
    const { logger, lines } = capture('json');
    logger.access({ time, user: undefined, method: 'GET', path: '/x', status: 404, ms: 2.26, aborted: true });
    expect(lines).toEqual([
      '{"time":"2026-03-01T12:00:00.000Z","type":"access","user":null,"method":"GET","path":"/x","status":404,"ms":2.3,"aborted":true}',
    ]);
  });

  test('a user name with spaces or a newline cannot forge a second text line', () => {
    const { logger, lines } = capture('text');
    logger.access({ time, user: 'eve\n2026 admin GET /', method: 'GET', path: '/a b', status: 403, ms: 1 });
    expect(lines).toEqual(['2026-03-01T12:00:00.000Z "eve\\n2026 admin GET /" GET "/a b" 403 1ms']);
  });
});

describe('event log', () => {
  test('text: level, event, message, then key=value with quoting where needed', () => {
    const { logger, lines } = capture('text');
    logger.event('warn', 'tls-refused', 'refused client: EXPIRED', {
      reason: 'EXPIRED',
      subject: 'CN=pavel, O=Example',
      detail: undefined,
      port: 8443,
    });
    expect(lines).toEqual([
      '2026-03-01T12:00:00.000Z warn tls-refused: refused client: EXPIRED reason=EXPIRED subject="CN=pavel, O=Example" port=8443',
    ]);
  });

  test('hints: the program running the server words the next step of an event; a line’s own hint wins', () => {
    const lines: string[] = [];
    const logger = createLogger({
      sink: (l) => lines.push(l),
      now: () => time,
      hints: { 'crl-expiring': 'run `renew-it`' },
    });
    logger.event('warn', 'crl-expiring', 'soon', { hoursLeft: 3 });
    logger.event('warn', 'crl-expiring', 'soon', { hint: 'its own' });
    logger.event('info', 'reloaded', 'done');
    logger.event('info', 'toString', 'not a hint from the prototype');
    expect(lines).toEqual([
      '2026-03-01T12:00:00.000Z warn crl-expiring: soon hoursLeft=3 hint="run `renew-it`"',
      '2026-03-01T12:00:00.000Z warn crl-expiring: soon hint="its own"',
      '2026-03-01T12:00:00.000Z info reloaded: done',
      '2026-03-01T12:00:00.000Z info toString: not a hint from the prototype',
    ]);
  });

  test('json', () => {
    const { logger, lines } = capture('json');
    logger.event('info', 'reloaded', 'certificate, key and CA reloaded', { serial: '0a1b' });
    expect(lines).toEqual([
      '{"time":"2026-03-01T12:00:00.000Z","type":"event","level":"info","event":"reloaded","message":"certificate, key and CA reloaded","serial":"0a1b"}',
    ]);
  });
});

test.each([
  ['pavel', 'pavel'],
  ['a=b', '"a=b"'],
  ['', '""'],
  ['say "hi"', '"say \\"hi\\""'],
  ['José', '"José"'],
  [42, '42'],
])('textValue(%j) = %s', (input, expected) => {
  expect(textValue(input)).toBe(expected);
});

describe('stdout sink', () => {
  test('access lines wait for a batch, an event line goes out at once after them, nothing is lost at exit', () => {
    // A child process, so that the real process.stdout (a pipe here) is the sink. `MARK` is written straight
    // to fd 1, past the sink: where it lands shows what the sink had written by then.
    const script = `
      import fs from 'node:fs';
      import { createLogger } from ${JSON.stringify(path.resolve('dist/server/log.js'))};
      const log = createLogger({ format: 'json', now: () => new Date(0) });
      const access = (p) => log.access({ time: new Date(0), user: 'u', method: 'GET', path: p, status: 200, ms: 1 });
      access('/a');
      fs.writeSync(1, 'MARK1\\n');
      log.event('warn', 'e', 'event');
      fs.writeSync(1, 'MARK2\\n');
      access('/b');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const order = r.stdout
      .trim()
      .split('\n')
      .map((l) => (l.startsWith('MARK') ? l : (JSON.parse(l).path ?? JSON.parse(l).event)));
    expect(order).toEqual(['MARK1', '/a', 'e', 'MARK2', '/b']);
  });
});
