/**
 * Java: a standalone Tomcat (the connector, the CRL, CN -> roles through a realm) and Java clients
 * (java.net.http.HttpClient with its own SSLContext, and the javax.net.ssl.* flags of the JVM's default one).
 */
import {
  clientOf,
  clientVariable,
  crlDeadline,
  keyStoreVariable,
  type SnippetBuilders,
  type SnippetInput,
  sh,
  str,
  trustStoreVariable,
} from './model.js';

/** An XML attribute value. */
function xml(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
}

function connector({ facts: f, port }: SnippetInput): string {
  return `<!-- Mutual TLS on port ${port}, with the stores of ${xml(f.dir)}.
     certificateVerification="required": no certificate, or one this CA did not sign, fails the handshake.
     \${MTLS_…} are environment variables: Tomcat resolves them once catalina.properties names the
     EnvironmentPropertySource (the line in catalina.properties); without it they stay literal text and
     the key store "password was incorrect".
     The CRL is read at start: past its next update (${xml(crlDeadline(f))}) every client is refused, so
     restart Tomcat after each revoke or \`mtls-ca crl\`. -->
<Connector port="${port}" protocol="org.apache.coyote.http11.Http11NioProtocol" SSLEnabled="true"
           maxParameterCount="1000">
  <SSLHostConfig protocols="TLSv1.2+TLSv1.3"
                 certificateVerification="required"
                 truststoreFile="${xml(f.trustStoreJks.file)}"
                 truststoreType="JKS"
                 truststorePassword="\${MTLS_TRUSTSTORE_PASSWORD}"
                 certificateRevocationListFile="${xml(f.crl)}">
    <Certificate certificateKeystoreFile="${xml(f.server.keyStore)}"
                 certificateKeystoreType="PKCS12"
                 certificateKeystorePassword="\${MTLS_KEYSTORE_PASSWORD}"
                 certificateKeyAlias="${xml(f.server.alias)}"/>
  </SSLHostConfig>
</Connector>
`;
}

function realm(): string {
  return `<!-- CN -> roles for CLIENT-CERT applications: the user name is the certificate's subject ("CN=pavel").
     MemoryRealm reads conf/mtls-users.xml at start; for more than a demo, a DataSourceRealm or
     JNDIRealm takes the same user names. -->
<Realm className="org.apache.catalina.realm.MemoryRealm" pathname="conf/mtls-users.xml"/>
`;
}

