/**
 * The rules of ARCHITECTURE.md that a machine can check, read from the sources with the TypeScript parser:
 * which layer imports which, where each third-party library may be loaded, that only the store writes files and
 * only bin/ sets the exit code, that the worker thread of a batch never loads the store, that the unrolled SHA-1
 * stays free of module-level names (docs/performance.md), and that the repository explains itself (no issue
 * numbers, no style guide from outside it).
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');

type Layer = 'pki' | 'tls' | 'store' | 'files' | 'trust' | 'token' | 'ops' | 'cli' | 'server';

interface Import {
  /** As written: `../store/atomic.js`, `node:fs`, `chalk`. */
  specifier: string;
  /** The source file it names (src/…/x.ts), for a relative import. */
  resolved?: string;
  /** `import type`, or every name imported is a type: erased from the JavaScript. */
  typeOnly: boolean;
  line: number;
}

interface SourceFile {
  /** Relative to the repository, with `/`: `src/ops/init.ts`. */
  rel: string;
  layer: Layer;
  ast: ts.SourceFile;
  imports: Import[];
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

function importsOf(ast: ts.SourceFile, file: string): Import[] {
  const out: Import[] = [];
  const add = (node: ts.Node, specifier: ts.Expression, typeOnly: boolean) => {
    if (!ts.isStringLiteral(specifier)) return;
    const s = specifier.text;
    const resolved = s.startsWith('.')
      ? path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts')
      : undefined;
    const line = ast.getLineAndCharacterOfPosition(node.getStart(ast)).line + 1;
    out.push({ specifier: s, resolved, typeOnly, line });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            bindings !== undefined &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((e) => e.isTypeOnly)));
      add(node, node.moduleSpecifier, allTypes);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node, node.moduleSpecifier, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0]
    ) {
      add(node, node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(ast);
  return out;
}

const sources: SourceFile[] = walk(SRC)
  .filter((f) => f.endsWith('.ts'))
  .map((file) => {
    const ast = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const rel = path.relative(ROOT, file).split(path.sep).join('/');
    return { rel, layer: rel.split('/')[1] as Layer, ast, imports: importsOf(ast, file) };
  });
const byPath = new Map(sources.map((s) => [path.join(ROOT, s.rel), s]));

function layerOf(file: string): Layer | undefined {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length > 1 && rel[0] !== '..' ? (rel[0] as Layer) : undefined;
}

/** `src/x.ts:12 → spec` lines of the imports of `files` for which `bad` holds. */
function offending(files: SourceFile[], bad: (i: Import, s: SourceFile) => boolean): string[] {
  return files.flatMap((s) =>
    s.imports.filter((i) => bad(i, s)).map((i) => `${s.rel}:${i.line} → ${i.specifier}`),
  );
}

/** `src/x.ts:12 text` for every node of `files` for which `bad` holds. */
function offendingNodes(files: SourceFile[], bad: (n: ts.Node, s: SourceFile) => boolean): string[] {
  const out: string[] = [];
  for (const s of files) {
    const visit = (n: ts.Node) => {
      if (bad(n, s)) {
        out.push(
          `${s.rel}:${s.ast.getLineAndCharacterOfPosition(n.getStart(s.ast)).line + 1} ${n.getText(s.ast)}`,
        );
      }
      ts.forEachChild(n, visit);
    };
    visit(s.ast);
  }
  return out;
}

const inLayer = (...layers: Layer[]) => sources.filter((s) => layers.includes(s.layer));

describe('layers import only the layers below them', () => {
  const allowed: Record<Layer, Layer[]> = {
    pki: ['pki'],
    tls: ['tls', 'pki'],
    store: ['store', 'pki'],
    files: ['files', 'pki'],
    // The trust stores outside the CA directory: never the store, so never the CA directory's files.
    trust: ['trust', 'pki'],
    // Keys in PKCS#11 tokens: signers for pki, with no knowledge of where the CA keeps the URI.
    token: ['token', 'pki'],
    ops: ['ops', 'pki', 'tls', 'store', 'files', 'trust'],
    server: ['server', 'pki', 'files', 'store'],
    cli: ['cli', 'pki', 'tls', 'store', 'files', 'ops', 'server', 'trust', 'token'],
  };

  test.each(Object.keys(allowed) as Layer[])('%s', (layer) => {
    const wrong = offending(inLayer(layer), (i) => {
      if (!i.resolved) return false;
      const target = layerOf(i.resolved);
      return target === undefined || !allowed[layer].includes(target);
    });
    expect(wrong).toEqual([]);
  });

  test('the server takes only the default paths from the store (layout.ts), never its reads or writes', () => {
    const wrong = offending(
      inLayer('server'),
      (i) =>
        i.resolved !== undefined && layerOf(i.resolved) === 'store' && !i.resolved.endsWith('/layout.ts'),
    );
    expect(wrong).toEqual([]);
  });
});

describe('tls is pure: the bytes of a captured connection in, what they say out', () => {
  test('it imports node:crypto only', () => {
    const wrong = offending(inLayer('tls'), (i) => !i.resolved && i.specifier !== 'node:crypto');
    expect(wrong).toEqual([]);
  });

  test('it never touches the process or the console', () => {
    const wrong = offendingNodes(
      inLayer('tls'),
      (n) =>
        ts.isPropertyAccessExpression(n) &&
        ts.isIdentifier(n.expression) &&
        ['process', 'console'].includes(n.expression.text),
    );
    expect(wrong).toEqual([]);
  });
});

describe('pki is pure: bytes and objects in and out', () => {
  test('it imports node:crypto, node:url (IDNA), node:util (promisify) and, in forge.ts, node:module', () => {
    const wrong = offending(inLayer('pki'), (i, s) => {
      if (i.resolved) return false;
      if (['node:crypto', 'node:url', 'node:util'].includes(i.specifier)) return false;
      return !(s.rel === 'src/pki/forge.ts' && ['node:module', 'node-forge'].includes(i.specifier));
    });
    expect(wrong).toEqual([]);
  });

  test('it never touches the process or the console', () => {
    const wrong = offendingNodes(
      inLayer('pki'),
      (n) =>
        ts.isPropertyAccessExpression(n) &&
        ts.isIdentifier(n.expression) &&
        ['process', 'console'].includes(n.expression.text),
    );
    expect(wrong).toEqual([]);
  });
});

describe('the layers below the CLI speak no CLI: a library user has no commands or flags', () => {
  const COMMANDS =
    'init|import|issue-client|issue-server|sign-csr|inspect|list|revoke|crl|renew|ca|root|audit|doctor|serve|publish|publish-url|demo|snippet|trust';
  /** Whole arguments of the programs src/trust runs, which are theirs, not ours. */
  const OTHER_PROGRAMS_FLAGS = new Set(['--fresh']);
  const CLI_WORDS = new RegExp(`\\bmtls-ca (${COMMANDS})\\b|(^|[\\s\`'"(])--[a-z]`);

  test.each(['pki', 'tls', 'store', 'files', 'trust', 'token', 'ops', 'server'] as Layer[])(
    '%s: no `mtls-ca <command>` or `--flag` in a string',
    (layer) => {
      const wrong = offendingNodes(
        inLayer(layer),
        (n) =>
          (ts.isStringLiteral(n) ||
            ts.isNoSubstitutionTemplateLiteral(n) ||
            ts.isTemplateHead(n) ||
            ts.isTemplateMiddle(n) ||
            ts.isTemplateTail(n)) &&
          CLI_WORDS.test(n.text) &&
          !(layer === 'trust' && OTHER_PROGRAMS_FLAGS.has(n.text)),
      );
      expect(wrong).toEqual([]);
    },
  );
});

describe('each third-party library behind one adapter', () => {
  const adapters: Record<string, (rel: string) => boolean> = {
    'node-forge': (rel) => rel === 'src/pki/forge.ts',
    inquirer: (rel) => rel === 'src/cli/prompts.ts',
    chalk: (rel) => rel === 'src/cli/output.ts',
    commander: (rel) => rel.startsWith('src/cli/'),
    express: (rel) => rel === 'src/server/app.ts' || rel === 'src/server/responses.ts',
    // optional, loaded only when a pkcs11: URI is used
    pkcs11js: (rel) => rel === 'src/token/pkcs11.ts',
    // loaded only when a database URL is used
    pg: (rel) => rel === 'src/store/postgres/driver.ts',
  };

  test.each(Object.keys(adapters))('%s', (library) => {
    const wrong = offending(sources, (i, s) => i.specifier === library && !adapters[library]!(s.rel));
    expect(wrong).toEqual([]);
  });

  test('every package src imports is one of them, or a Node built-in', () => {
    const wrong = offending(
      sources,
      (i) => !i.resolved && !i.specifier.startsWith('node:') && !(i.specifier in adapters),
    );
    expect(wrong).toEqual([]);
  });
});

describe('one writer, one exit', () => {
  /** node:fs functions that change the file system. */
  const WRITES =
    /^(write|writeFile|appendFile|rename|rm|rmdir|unlink|mkdir|mkdtemp|copyFile|cp|link|symlink|truncate|ftruncate|chmod|fchmod|chown|fchown|utimes|futimes)(Sync)?$/;

  test('only src/store changes the file system, and src/trust the trust stores outside the CA directory', () => {
    const outside = sources.filter((s) => s.layer !== 'store' && s.layer !== 'trust');
    const calls = offendingNodes(
      outside,
      (n) =>
        ts.isPropertyAccessExpression(n) &&
        ts.isIdentifier(n.expression) &&
        ['fs', 'fsp', 'promises'].includes(n.expression.text) &&
        WRITES.test(n.name.text),
    );
    const named = offendingNodes(
      outside,
      (n) =>
        ts.isImportDeclaration(n) &&
        ts.isStringLiteral(n.moduleSpecifier) &&
        n.moduleSpecifier.text.startsWith('node:fs') &&
        n.importClause?.namedBindings !== undefined &&
        ts.isNamedImports(n.importClause.namedBindings) &&
        n.importClause.namedBindings.elements.some((e) => WRITES.test((e.propertyName ?? e.name).text)),
    );
    expect([...calls, ...named]).toEqual([]);
  });

  test('the store reads the CA directory for the commands: ops never imports node:fs, cli only for its own files', () => {
    // program.ts reads the package's own package.json; inspect.ts looks for a .pass beside the file the user
    // named, wherever that is. Neither is the CA directory.
    const mayReadFiles = new Set(['src/cli/program.ts', 'src/cli/commands/inspect.ts']);
    const wrong = offending(
      inLayer('ops', 'cli'),
      (i, s) => i.specifier.startsWith('node:fs') && !mayReadFiles.has(s.rel),
    );
    expect(wrong).toEqual([]);
  });

  test('only src/trust runs other programs (certutil, update-ca-certificates …)', () => {
    const wrong = offending(sources, (i, s) => i.specifier === 'node:child_process' && s.layer !== 'trust');
    expect(wrong).toEqual([]);
  });

  test('nothing in src sets an exit code or exits: cli/main.ts returns it, bin/mtls-ca.js sets it', () => {
    const wrong = offendingNodes(
      sources,
      (n) =>
        ts.isPropertyAccessExpression(n) &&
        ts.isIdentifier(n.expression) &&
        n.expression.text === 'process' &&
        ['exit', 'exitCode', 'abort', 'reallyExit'].includes(n.name.text),
    );
    expect(wrong).toEqual([]);
  });
});

test('the worker thread of a batch never loads the store (the main thread owns the CA directory)', () => {
  const loaded = new Set<string>();
  const visit = (file: string) => {
    if (loaded.has(file)) return;
    loaded.add(file);
    for (const i of byPath.get(file)?.imports ?? []) if (i.resolved && !i.typeOnly) visit(i.resolved);
  };
  visit(path.join(SRC, 'ops/issue-client-worker.ts'));
  const rel = [...loaded].map((f) => path.relative(ROOT, f).split(path.sep).join('/'));
  expect(rel).toContain('src/ops/client-build.ts');
  expect(rel.filter((f) => f.startsWith('src/store/'))).toEqual([]);
});

test('sha1Block reads no module-level name: a bundler would make it a `var` read from memory in every step', () => {
  const file = sources.find((s) => s.rel === 'src/pki/hash-iterate.ts')!;
  const topLevel = new Set<string>();
  for (const st of file.ast.statements) {
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) topLevel.add(d.name.text);
    } else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) {
      topLevel.add(st.name.text);
    }
  }
  const sha1Block = file.ast.statements.find(
    (st): st is ts.FunctionDeclaration => ts.isFunctionDeclaration(st) && st.name?.text === 'sha1Block',
  );
  expect(sha1Block?.body).toBeDefined();
  expect(topLevel.size).toBeGreaterThan(1); // the check below has names to look for
  const used = new Set<string>();
  const visit = (n: ts.Node) => {
    if (ts.isIdentifier(n) && topLevel.has(n.text) && n.text !== 'sha1Block') used.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(sha1Block!.body!);
  expect([...used]).toEqual([]);
});

