import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { isMtlsCaError } from '../../src/pki/errors.js';
import { createLogger } from '../../src/server/log.js';
import { openUserDirectory, parseUsersFile } from '../../src/server/users.js';
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
    let error: unknown;
    try {
      parseUsersFile(text, 'u.json');
    } catch (e) {
      error = e;
    }
    expect(isMtlsCaError(error, 'PARSE_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as { hint?: string }).hint).toBe(
      'it must look like {"users": {"pavel": {"roles": ["user"]}}}',
    );
  });
});

describe('openUserDirectory', () => {
  test('a malformed file at start-up is an error', () => {
    const { file, logger } = setup('{');
    expect(() => openUserDirectory(file, logger)).toThrow(/^read .*: not valid JSON/);
  });

  test('a missing file denies everyone, and says so once', async () => {
    const { file, logger, events } = setup();
    const dir = openUserDirectory(file, logger);
    expect(await dir.find('pavel')).toBeUndefined();
    expect(await dir.find('pavel')).toBeUndefined();
    expect(events().map((e) => [e.level, e.event, e.message])).toEqual([
      ['warn', 'users-missing', 'users file not found: every client is denied'],
    ]);
  });

  test('changes apply to the next lookup: in-place rewrite, atomic rename, deletion, re-creation', async () => {
    const { file, logger, events } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, logger);
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
    const dir = openUserDirectory(file, logger);
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

  test('concurrent lookups share one read', async () => {
    const { file, logger, events } = setup(json({ pavel: { roles: ['user'] } }));
    const dir = openUserDirectory(file, logger);
    writeFileSync(file, json({ pavel: { roles: ['admin'] } }));
    const all = await Promise.all(Array.from({ length: 20 }, () => dir.find('pavel')));
    expect(new Set(all.map((u) => u?.roles.join()))).toEqual(new Set(['admin']));
    expect(events().filter((e) => e.event === 'users-loaded')).toHaveLength(1);
  });
});