function users({ facts: f }: SnippetInput): string {
  const rows = f.users
    .filter((u) => u.roles.length > 0)
    .map((u) => `  <user username="${xml(`CN=${u.name}`)}" roles="${xml(u.roles.join(','))}"/>`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- users.json as Tomcat users: the name is the certificate's subject; no password is used. -->
<tomcat-users>
${rows.join('\n')}
</tomcat-users>
`;
}

function webXml({ facts: f }: SnippetInput): string {
  const roles = [...new Set(f.users.flatMap((u) => u.roles))];
  return `<!-- In your application's WEB-INF/web.xml, inside <web-app>: /customer/* for role user. -->
<security-constraint>
  <web-resource-collection>
    <web-resource-name>customers</web-resource-name>
    <url-pattern>/customer/*</url-pattern>
  </web-resource-collection>
  <auth-constraint>
    <role-name>user</role-name>
  </auth-constraint>
</security-constraint>
<login-config>
  <auth-method>CLIENT-CERT</auth-method>
</login-config>
${roles.map((r) => `<security-role>\n  <role-name>${xml(r)}</role-name>\n</security-role>`).join('\n')}
`;
}

const CATALINA_PROPERTIES = `# Resolve \${NAME} in server.xml from environment variables (the key store passwords).
org.apache.tomcat.util.digester.PROPERTY_SOURCE=org.apache.tomcat.util.digester.EnvironmentPropertySource
`;

function httpClient({ facts: f, url }: SnippetInput): string {
  const c = clientOf(f);
  return `// Java 11+: java.net.http.HttpClient with its own SSLContext: ${c.name}'s .p12, and the CA certificate.
// Run it as it is: java MtlsClient.java
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

public class MtlsClient {
  public static void main(String[] args) throws Exception {
    String secret = System.getenv("MTLS_CLIENT_PASSWORD");
    if (secret == null) {
      throw new IllegalStateException("set MTLS_CLIENT_PASSWORD to the password of the .p12");
    }
    char[] password = secret.toCharArray();
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = new FileInputStream(${str(c.p12)})) {
      keys.load(in, password);
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, password);

    // Trust these CAs alone, from their certificates: a trust store made in memory needs no file or password.
    // Every certificate of the file: with an intermediate, or after \`mtls-ca ca rotate\`, it holds each CA in
    // force, and the server's certificate may come from any of them.
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (InputStream in = new FileInputStream(${str(f.caCert)})) {
      int n = 0;
      for (Certificate ca : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
        trust.setCertificateEntry("mtls-ca-" + ++n, ca);
      }
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);

    SSLContext ssl = SSLContext.getInstance("TLS");
    ssl.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    // A client given its own SSLContext ignores the javax.net.ssl.* system properties. The host name is
    // checked against the server certificate's names: call it by one of them.
    HttpClient client = HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(10)).build();
    HttpRequest request = HttpRequest.newBuilder(URI.create(${str(url)}))
        .header("Accept", "application/json")
        .build();
    HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
    System.out.println(response.body());
    if (response.statusCode() != 200) {
      System.exit(1);
    }
  }
}
`;
}

/**
 * A value inside an @argfile's double quotes (where a backslash escapes), as written in an unquoted here
 * document (where \\, $ and ` are special).
 */
function argfileValue(s: string): string {
  return s.replace(/[\\"]/g, '\\$&').replace(/[\\$`]/g, '\\$&');
}

function jvmFlags({ facts: f }: SnippetInput): string {
  const c = clientOf(f);
  return `# The JVM's default SSLContext — HttpClient without .sslContext(), HttpsURLConnection, RestTemplate,
# Spring's RestClient — reads javax.net.ssl.*. A -D…Password=… on the command line shows in ps, so
# the java launcher reads these from an @file, readable by you only.
# (A password containing " or \\ would need them escaped as \\" and \\\\ in the file.)
umask 077
cat > mtls-client.args <<EOF
"-Djavax.net.ssl.keyStore=${argfileValue(c.p12)}"
-Djavax.net.ssl.keyStoreType=PKCS12
"-Djavax.net.ssl.keyStorePassword=$MTLS_CLIENT_PASSWORD"
"-Djavax.net.ssl.trustStore=${argfileValue(f.trustStoreJks.file)}"
-Djavax.net.ssl.trustStoreType=JKS
EOF
# javax.net.ssl.trustStore replaces cacerts: this JVM then trusts no public site. To trust both, leave it
# out and add the CA to the JDK's cacerts instead (\`mtls-ca trust install --java\`).
# A JKS trust store loads without its password, which only checks the file's integrity.
`;
}

export const builders: SnippetBuilders = {
  tomcat: (input) => ({
    target: 'tomcat',
    title: `Tomcat: mutual TLS on port ${input.port}, users.json roles for CLIENT-CERT`,
    environment: [keyStoreVariable(input.facts), trustStoreVariable(input.facts)],
    parts: [
      {
        file: 'server-connector.xml',
        about: 'conf/server.xml, inside <Service>',
        text: connector(input),
      },
      {
        file: 'catalina.properties',
        about: 'conf/catalina.properties: add this line',
        text: CATALINA_PROPERTIES,
      },
      { file: 'server-realm.xml', about: 'conf/server.xml, inside <Engine>', text: realm() },
      { file: 'mtls-users.xml', about: 'conf/mtls-users.xml', text: users(input) },
      {
        file: 'web.xml',
        about: "your application's WEB-INF/web.xml, inside <web-app>",
        text: webXml(input),
      },
    ],
  }),
  java: (input) => ({
    target: 'java',
    title: `Java: ${clientOf(input.facts).name} calls ${input.url}`,
    environment: [clientVariable(input.facts)],
    parts: [
      {
        file: 'MtlsClient.java',
        about: 'java.net.http.HttpClient (Java 11+), a single-file program',
        text: httpClient(input),
        run: 'java MtlsClient.java',
      },
      {
        file: 'jvm-flags.sh',
        about: 'any Java client using the default SSLContext: writes mtls-client.args',
        text: jvmFlags(input),
        run: `bash jvm-flags.sh && java @mtls-client.args -jar ${sh('your-app.jar')}`,
      },
    ],
  }),
};
