/**
 * Spring Boot's embedded server (classic `server.ssl.*` properties, the same as YAML, SSL bundles from the
 * key stores or from PEM files, and the CRL, which no property covers) and Spring Security's X.509
 * authentication with the roles of users.json, in versions 6 and 7. The property names follow Spring Boot's
 * reference documentation; test/interop/snippet-docs.test.ts names the page for each.
 */
import {
  crlDeadline,
  keyStoreVariable,
  type SnippetBuilders,
  type SnippetInput,
  str,
  trustStoreVariable,
} from './model.js';

/** The `server.ssl.*` settings of the key stores, in order, as [key, value]. */
function classicSettings({ facts: f, port }: SnippetInput): [string, string][] {
  return [
    ['server.port', String(port)],
    ['server.ssl.key-store', `file:${f.server.keyStore}`],
    ['server.ssl.key-store-type', 'PKCS12'],
    ['server.ssl.key-store-password', `\${MTLS_KEYSTORE_PASSWORD}`],
    ['server.ssl.key-alias', f.server.alias],
    ['server.ssl.trust-store', `file:${f.trustStoreJks.file}`],
    ['server.ssl.trust-store-type', 'JKS'],
    ['server.ssl.trust-store-password', `\${MTLS_TRUSTSTORE_PASSWORD}`],
    ['server.ssl.client-auth', 'need'],
  ];
}

/** A properties-file value: backslashes doubled (a Windows path), everything else as it is. */
function propertyValue(v: string): string {
  return v.replaceAll('\\', '\\\\');
}

function properties(input: SnippetInput): string {
  return `# Mutual TLS for Spring Boot's embedded server, with the stores of ${input.facts.dir}.
# Passwords come from the environment (Spring resolves \${…} from environment variables).
# client-auth=need: no certificate, no connection. "want" lets a request without one reach the
# application, where Spring Security must then refuse it.
${classicSettings(input)
  .map(([k, v]) => `${k}=${propertyValue(v)}`)
  .join('\n')}
`;
}

/** A YAML double-quoted scalar. */
function yamlString(s: string): string {
  return JSON.stringify(s);
}

function yaml(input: SnippetInput): string {
  const s = Object.fromEntries(classicSettings(input));
  return `# The same settings as application.properties, in YAML.
server:
  port: ${s['server.port']}
  ssl:
    key-store: ${yamlString(s['server.ssl.key-store']!)}
    key-store-type: "PKCS12"
    key-store-password: "\${MTLS_KEYSTORE_PASSWORD}"
    key-alias: ${yamlString(s['server.ssl.key-alias']!)}
    trust-store: ${yamlString(s['server.ssl.trust-store']!)}
    trust-store-type: "JKS"
    trust-store-password: "\${MTLS_TRUSTSTORE_PASSWORD}"
    client-auth: "need"
`;
}

function bundles({ facts: f, port }: SnippetInput): string {
  return `# Spring Boot 3.1+: SSL bundles. Pick one bundle below (both are named mtls), keep the server.* lines.
server.port=${port}
server.ssl.bundle=mtls
server.ssl.client-auth=need

# From the key stores. A bundle location is a resource: without "file:" it is looked up on the class path.
spring.ssl.bundle.jks.mtls.key.alias=${propertyValue(f.server.alias)}
spring.ssl.bundle.jks.mtls.keystore.location=file:${propertyValue(f.server.keyStore)}
spring.ssl.bundle.jks.mtls.keystore.type=PKCS12
spring.ssl.bundle.jks.mtls.keystore.password=\${MTLS_KEYSTORE_PASSWORD}
spring.ssl.bundle.jks.mtls.truststore.location=file:${propertyValue(f.trustStoreJks.file)}
spring.ssl.bundle.jks.mtls.truststore.type=JKS
spring.ssl.bundle.jks.mtls.truststore.password=\${MTLS_TRUSTSTORE_PASSWORD}
# Spring Boot 3.2+: a changed file (after \`mtls-ca renew ${f.server.name}\`) applies without a restart.
spring.ssl.bundle.jks.mtls.reload-on-update=true

# Or from the PEM files, which need no password:
#spring.ssl.bundle.pem.mtls.keystore.certificate=file:${propertyValue(f.server.cert)}
#spring.ssl.bundle.pem.mtls.keystore.private-key=file:${propertyValue(f.server.key)}
#spring.ssl.bundle.pem.mtls.truststore.certificate=file:${propertyValue(f.caCert)}
#spring.ssl.bundle.pem.mtls.reload-on-update=true
`;
}

function crlCustomizer({ facts: f }: SnippetInput): string {
  return `package com.example.mtls;

import org.apache.tomcat.util.net.SSLHostConfig;
import org.springframework.boot.web.embedded.tomcat.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.stereotype.Component;

/**
 * No server.ssl property names a CRL: without this, a revoked certificate keeps working. Tomcat reads the
 * file when it starts; past the CRL's next update (${crlDeadline(f)}) it refuses every client, so
 * restart after each revoke or \`mtls-ca crl\` (or run \`mtls-ca crl\` daily and restart then).
 * (Spring Boot 3 packages; Boot 4 moved the Tomcat classes to org.springframework.boot.tomcat.)
 */
@Component
public class MtlsCrl implements WebServerFactoryCustomizer<TomcatServletWebServerFactory> {
  @Override
  public void customize(TomcatServletWebServerFactory factory) {
    factory.addConnectorCustomizers(connector -> {
      for (SSLHostConfig ssl : connector.findSslHostConfigs()) {
        ssl.setCertificateRevocationListFile(${str(f.crl)});
      }
    });
  }
}
`;
}

