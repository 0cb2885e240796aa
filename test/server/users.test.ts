import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../src/server/log.js';
import { openUserDirectory, parseUsersFile } from '../../src/server/users.js';
import { errorOf } from '../helpers/errors.js';
import { within } from '../helpers/poll.js';
import { tempDir } from '../helpers/tools.js';

const root = tempDir('mtls-ca-users-');
let n = 0;

function setup(content?: string) {
  const file = path.join(root, `users-${n++}.json`);
  if (content !== undefined) writeFileSync(file, content);
  const lines: string[] = [];
  const logger = createLogger({ format: 'json', sink: (l) => lines.push(l) });
  const events = () => lines.map((l) => JSON.parse(l) as { level: string; event: string; message: string });
  return { file, lines, events, logger };
}

const json = (users: Record<string, { roles: string[] }>) => JSON.stringify({ users });

describe('parseUsersFile', () => {
  test('reads users and roles', () => {
    const users = parseUsersFile(
      '{"users":{"pavel":{"roles":["user","admin"]},"bob":{"roles":[]}}}',
      'u.json',
    );
    expect([...users.entries()]).toEqual([
      ['pavel', { roles: ['user', 'admin'] }],
      ['bob', { roles: [] }],
    ]);
  });

  test('names that are Object.prototype members are ordinary keys', () => {
    const users = parseUsersFile('{"users":{"__proto__":{"roles":["user"]}}}', 'u.json');
    expect(users.get('__proto__')).toEqual({ roles: ['user'] });
    expect(users.get('constructor')).toBeUndefined();
    expect(users.get('toString')).toBeUndefined();
  });

  test.each([
    ['{"users":', /^read u\.json: not valid JSON \(.+\)$/],
    ['[]', /^read u\.json: no "users" object$/],
    ['{"users":[]}', /^read u\.json: no "users" object$/],
    ['{"users":{"pavel":{}}}', /^read u\.json: user "pavel" has no "roles" list$/],
    ['{"users":{"pavel":{"roles":"user"}}}', /^read u\.json: user "pavel" has no "roles" list$/],
    [
      '{"users":{"pavel":{"roles":[1]}}}',
      /^read u\.json: user "pavel" has a role that is not a non-empty string$/,
    ],
    ['{"users":{"":{"roles":[]}}}', /^read u\.json: a user name is empty$/],
  ])('%s is PARSE_FAILED', (text, message) => {
    const error = errorOf(() => parseUsersFile(text, 'u.json'));
    expect(error.code).toBe('PARSE_FAILED');
    expect(error.message).toMatch(message);
    expect(error.hint).toBe('it must look like {"users": {"pavel": {"roles": ["user"]}}}');
  });
});

describe('openUserDirectory', () => {
  test('a malformed file at start-up is an error', () => {
    const { file, logger } = setup('{');
    expect(() => openUserDirectory(file, { logger, recheckMs: 0 })).toThrow(/^read .*: not valid JSON/);
  });

  test('a missing file denies everyone, and says so once', async () => {
    const { file, logger, events } = setup();
    const dir = openUserDirectory(file, { logger, recheckMs: 0 });
    expect(await dir.find('pavel')).toBeUndefined();
    expect(await dir.find('pavel')).toBeUndefined();
    expect(events().map((e) => [e.level, e.event, e.message])).toEqual([
      ['warn', 'users-missing', 'users file not found: every client is denied'],
    ]);
  });

  test('changes apply to the next lookup: in-place rewrite, atomic rename, deletion, re-creation', async () => {
    const { file, logger, events } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, { logger, recheckMs: 0 });
    expect(await dir.find('pavel')).toEqual({ roles: ['user'] });

    writeFileSync(file, json({ pavel: { roles: ['user', 'admin'] } }));
    expect(await dir.find('pavel')).toEqual({ roles: ['user', 'admin'] });

    // How the CA store writes: a temp file renamed over the old one (new inode, maybe the same size).
    writeFileSync(`${file}.tmp`, json({ pavel: { roles: ['user', 'audit'] } }));
    renameSync(`${file}.tmp`, file);
    expect(await dir.find('pavel')).toEqual({ roles: ['user', 'audit'] });

    rmSync(file);
    expect(await dir.find('pavel')).toBeUndefined();

    writeFileSync(file, json({ bob: { roles: [] } }));
    expect(await dir.find('bob')).toEqual({ roles: [] });
    expect(events().map((e) => e.event)).toEqual([
      'users-loaded',
      'users-loaded',
      'users-missing',
      'users-loaded',
    ]);
  });

  test('a half-written file keeps the last good version and is reported once per version', async () => {
    const { file, logger, events } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, { logger, recheckMs: 0 });
    writeFileSync(file, '{"users": {"pav');
    expect(await dir.find('pavel')).toEqual({ roles: ['user'] });
    expect(await dir.find('pavel')).toEqual({ roles: ['user'] });
    writeFileSync(file, json({ zoe: { roles: ['user'] } }));
    expect(await dir.find('pavel')).toBeUndefined();
    expect(await dir.find('zoe')).toEqual({ roles: ['user'] });
    expect(events().map((e) => [e.level, e.event])).toEqual([
      ['error', 'users-invalid'],
      ['info', 'users-loaded'],
    ]);
    expect(events()[0]!.message).toMatch(
      /^read .*users-\d+\.json: not valid JSON .*; keeping the last good version$/,
    );
  });

  test('many lookups after one change read the file once', async () => {
    const { file, logger, events } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, { logger, recheckMs: 0 });
    writeFileSync(file, json({ pavel: { roles: ['admin'] } }));
    const all = Array.from({ length: 20 }, () => dir.find('pavel'));
    expect(new Set(all.map((u) => u?.roles.join()))).toEqual(new Set(['admin']));
    expect(events().filter((e) => e.event === 'users-loaded')).toHaveLength(1);
  });
});

describe('openUserDirectory, watching (as the server runs it)', () => {
  test('a rename over users.json is picked up through the directory watch, not the once-a-minute stat', async () => {
    const { file, logger } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, { logger, recheckMs: 60_000 });
    try {
      expect(dir.find('pavel')).toEqual({ roles: ['user'] });
      writeFileSync(`${file}.tmp`, json({ pavel: { roles: ['admin'] } }));
      renameSync(`${file}.tmp`, file);
      await within(5_000, 'the watch reports the rename', () => dir.find('pavel')?.roles[0] === 'admin');
    } finally {
      dir.close();
    }
  });

  test('without a watch event, a change waits for the recheck interval', () => {
    const { file, logger } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, { logger, recheckMs: 60_000 });
    try {
      writeFileSync(file, json({ pavel: { roles: ['admin'] } }));
      // Synchronously after the write no event has been delivered yet: the cached version answers.
      expect(dir.find('pavel')).toEqual({ roles: ['user'] });
    } finally {
      dir.close();
    }
  });
});
