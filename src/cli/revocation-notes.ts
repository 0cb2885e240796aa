/**
 * What `init`, `revoke` and `publish-url` tell the user about who enforces a revocation: `mtls-ca serve`
 * reads ca/crl.pem by itself; the servers people run (Tomcat/Spring Boot, nginx, HAProxy, Go) check nothing
 * unless they are given the CRL file, or the certificates name a CRL and an OCSP responder that they fetch
 * from `mtls-ca publish`. The recipes are in the README, "Revocation in other servers".
 */

/** The README section with a recipe per server. */
export const RECIPES = 'README, "Revocation in other servers"';

/** After init: who sees a revocation, for a CA that publishes at `publishUrl` or not at all. */
export function enforcementLines(publishUrl: string | undefined): string[] {
  if (publishUrl === undefined) {
    return [
      'Revocation: `mtls-ca serve` enforces ca/crl.pem by itself. Tomcat/Spring Boot, nginx, HAProxy',
      'and Go servers do not, until they are given the CRL file (and reloaded) or a CRL and OCSP',
      'responder to fetch: `mtls-ca publish-url http://<host>:8080`, then `mtls-ca publish`.',
      `Recipes: ${RECIPES}.`,
    ];
  }
  return [
    `Revocation: certificates name the CRL and OCSP responder at ${publishUrl};`,
    'run `mtls-ca publish` there. Java (checkRevocation with enableCRLDP or ocsp.enable) and nginx',
    "(ssl_ocsp on) check them; `mtls-ca serve` reads ca/crl.pem by itself; Tomcat's CRL file and",
    `HAProxy's crl-file need a reload after each CRL. Recipes: ${RECIPES}.`,
  ];
}