/** `Map.entry("pavel", List.of("user"))` lines for users.json. */
function rolesMap(input: SnippetInput): string {
  const users = input.facts.users.filter((u) => u.roles.length > 0);
  return users
    .map((u) => `      Map.entry(${str(u.name)}, List.of(${u.roles.map(str).join(', ')}))`)
    .join(',\n');
}

function securityConfig(input: SnippetInput, version: 6 | 7): string {
  const imports = [
    'java.util.List',
    'java.util.Map',
    'org.springframework.context.annotation.Bean',
    'org.springframework.context.annotation.Configuration',
    'org.springframework.security.config.annotation.web.builders.HttpSecurity',
    'org.springframework.security.config.http.SessionCreationPolicy',
    'org.springframework.security.core.userdetails.User',
    'org.springframework.security.core.userdetails.UserDetailsService',
    'org.springframework.security.core.userdetails.UsernameNotFoundException',
    'org.springframework.security.web.SecurityFilterChain',
    ...(version === 7
      ? ['org.springframework.security.web.authentication.preauth.x509.SubjectX500PrincipalExtractor']
      : []),
  ];
  const x509 =
    version === 6
      ? `      // The user is the certificate's CN. Spring Security 6 finds it with a regular expression over
      // getSubjectDN().getName(); this one stops at the first comma, so a CN may not contain one.
      .x509(x509 -> x509.subjectPrincipalRegex("CN=(.*?)(?:,|$)"))`
      : `      // The user is the certificate's CN. Spring Security 7 reads it from the parsed subject
      // (SubjectX500PrincipalExtractor, the default in 7); subjectPrincipalRegex is deprecated.
      .x509(x509 -> x509.x509PrincipalExtractor(new SubjectX500PrincipalExtractor()))`;
  return `package com.example.mtls;

${imports.map((i) => `import ${i};`).join('\n')}

/** Spring Security ${version}: X.509 client certificates, the roles of users.json. */
@Configuration
public class SecurityConfig {
  /** users.json: user (the certificate's CN) -> roles. */
  private static final Map<String, List<String>> ROLES = Map.ofEntries(
${rolesMap(input)});

  @Bean
  SecurityFilterChain mtls(HttpSecurity http) throws Exception {
    http
      // hasRole("user") checks the authority ROLE_user, which User.roles("user") grants.
      .authorizeHttpRequests(auth -> auth
        .requestMatchers("/customer/**").hasRole("user")
        .anyRequest().authenticated())
${x509}
      // Every request brings its certificate: no session to keep. CSRF protection stays on: a browser
      // presents the certificate on its own, for any page that sends it here.
      .sessionManagement(session -> session.sessionCreationPolicy(SessionCreationPolicy.STATELESS));
    return http.build();
  }

  /** An unknown CN is refused (403): the certificate proves who it is, not that they may come in. */
  @Bean
  UserDetailsService users() {
    return name -> {
      List<String> roles = ROLES.get(name);
      if (roles == null) {
        throw new UsernameNotFoundException(name);
      }
      // X.509 authentication checks no password; this user has none to log in with otherwise.
      return User.withUsername(name).password("").roles(roles.toArray(String[]::new)).build();
    };
  }
}
`;
}

export const builders: SnippetBuilders = {
  'spring-boot': (input) => ({
    target: 'spring-boot',
    title: `Spring Boot: mutual TLS on port ${input.port}`,
    environment: [keyStoreVariable(input.facts), trustStoreVariable(input.facts)],
    parts: [
      {
        file: 'application.properties',
        about: 'src/main/resources/application.properties, or beside the jar',
        text: properties(input),
      },
      {
        file: 'application.yaml',
        about: 'the same, for application.yaml',
        text: yaml(input),
      },
      {
        file: 'application-bundle.properties',
        about: 'instead of the server.ssl.key-store lines: SSL bundles (Spring Boot 3.1+)',
        text: bundles(input),
      },
      {
        file: 'MtlsCrl.java',
        about: 'the CRL for the embedded Tomcat (no property covers it)',
        text: crlCustomizer(input),
      },
    ],
  }),
  'spring-security': (input) => ({
    target: 'spring-security',
    title: 'Spring Security: the certificate CN as the user, with the roles of users.json',
    environment: [],
    parts: [
      {
        file: 'SecurityConfig.java',
        about: 'Spring Security 6 (Spring Boot 3)',
        text: securityConfig(input, 6),
      },
      {
        file: 'SecurityConfig7.java',
        about: 'Spring Security 7 (Spring Boot 4): the same, with SubjectX500PrincipalExtractor',
        text: securityConfig(input, 7).replace('public class SecurityConfig', 'public class SecurityConfig7'),
      },
    ],
  }),
};
