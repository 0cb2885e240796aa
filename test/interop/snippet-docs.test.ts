/**
 * The snippets whose software cannot run here — Spring Boot, Spring Security, Envoy, Kubernetes — checked
 * against the documentation of that software: every property, field and annotation name they use must be one
 * of the names below, each with the page that documents it. The YAML is parsed by a real YAML parser
 * (PyYAML, Debian's python3-yaml), the Java by javac's parser (syntax only: Spring is not here). The settings
 * the Spring Boot properties describe — keyStore.p12 with alias server, trustStore.jks, client-auth need, the
 * CRL — are the ones the Tomcat test of snippet-servers.interop.test.ts runs for real.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Snippet } from '../../src/cli/snippets/index.js';
import { makeCa } from '../helpers/ca-setup.js';
import { javaProgram } from '../helpers/java.js';
import { pythonWith, snippetOf, writeParts } from '../helpers/snippets.js';
import { describeWithTools, inCi, runOk, tempDir } from '../helpers/tools.js';

const BOOT_PROPERTIES = 'https://docs.spring.io/spring-boot/appendix/application-properties/index.html';
const BOOT_SSL = 'https://docs.spring.io/spring-boot/reference/features/ssl.html';

/** Every property name the Spring Boot snippet may use (`mtls` is the bundle's name), and its documentation. */
const SPRING_BOOT_NAMES: Record<string, string> = {
  'server.port': BOOT_PROPERTIES,
  'server.ssl.key-store': BOOT_PROPERTIES,
  'server.ssl.key-store-type': BOOT_PROPERTIES,
  'server.ssl.key-store-password': BOOT_PROPERTIES,
  'server.ssl.key-alias': BOOT_PROPERTIES,
  'server.ssl.trust-store': BOOT_PROPERTIES,
  'server.ssl.trust-store-type': BOOT_PROPERTIES,
  'server.ssl.trust-store-password': BOOT_PROPERTIES,
  'server.ssl.client-auth': BOOT_PROPERTIES,
  'server.ssl.bundle': `${BOOT_SSL} (Using SSL bundles: server.ssl.bundle)`,
  'spring.ssl.bundle.jks.mtls.key.alias': `${BOOT_SSL} (Configuring SSL With Java KeyStore Files)`,
  'spring.ssl.bundle.jks.mtls.keystore.location': `${BOOT_SSL} (Configuring SSL With Java KeyStore Files)`,
  'spring.ssl.bundle.jks.mtls.keystore.type': `${BOOT_SSL} (Configuring SSL With Java KeyStore Files)`,
  'spring.ssl.bundle.jks.mtls.keystore.password': `${BOOT_SSL} (Configuring SSL With Java KeyStore Files)`,
  'spring.ssl.bundle.jks.mtls.truststore.location': `${BOOT_SSL} (Configuring SSL With Java KeyStore Files)`,
  'spring.ssl.bundle.jks.mtls.truststore.type': `${BOOT_SSL} (JksSslBundleProperties.Store: type)`,
  'spring.ssl.bundle.jks.mtls.truststore.password': `${BOOT_SSL} (Configuring SSL With Java KeyStore Files)`,
  'spring.ssl.bundle.jks.mtls.reload-on-update': `${BOOT_SSL} (Reloading SSL bundles; SslBundleProperties.isReloadOnUpdate)`,
  'spring.ssl.bundle.pem.mtls.keystore.certificate': `${BOOT_SSL} (Configuring SSL With PEM-encoded Certificates)`,
  'spring.ssl.bundle.pem.mtls.keystore.private-key': `${BOOT_SSL} (Configuring SSL With PEM-encoded Certificates)`,
  'spring.ssl.bundle.pem.mtls.truststore.certificate': `${BOOT_SSL} (Configuring SSL With PEM-encoded Certificates)`,
  'spring.ssl.bundle.pem.mtls.reload-on-update': `${BOOT_SSL} (Reloading SSL bundles)`,
};

