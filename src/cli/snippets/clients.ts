/**
 * Command-line and scripting clients: curl with PEM files and with the .p12, and Python's standard ssl
 * module, requests and httpx.
 */
import { clientOf, clientVariable, type SnippetBuilders, type SnippetInput, sh, str } from './model.js';

function curlPem({ facts: f, url }: SnippetInput): string {
  const c = clientOf(f);
  return `# curl with ${c.name}'s PEM files. The key is not encrypted (mode 0600): no password involved.
# --cacert trusts this CA for this call (never -k).
curl --fail-with-body --write-out '\\n' --cacert ${sh(f.caCert)} \\
     --cert ${sh(c.cert)} --key ${sh(c.key)} \\
     ${sh(url)}
`;
}

/** A value in double quotes of a curl config file. */
function curlConfigValue(s: string): string {
  return s.replace(/[\\"]/g, '\\$&');
}

function curlP12({ facts: f, url }: SnippetInput): string {
  const c = clientOf(f);
  return `# curl with ${c.name}'s .p12. "--cert file:password" on the command line shows the password in ps and
# the shell history: curl reads it from a config on stdin instead (printf is a shell builtin, no process
# of its own). The sed escapes " and \\ for the config's quotes.
printf 'cert = "%s:%s"\\n' ${sh(curlConfigValue(c.p12))} \\
  "$(printf '%s' "$MTLS_CLIENT_PASSWORD" | sed 's/[\\\\"]/\\\\&/g')" |
  curl --config - --cert-type P12 --fail-with-body --write-out '\\n' --cacert ${sh(f.caCert)} ${sh(url)}
`;
}

function pythonHead(input: SnippetInput, what: string, run: string): string {
  const c = clientOf(input.facts);
  return `# ${what} with ${c.name}'s certificate. Run it as it is: python3 ${run}
CA = ${str(input.facts.caCert)}
CERT = ${str(c.cert)}
# Not encrypted (mode 0600). Python's ssl reads PEM only: no .p12.
KEY = ${str(c.key)}
URL = ${str(input.url)}
`;
}

function pythonSsl(input: SnippetInput): string {
  return `import ssl
import urllib.request

${pythonHead(input, "Python's standard library (ssl, urllib)", 'client_ssl.py')}
# create_default_context checks the server's certificate and host name; cafile trusts this CA.
context = ssl.create_default_context(cafile=CA)
context.load_cert_chain(CERT, KEY)
request = urllib.request.Request(URL, headers={"Accept": "application/json"})
with urllib.request.urlopen(request, context=context, timeout=10) as response:
    print(response.read().decode())
`;
}

function pythonRequests(input: SnippetInput): string {
  return `import requests

${pythonHead(input, 'requests', 'client_requests.py')}
# requests takes PEM files only, as cert=(certificate, key): it cannot open a .p12. verify=CA trusts this
# CA (requests uses certifi's bundle, not the system's, unless told); never verify=False.
response = requests.get(URL, cert=(CERT, KEY), verify=CA, timeout=10,
                        headers={"Accept": "application/json"})
print(response.text)
response.raise_for_status()
`;
}

function pythonHttpx(input: SnippetInput): string {
  return `import ssl

import httpx

${pythonHead(input, 'httpx', 'client_httpx.py')}
# An SSLContext, not cert=/verify=<path>: httpx 0.28 deprecates those, and this works before it too.
context = ssl.create_default_context(cafile=CA)
context.load_cert_chain(CERT, KEY)
with httpx.Client(verify=context, timeout=10) as client:
    response = client.get(URL, headers={"Accept": "application/json"})
    print(response.text)
    response.raise_for_status()
`;
}

export const builders: SnippetBuilders = {
  curl: (input) => ({
    target: 'curl',
    title: `curl: ${clientOf(input.facts).name} calls ${input.url}`,
    environment: [clientVariable(input.facts)],
    parts: [
      {
        file: 'curl-pem.sh',
        about: 'PEM certificate and key',
        text: curlPem(input),
        run: 'bash curl-pem.sh',
      },
      {
        file: 'curl-p12.sh',
        about: 'the .p12, with MTLS_CLIENT_PASSWORD',
        text: curlP12(input),
        run: 'bash curl-p12.sh',
      },
    ],
  }),
  python: (input) => ({
    target: 'python',
    title: `Python: ${clientOf(input.facts).name} calls ${input.url}`,
    environment: [],
    parts: [
      {
        file: 'client_ssl.py',
        about: 'the standard library',
        text: pythonSsl(input),
        run: 'python3 client_ssl.py',
      },
      {
        file: 'client_requests.py',
        about: 'requests',
        text: pythonRequests(input),
        run: 'python3 client_requests.py',
      },
      { file: 'client_httpx.py', about: 'httpx', text: pythonHttpx(input), run: 'python3 client_httpx.py' },
    ],
  }),
};