describe('the repository explains itself', () => {
  const TEXT = /\.(ts|js|mjs|cjs|json|md|sh|yml|yaml)$|^run$/;
  const files = [
    ...['src', 'test', 'bench', 'scripts', 'bin', 'docs', '.ci'].flatMap((d) =>
      fs.existsSync(path.join(ROOT, d)) ? walk(path.join(ROOT, d)) : [],
    ),
    ...['README.md', 'ARCHITECTURE.md', 'package.json'].map((f) => path.join(ROOT, f)),
  ].filter((f) => TEXT.test(path.basename(f)) && !f.includes(`${path.sep}results${path.sep}`));

  test('no file cites an issue number, "the issue", or a style guide outside the repository', () => {
    const CITES = [/\bissues?\s*#?\d+/i, /\bthe issue\b(?! line)/i, /\bissue's\b/i, /STYLE\.md/];
    const wrong = files.flatMap((f) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((line, i) =>
          CITES.some((re) => re.test(line)) && !f.endsWith('architecture.test.ts')
            ? [`${path.relative(ROOT, f)}:${i + 1} ${line.trim()}`]
            : [],
        ),
    );
    expect(files.length).toBeGreaterThan(100);
    expect(wrong).toEqual([]);
  });

  test('every file ARCHITECTURE.md and docs/performance.md link to exists', () => {
    const wrong: string[] = [];
    for (const doc of ['ARCHITECTURE.md', 'docs/performance.md', 'README.md']) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        if (!fs.existsSync(path.resolve(ROOT, path.dirname(doc), target!))) wrong.push(`${doc} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