const ENVOY = 'https://www.envoyproxy.io/docs/envoy/latest/api-v3';
/** Envoy field paths the snippet sets, and the v3 API page of each message. */
const ENVOY_FIELDS: Record<string, string> = {
  'transport_socket.typed_config.require_client_certificate': `${ENVOY}/extensions/transport_sockets/tls/v3/tls.proto (DownstreamTlsContext)`,
  'transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version': `${ENVOY}/extensions/transport_sockets/tls/v3/common.proto (TlsParameters)`,
  'transport_socket.typed_config.common_tls_context.tls_certificates': `${ENVOY}/extensions/transport_sockets/tls/v3/tls.proto (CommonTlsContext)`,
  'transport_socket.typed_config.common_tls_context.validation_context.trusted_ca': `${ENVOY}/extensions/transport_sockets/tls/v3/common.proto (CertificateValidationContext)`,
  'transport_socket.typed_config.common_tls_context.validation_context.crl': `${ENVOY}/extensions/transport_sockets/tls/v3/common.proto (CertificateValidationContext)`,
  'filters.typed_config.forward_client_cert_details': `${ENVOY}/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto`,
  'filters.typed_config.set_current_client_cert_details.subject': `${ENVOY}/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto (SetCurrentClientCertDetails)`,
  'rbac.rules.policies.role-user.principals.authenticated.principal_name': `${ENVOY}/config/rbac/v3/rbac.proto (Principal.Authenticated: the URI or DNS SAN, else the subject)`,
};

const INGRESS_NGINX =
  'https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#client-certificate-authentication';
/** ingress-nginx annotations the snippet may use. */
const INGRESS_ANNOTATIONS: Record<string, string> = {
  'nginx.ingress.kubernetes.io/auth-tls-verify-client': INGRESS_NGINX,
  'nginx.ingress.kubernetes.io/auth-tls-secret': INGRESS_NGINX,
  'nginx.ingress.kubernetes.io/auth-tls-verify-depth': INGRESS_NGINX,
  'nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream': INGRESS_NGINX,
};

