/**
 * Reverse proxies that end mutual TLS in front of an application: nginx and HAProxy. Both verify the client
 * against the CA and the CRL, refuse users that users.json does not know, and pass the identity on in
 * headers they set themselves.
 */
import { crlDeadline, type SnippetBuilders, type SnippetInput, serverHost, sh } from './model.js';

/** A value of an RFC 2253 distinguished name (nginx's `$ssl_client_s_dn`), its special characters escaped. */
function rfc2253Value(s: string): string {
  return s.replace(/[,+"\\<>;=]/g, '\\$&').replace(/^[#\s]|\s$/g, '\\$&');
}

/** An nginx double-quoted string. */
function nginxString(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

function nginx({ facts: f, port, upstream }: SnippetInput): string {
  const users = f.users.filter((u) => u.roles.length > 0);
  return `# Mutual TLS in front of ${upstream}: only clients of the CA "${f.caName}" get through,
# and only the users of ${f.dir}/users.json.

# users.json: certificate subject -> roles. A subject not listed gets 403.
map $ssl_client_s_dn $mtls_roles {
    default "";
${users.map((u) => `    ${nginxString(`CN=${rfc2253Value(u.name)}`)} ${nginxString(u.roles.join(','))};`).join('\n')}
}

server {
    listen ${port} ssl;
    server_name ${serverHost(f)};

    ssl_certificate     ${f.server.cert};
    ssl_certificate_key ${f.server.key};
    ssl_protocols       TLSv1.2 TLSv1.3;

    # ssl_client_certificate, not ssl_trusted_certificate: only this one also tells clients which CA to
    # pick a certificate from (browsers show only matching ones).
    ssl_client_certificate ${f.caCert};
    # on: a missing or untrusted certificate gets "400 No required SSL certificate was sent" or
    # "400 The SSL certificate error" (an HTTP answer, not a failed handshake).
    ssl_verify_client on;
    # Read at start and on reload only. Past its next update (${crlDeadline(f)}) every client gets
    # 400: after each revoke or \`mtls-ca crl\`, run \`nginx -s reload\`.
    ssl_crl ${f.crl};

    location / {
        if ($mtls_roles = "") {
            return 403;
        }
        proxy_pass ${upstream};
        # Set, never passed through: a client's own X-Client-* headers are replaced.
        proxy_set_header X-Client-Verify $ssl_client_verify;
        proxy_set_header X-Client-DN     $ssl_client_s_dn;
        proxy_set_header X-Client-Serial $ssl_client_serial;
        proxy_set_header X-Client-Roles  $mtls_roles;
    }
}
`;
}

function haproxy({ facts: f, port, upstream }: SnippetInput): string {
  const users = f.users.filter((u) => u.roles.length > 0);
  const backend = new URL(upstream);
  return `# Mutual TLS in front of ${upstream}: only clients of the CA "${f.caName}" get through,
# and only the users of ${f.dir}/users.json. A whole haproxy.cfg; merge the sections into yours.
global
    # The key is in server.key beside server.crt: look for "<name>.key", not "<name>.crt.key".
    ssl-load-extra-del-ext
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode http
    timeout connect 5s
    timeout client  30s
    timeout server  30s

frontend mtls
    # verify required: no certificate, or one this CA did not sign, fails the handshake with an alert.
    # crl-file is read at start and on reload only. Past its next update (${crlDeadline(f)})
    # every client is refused: reload HAProxy after each revoke or \`mtls-ca crl\`.
    bind :${port} ssl crt ${f.server.cert} ca-file ${f.caCert} verify required crl-file ${f.crl}
    # users.json: certificate CN -> roles (for many users, a map file and map_str do the same).
${users.map((u) => `    http-request set-var-fmt(txn.roles) ${sh(u.roles.join(',').replaceAll('%', '%%'))} if { ssl_c_s_dn(CN) -m str ${sh(u.name)} }`).join('\n')}
    http-request deny deny_status 403 unless { var(txn.roles) -m found }
    # Set, never passed through: a client's own X-Client-* headers are replaced.
    http-request set-header X-Client-CN %[ssl_c_s_dn(CN)]
    http-request set-header X-Client-Serial %[ssl_c_serial,hex]
    http-request set-header X-Client-Roles %[var(txn.roles)]
    default_backend app

backend app
    server app ${backend.hostname}:${backend.port || (backend.protocol === 'https:' ? 443 : 80)}${backend.protocol === 'https:' ? ' ssl verify required ca-file @system-ca' : ''}
`;
}

export const builders: SnippetBuilders = {
  nginx: (input) => ({
    target: 'nginx',
    title: `nginx: mutual TLS on port ${input.port}, forwarding to ${input.upstream}`,
    environment: [],
    parts: [
      {
        file: 'mtls.conf',
        about: 'nginx, the http {} context: e.g. /etc/nginx/conf.d/mtls.conf',
        text: nginx(input),
        run: 'nginx -t && nginx -s reload',
      },
    ],
  }),
  haproxy: (input) => ({
    target: 'haproxy',
    title: `HAProxy: mutual TLS on port ${input.port}, forwarding to ${input.upstream}`,
    environment: [],
    parts: [
      {
        file: 'haproxy.cfg',
        about: 'HAProxy 2.5 or later: a whole configuration',
        text: haproxy(input),
        run: 'haproxy -c -f haproxy.cfg && haproxy -f haproxy.cfg',
      },
    ],
  }),
};
