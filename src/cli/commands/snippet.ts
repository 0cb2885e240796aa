import { Argument, type Command, InvalidArgumentError } from 'commander';
import { MtlsCaError } from '../../pki/errors.js';
import type { CaStore } from '../../store/ca-store.js';
import { type CommandContext, helpAfter, parsePort } from '../context.js';
import type { Output } from '../output.js';
import { loadSnippetBuild, SNIPPET_TARGETS, type Snippet, type SnippetTarget } from '../snippets/index.js';

interface Flags {
  client?: string;
  server?: string;
  port?: number;
  url?: string;
  upstream: string;
}

const CLIENT_TARGETS = SNIPPET_TARGETS.filter((t) => t.uses !== 'server').map((t) => t.name);

function parseUrl(flag: string, protocols: string[]) {
  return (value: string): string => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError(
        `${flag} takes a URL such as ${protocols[0]}//localhost:8443/customer/1.`,
      );
    }
    if (!protocols.includes(url.protocol)) {
      throw new InvalidArgumentError(
        `${flag} takes an ${protocols.map((p) => p.slice(0, -1)).join(' or ')} URL.`,
      );
    }
    return value;
  };
}

export function registerSnippet(program: Command, ctx: CommandContext): void {
  const width = Math.max(...SNIPPET_TARGETS.map((t) => t.name.length));
  program
    .command('snippet')
    .summary('print ready-to-paste mTLS configuration for a server or client')
    .description(
      'Prints configuration for <target> filled in from the CA directory: absolute paths, the CRL, the roles\n' +
        'of users.json, and the pitfalls users hit as comments. Secrets are never in the text: the snippets\n' +
        'read them from environment variables, and the lines that set those (from the generated .pass files,\n' +
        'or a hidden prompt) come first. Client snippets use --client NAME (needed when there are several\n' +
        'clients); server snippets the certificate of `init`, or --server NAME from `issue-server --name`.',
    )
    .addArgument(new Argument('<target>', 'what to configure').choices(SNIPPET_TARGETS.map((t) => t.name)))
    .option('--client <name>', `the client certificate to use (${CLIENT_TARGETS.join(', ')})`)
    .option('--server <name>', 'the server certificate to use (ssl/server/<name>.crt)', undefined)
    .option(
      '--port <port>',
      'the port a server snippet listens on (default: 443 for proxies, else 8443)',
      parsePort(1),
    )
    .option(
      '--url <url>',
      'the URL a client snippet calls (default: https://<server name>:8443/customer/1)',
      parseUrl('--url', ['https:']),
    )
    .option(
      '--upstream <url>',
      'where a proxy snippet forwards requests',
      parseUrl('--upstream', ['http:', 'https:']),
      'http://127.0.0.1:8080',
    )
    .addHelpText(
      'after',
      `\nTargets:\n${SNIPPET_TARGETS.map((t) => `  ${t.name.padEnd(width)}  ${t.summary}`).join('\n')}\n` +
        helpAfter([
          'mtls-ca snippet nginx --upstream http://127.0.0.1:3000',
          'mtls-ca snippet spring-boot',
          'mtls-ca snippet curl --client pavel',
          'mtls-ca snippet python --client pavel \\\n      --url https://api.example.com/customer/1',
          'mtls-ca snippet go --client pavel --json | jq -r .parts[0].text > server.go',
        ]),
    )
    .action(async (targetName: string, flags: Flags, cmd: Command) => {
      const out = await ctx.output(cmd);
      const store = await ctx.store(cmd);
      const target = SNIPPET_TARGETS.find((t) => t.name === targetName)!;
      const client = target.uses === 'server' ? noClient(target, flags) : chooseClient(store, target, flags);
      const { snippetFacts } = await import('../../ops/snippet.js');
      let facts: Awaited<ReturnType<typeof snippetFacts>>;
      try {
        facts = snippetFacts(store, { client, server: flags.server });
      } catch (e) {
        if (e instanceof MtlsCaError && e.code === 'NOT_FOUND' && !e.hint) {
          throw new MtlsCaError(
            e.code,
            e.message,
            client !== undefined && e.message.includes('client')
              ? `issue one with \`mtls-ca issue-client ${client} --role user\``
              : `issue one with \`mtls-ca issue-server <host> --name ${flags.server ?? 'server'}\`, or pass --server NAME`,
          );
        }
        throw e;
      }
      const host = facts.server.hosts[0] ?? 'localhost';
      // The templates are imported here, not at registration: every other command starts without them.
      const build = await loadSnippetBuild(target);
      const snippet = build({
        facts,
        port: flags.port ?? target.defaultPort ?? 8443,
        url: flags.url ?? `https://${host.includes(':') ? `[${host}]` : host}:8443/customer/1`,
        upstream: flags.upstream,
      });
      if (facts.client && facts.client.roles.length === 0) {
        out.warn(
          `${facts.client.name} has no roles in users.json: servers set up from it refuse them (403); add one with \`mtls-ca issue-client ${facts.client.name} --role user --force\``,
        );
      }
      if (target.uses !== 'client' && !facts.users.some((u) => u.roles.length > 0)) {
        out.warn('users.json gives nobody a role: the server configured here refuses every user (403)');
      }
      out.result(snippet, () => renderSnippet(out, snippet));
    });
}

function noClient(target: SnippetTarget, flags: Flags): undefined {
  if (flags.client !== undefined) {
    throw new MtlsCaError(
      'USAGE',
      `snippet ${target.name}: --client is for client snippets (${CLIENT_TARGETS.join(', ')})`,
      `leave out --client, or ask for a client snippet, e.g. \`mtls-ca snippet curl --client ${flags.client}\``,
    );
  }
  return undefined;
}

/** The client of a client snippet: the one named, else the only one there is. */
function chooseClient(store: CaStore, target: SnippetTarget, flags: Flags): string {
  if (flags.client !== undefined) return flags.client;
  store.assertInitialized();
  const names = store.clientBundles().sort();
  if (names.length === 1) return names[0]!;
  if (names.length === 0) {
    throw new MtlsCaError(
      'NOT_FOUND',
      `snippet ${target.name}: no client certificate in ${store.display(store.paths.clientDir)}`,
      'issue one with `mtls-ca issue-client pavel --role user`',
    );
  }
  throw new MtlsCaError(
    'USAGE',
    `snippet ${target.name}: which client? ${names.length} have certificates: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`,
    `pass --client NAME, e.g. \`mtls-ca snippet ${target.name} --client ${names[0]}\``,
  );
}

/** The text form: the environment lines, then each part between markers, with the command that uses it. */
function renderSnippet(out: Output, s: Snippet): string[] {
  const lines = [out.color.bold(`# ${s.title}`)];
  if (s.environment.length > 0) {
    lines.push(
      '',
      '# Secrets are read from the environment, never written into the snippets. In bash:',
      ...s.environment.map((v) => v.set),
    );
  }
  for (const part of s.parts) {
    lines.push('', out.color.cyan(`==> ${part.file} (${part.about}) <==`), part.text.replace(/\n$/, ''));
    if (part.run) lines.push(out.color.dim(`# run: ${part.run}`));
  }
  return lines;
}