/** YAML text → the JSON PyYAML reads from it. */
function parseYaml(python: string, text: string): unknown {
  const r = spawnSync(
    path.join(python, 'python3'),
    ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'],
    { input: text, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`PyYAML refused it:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `key=value` lines of a properties text, commented lines included when `commented` (minus the `#`). */
function propertyKeys(text: string, commented = false): string[] {
  return text
    .split('\n')
    .map((l) => (commented ? l.replace(/^#(?=[a-z])/, '') : l))
    .filter((l) => /^[a-z][\w.-]*=/.test(l))
    .map((l) => l.slice(0, l.indexOf('=')));
}

describe('snippets checked against the documentation of software that does not run here', () => {
  const root = tempDir('mtls-ca-snippet-docs-');
  const D = path.join(root, 'ssl');
  let python: string | undefined;
  const part = (s: Snippet, file: string) => s.parts.find((p) => p.file === file)!.text;

  beforeAll(async () => {
    await makeCa(D, { pavel: ['--role', 'user'], anna: ['--role', 'user', '--role', 'admin'] });
    python = pythonWith(['yaml']);
  });

  function needPython(): string | undefined {
    if (python) return python;
    if (inCi) throw new Error('no python3 with PyYAML: .ci/run must install python3-yaml');
    console.warn('[skip] YAML checks: no python3 with PyYAML (python3-yaml)');
    return undefined;
  }

  test('spring-boot: every property is a documented name, and the YAML says what the properties say', async () => {
    const s = await snippetOf(D, ['spring-boot']);
    const used = [
      ...propertyKeys(part(s, 'application.properties')),
      ...propertyKeys(part(s, 'application-bundle.properties'), true),
    ];
    expect(used.filter((k) => !(k in SPRING_BOOT_NAMES))).toEqual([]);
    expect(new Set(used)).toEqual(new Set(Object.keys(SPRING_BOOT_NAMES)));
    const py = needPython();
    if (!py) return;
    const flatten = (o: unknown, prefix = ''): [string, unknown][] =>
      typeof o === 'object' && o !== null
        ? Object.entries(o).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k))
        : [[prefix, o]];
    const fromYaml = Object.fromEntries(flatten(parseYaml(py, part(s, 'application.yaml'))));
    const fromProperties = Object.fromEntries(
      part(s, 'application.properties')
        .split('\n')
        .filter((l) => /^[a-z]/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect({ ...fromYaml, 'server.port': String(fromYaml['server.port']) }).toEqual(fromProperties);
    // The stores are the ones the Tomcat snippet test serves with (alias server, client-auth need).
    expect(fromProperties).toMatchObject({
      'server.ssl.key-store': `file:${path.join(D, 'server/keyStore.p12')}`,
      'server.ssl.key-alias': 'server',
      'server.ssl.trust-store': `file:${path.join(D, 'server/trustStore.jks')}`,
      'server.ssl.client-auth': 'need',
      'server.ssl.key-store-password': `\${MTLS_KEYSTORE_PASSWORD}`,
    });
  });

  describeWithTools(['java'], 'the Java snippets', () => {
    test('SecurityConfig (Spring Security 6 and 7) and MtlsCrl parse with javac; roles from users.json', async () => {
      const security = await snippetOf(D, ['spring-security']);
      const boot = await snippetOf(D, ['spring-boot']);
      const folder = path.join(root, 'java');
      writeParts(security, folder);
      writeParts(boot, folder);
      const files = ['SecurityConfig.java', 'SecurityConfig7.java', 'MtlsCrl.java'].map((f) =>
        path.join(folder, f),
      );
      const r = runOk('java', javaProgram('ParseJava', files));
      expect(r.stdout.trim()).toBe('parsed 3');
      const six = part(security, 'SecurityConfig.java');
      const seven = part(security, 'SecurityConfig7.java');
      expect(six).toContain('Map.entry("anna", List.of("user", "admin"))');
      expect(six).toContain('.subjectPrincipalRegex("CN=(.*?)(?:,|$)")');
      // Spring Security 7's API: x509PrincipalExtractor, subjectPrincipalRegex deprecated
      // (https://docs.spring.io/spring-security/reference/api/kotlin/spring-security-config/org.springframework.security.config.annotation.web/-x509-dsl/subject-principal-regex.html).
      expect(seven).toContain('.x509PrincipalExtractor(new SubjectX500PrincipalExtractor())');
      expect(seven).toContain(
        'import org.springframework.security.web.authentication.preauth.x509.SubjectX500PrincipalExtractor;',
      );
      // Tomcat's SSLHostConfig attribute, run for real by the Tomcat snippet test.
      expect(part(boot, 'MtlsCrl.java')).toContain(
        `setCertificateRevocationListFile("${path.join(D, 'ca/crl.pem')}")`,
      );
    });
  });

  test('envoy: the YAML parses, and every field set is documented', async () => {
    const py = needPython();
    if (!py) return;
    const s = await snippetOf(D, ['envoy', '--port', '8443', '--upstream', 'http://127.0.0.1:3000']);
    // biome-ignore lint/suspicious/noExplicitAny: the parsed configuration, walked by its documented field names
    const config = parseYaml(py, part(s, 'envoy.yaml')) as any;
    const listener = config.static_resources.listeners[0];
    const chain = listener.filter_chains[0];
    const tls = chain.transport_socket.typed_config;
    const hcm = chain.filters[0].typed_config;
    const rbac = hcm.http_filters[0].typed_config;
    expect(listener.address.socket_address.port_value).toBe(8443);
    expect(tls['@type']).toBe(
      'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    );
    expect(tls.require_client_certificate).toBe(true);
    expect(tls.common_tls_context.tls_params.tls_minimum_protocol_version).toBe('TLSv1_2');
    expect(tls.common_tls_context.tls_certificates[0]).toEqual({
      certificate_chain: { filename: path.join(D, 'server/server.crt') },
      private_key: { filename: path.join(D, 'server/server.key') },
    });
    expect(tls.common_tls_context.validation_context).toEqual({
      trusted_ca: { filename: path.join(D, 'ca/ca.crt') },
      crl: { filename: path.join(D, 'ca/crl.pem') },
    });
    expect(hcm.forward_client_cert_details).toBe('SANITIZE_SET');
    expect(hcm.set_current_client_cert_details).toEqual({ subject: true });
    expect(rbac.rules.action).toBe('ALLOW');
    expect(rbac.rules.policies).toEqual({
      'role-user': {
        permissions: [{ any: true }],
        principals: [
          { authenticated: { principal_name: { exact: 'CN=pavel' } } },
          { authenticated: { principal_name: { exact: 'CN=anna' } } },
        ],
      },
      'role-admin': {
        permissions: [{ any: true }],
        principals: [{ authenticated: { principal_name: { exact: 'CN=anna' } } }],
      },
    });
    expect(hcm.http_filters.map((f: { name: string }) => f.name)).toEqual([
      'envoy.filters.http.rbac',
      'envoy.filters.http.router',
    ]);
    expect(
      config.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address,
    ).toEqual({
      socket_address: { address: '127.0.0.1', port_value: 3000 },
    });
    // Every documented field of the list is set in this configuration (arrays: their first element).
    const at = (o: unknown, keys: string[]): unknown =>
      keys.reduce<unknown>((v, k) => {
        const x = Array.isArray(v) ? v[0] : v;
        return typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[k] : undefined;
      }, o);
    const unset = Object.keys(ENVOY_FIELDS).filter((field) => {
      const [first, ...rest] = field.split('.');
      return first === 'rbac' ? at(rbac, rest) === undefined : at(chain, [first!, ...rest]) === undefined;
    });
    expect(unset).toEqual([]);
  });

  test('kubernetes: the Ingress parses, its annotations are documented, the secret keys are ca.crt and ca.crl', async () => {
    const py = needPython();
    if (!py) return;
    const s = await snippetOf(D, ['kubernetes', '--upstream', 'http://app:8080']);
    // biome-ignore lint/suspicious/noExplicitAny: the parsed Ingress
    const ingress = parseYaml(py, part(s, 'mtls-ingress.yaml')) as any;
    expect([ingress.apiVersion, ingress.kind]).toEqual(['networking.k8s.io/v1', 'Ingress']);
    const annotations = ingress.metadata.annotations as Record<string, unknown>;
    expect(Object.keys(annotations).filter((a) => !(a in INGRESS_ANNOTATIONS))).toEqual([]);
    // Kubernetes refuses an annotation that is not a string.
    expect(Object.values(annotations).every((v) => typeof v === 'string')).toBe(true);
    expect(annotations['nginx.ingress.kubernetes.io/auth-tls-verify-client']).toBe('on');
    expect(annotations['nginx.ingress.kubernetes.io/auth-tls-secret']).toBe('default/mtls-ca');
    expect(ingress.spec.tls).toEqual([{ hosts: ['localhost'], secretName: 'mtls-server' }]);
    expect(ingress.spec.rules[0].http.paths[0].backend.service.port.number).toBe(8080);
    const secrets = part(s, 'mtls-secrets.sh');
    expect(secrets).toContain(
      `kubectl create secret generic mtls-ca --from-file=ca.crt=${path.join(D, 'ca/ca.crt')} --from-file=ca.crl=${path.join(D, 'ca/crl.pem')}\n`,
    );
    const syntax = spawnSync('bash', ['-n'], { input: secrets });
    expect(syntax.status).toBe(0);
  });
});
