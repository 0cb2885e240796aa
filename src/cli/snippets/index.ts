/**
 * The catalogue of snippet targets, and the loading of their templates. The catalogue is all that `snippet`
 * needs to register itself (the help's list, the argument's choices), so it holds no template: the ≈ 50 KB
 * of template text stays in the target modules, which are imported only when `snippet` runs — every other
 * command starts without parsing them.
 */
import type { SnippetBuild, SnippetBuilders, SnippetTarget } from './model.js';

/**
 * The target modules, each imported only when asked for. Each exports `builders`, keyed by the names of the
 * catalogue's targets it serves.
 */
export const SNIPPET_MODULES = {
  spring: () => import('./spring.js'),
  java: () => import('./java.js'),
  proxies: () => import('./proxies.js'),
  cloud: () => import('./cloud.js'),
  node: () => import('./node.js'),
  go: () => import('./go.js'),
  clients: () => import('./clients.js'),
} satisfies Record<string, () => Promise<{ builders: SnippetBuilders }>>;

/** A target of the catalogue: what `snippet` registers, and the module that holds its template. */
export interface CatalogueTarget extends SnippetTarget {
  /** The key of {@link SNIPPET_MODULES} whose `builders` has this target's build. */
  module: keyof typeof SNIPPET_MODULES;
}

/** Every snippet target, in the order `snippet --help` lists them: servers first, then clients. */
export const SNIPPET_TARGETS: readonly CatalogueTarget[] = [
  {
    name: 'spring-boot',
    summary: 'server.ssl.* (properties, YAML), SSL bundles, the CRL',
    uses: 'server',
    defaultPort: 8443,
    module: 'spring',
  },
  {
    name: 'spring-security',
    summary: 'Spring Security 6 and 7: user from the CN, users.json roles',
    uses: 'server',
    defaultPort: 8443,
    module: 'spring',
  },
  {
    name: 'tomcat',
    summary: 'server.xml connector, the CRL, CN -> roles (realm, web.xml)',
    uses: 'server',
    defaultPort: 8443,
    module: 'java',
  },
  {
    name: 'nginx',
    summary: 'server block: ssl_verify_client, CRL, roles, headers',
    uses: 'server',
    defaultPort: 443,
    module: 'proxies',
  },
  {
    name: 'haproxy',
    summary: 'haproxy.cfg: verify required, crl-file, roles, headers',
    uses: 'server',
    defaultPort: 443,
    module: 'proxies',
  },
  {
    name: 'envoy',
    summary: 'bootstrap: client certificate, CRL, RBAC roles, XFCC',
    uses: 'server',
    defaultPort: 443,
    module: 'cloud',
  },
  {
    name: 'kubernetes',
    summary: 'ingress-nginx: secrets (ca.crt, ca.crl), auth-tls annotations',
    uses: 'server',
    defaultPort: 443,
    module: 'cloud',
  },
  {
    name: 'node',
    summary: 'https server; clients: node:https, fetch + undici Agent',
    uses: 'both',
    defaultPort: 8443,
    module: 'node',
  },
  {
    name: 'go',
    summary: 'net/http server (RequireAndVerifyClientCert, CRL), client',
    uses: 'both',
    defaultPort: 8443,
    module: 'go',
  },
  {
    name: 'java',
    summary: 'HttpClient with an SSLContext; JVM flags (javax.net.ssl.*)',
    uses: 'client',
    module: 'java',
  },
  {
    name: 'curl',
    summary: 'PEM files, and the .p12 (its password kept out of ps)',
    uses: 'client',
    module: 'clients',
  },
  { name: 'python', summary: 'ssl + urllib, requests (PEM only), httpx', uses: 'client', module: 'clients' },
];

/**
 * A target's build, importing its module (and nothing else of the templates).
 * @param target - an entry of {@link SNIPPET_TARGETS}
 */
export async function loadSnippetBuild(target: CatalogueTarget): Promise<SnippetBuild> {
  const { builders }: { builders: SnippetBuilders } = await SNIPPET_MODULES[target.module]();
  const build = builders[target.name];
  if (!build) throw new Error(`snippet target ${target.name} has no build in ${target.module}.ts`);
  return build;
}

export type {
  Snippet,
  SnippetBuild,
  SnippetBuilders,
  SnippetInput,
  SnippetPart,
  SnippetTarget,
  SnippetVariable,
} from './model.js';
