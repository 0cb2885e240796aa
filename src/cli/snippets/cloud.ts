/**
 * Proxies configured as data: Envoy (a static bootstrap) and Kubernetes' ingress-nginx (secrets, an Ingress
 * with the auth-tls annotations). Neither runs on the test machines: test/interop/snippet-docs.test.ts parses
 * their YAML and names the documentation of each field.
 */
import { crlDeadline, type SnippetBuilders, type SnippetInput, serverHost, sh } from './model.js';

/** A YAML double-quoted scalar (JSON's string syntax is YAML's). */
function q(s: string): string {
  return JSON.stringify(s);
}

function upstreamAddress(upstream: string): { host: string; port: number; tls: boolean } {
  const u = new URL(upstream);
  const tls = u.protocol === 'https:';
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || (tls ? 443 : 80), tls };
}

function envoy({ facts: f, port, upstream }: SnippetInput): string {
  const byRole = new Map<string, string[]>();
  for (const u of f.users) for (const r of u.roles) byRole.set(r, [...(byRole.get(r) ?? []), u.name]);
  const policies = [...byRole]
    .map(
      ([role, names]) => `                  ${q(`role-${role}`)}:
                    permissions:
                    - any: true
                    principals:
${names.map((n) => `                    - authenticated: { principal_name: { exact: ${q(`CN=${n}`)} } }`).join('\n')}`,
    )
    .join('\n');
  const up = upstreamAddress(upstream);
  const isIp = /^[\d.]+$|:/.test(up.host);
  return `# Envoy: mutual TLS on port ${port} in front of ${upstream}, for clients of the CA "${f.caName}".
static_resources:
  listeners:
  - name: mtls
    address:
      socket_address: { address: 0.0.0.0, port_value: ${port} }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          # Without it, a client that sends no certificate is let through.
          require_client_certificate: true
          common_tls_context:
            tls_params:
              tls_minimum_protocol_version: TLSv1_2
            tls_certificates:
            - certificate_chain: { filename: ${q(f.server.cert)} }
              private_key: { filename: ${q(f.server.key)} }
            validation_context:
              trusted_ca: { filename: ${q(f.caCert)} }
              # Read when the listener is created. Past its next update (${crlDeadline(f)}) every
              # client is refused: restart (or hot-restart) Envoy after each revoke or \`mtls-ca crl\`.
              crl: { filename: ${q(f.crl)} }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: mtls
          # The upstream learns the client in x-forwarded-client-cert (Subject="CN=…"); one a client sent
          # itself is replaced.
          forward_client_cert_details: SANITIZE_SET
          set_current_client_cert_details: { subject: true }
          route_config:
            virtual_hosts:
            - name: app
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: app }
          http_filters:
          # users.json: one policy per role, its users by certificate subject; anyone else gets 403.
          # Narrow each role's permissions (url_path, header) to what the role may do.
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
${policies}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: app
    type: ${isIp ? 'STATIC' : 'STRICT_DNS'}
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: ${q(up.host)}, port_value: ${up.port} }
`;
}

function kubeSecrets({ facts: f }: SnippetInput): string {
  return `# The server certificate and key, for the Ingress's tls section (the host must be one of its names).
kubectl create secret tls mtls-server --cert=${sh(f.server.cert)} --key=${sh(f.server.key)}
# The CA that client certificates must come from. ingress-nginx reads exactly the key ca.crt (and the CRL
# from ca.crl): --from-file=ca.crt=… names the key whatever the file is called.
kubectl create secret generic mtls-ca --from-file=ca.crt=${sh(f.caCert)} --from-file=ca.crl=${sh(f.crl)}
# The CRL expires (${crlDeadline(f)}); past that every client is refused. After each revoke or
# \`mtls-ca crl\`, replace it:
#   kubectl create secret generic mtls-ca --from-file=ca.crt=${sh(f.caCert)} --from-file=ca.crl=${sh(f.crl)} \\
#     --dry-run=client -o yaml | kubectl apply -f -
# users.json for the application, which maps the ssl-client-subject-dn header to roles.
kubectl create configmap mtls-users --from-file=users.json=${sh(`${f.dir}/users.json`)}
`;
}

function kubeIngress({ facts: f, upstream }: SnippetInput): string {
  const host = serverHost(f);
  const up = upstreamAddress(upstream);
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: mtls
  annotations:
    # Annotation values are strings: "on" and "true" in quotes.
    nginx.ingress.kubernetes.io/auth-tls-verify-client: "on"
    # namespace/name of the secret with ca.crt (and ca.crl).
    nginx.ingress.kubernetes.io/auth-tls-secret: "default/mtls-ca"
    nginx.ingress.kubernetes.io/auth-tls-verify-depth: "1"
    # The certificate itself, URL-encoded PEM, in the ssl-client-cert header; ssl-client-subject-dn
    # and ssl-client-verify are always passed.
    nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: "true"
spec:
  ingressClassName: nginx
  tls:
  - hosts:
    - ${q(host)}
    secretName: mtls-server
  rules:
  - host: ${q(host)}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            # Your application's Service.
            name: app
            port:
              number: ${up.port}
`;
}

export const builders: SnippetBuilders = {
  envoy: (input) => ({
    target: 'envoy',
    title: `Envoy: mutual TLS on port ${input.port}, forwarding to ${input.upstream}`,
    environment: [],
    parts: [
      {
        file: 'envoy.yaml',
        about: 'an Envoy v3 bootstrap (static resources)',
        text: envoy(input),
        run: 'envoy -c envoy.yaml',
      },
    ],
  }),
  kubernetes: (input) => ({
    target: 'kubernetes',
    title: `Kubernetes ingress-nginx: mutual TLS for ${serverHost(input.facts)}`,
    environment: [],
    parts: [
      {
        file: 'mtls-secrets.sh',
        about: 'kubectl: the secrets and the users',
        text: kubeSecrets(input),
        run: 'bash mtls-secrets.sh',
      },
      {
        file: 'mtls-ingress.yaml',
        about: 'the Ingress (ingress-nginx)',
        text: kubeIngress(input),
        run: 'kubectl apply -f mtls-ingress.yaml',
      },
    ],
  }),
};
