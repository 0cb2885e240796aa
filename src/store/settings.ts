/**
 * The CA's settings, `ca/settings.json`: what commands must know about the CA that none of its artifacts says.
 * Today that is one thing, the base URL where its revocation data is published (`publishUrl`): certificates
 * issued afterwards name it, and the server that publishes listens for it. It is written like every other
 * file of the CA directory, in a transaction (commit.ts), so it changes together with the audit line that
 * records the change. (How long CRLs live is not a setting: each CRL says it, see crl-lifetime.ts.)
 */
import { MtlsCaError } from '../pki/errors.js';

export interface CaSettings {
  /**
   * `http://host[:port][/path]`, no trailing slash: the CRL is served at `<publishUrl>/crl`, the OCSP
   * responder at `<publishUrl>/ocsp`, the CA certificate at `<publishUrl>/ca.crt`. Absent: not published.
   */
  publishUrl?: string;
}

/**
 * Reads settings.json. Unknown keys are kept out (a newer version's settings are not guessed at).
 * @param text - the file's content
 * @param file - names it in errors
 * @throws MtlsCaError PARSE_FAILED when it is not a JSON object with a string publishUrl (or none)
 */
export function parseSettings(text: string, file: string): CaSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const publishUrl = (parsed as { publishUrl?: unknown } | undefined)?.publishUrl;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !['string', 'undefined'].includes(typeof publishUrl)
  ) {
    throw new MtlsCaError(
      'PARSE_FAILED',
      `read ${file}: not a valid settings file`,
      'it must look like {"publishUrl": "http://ca.example.com:8080"}; restore it from a backup, or remove it to publish nothing',
    );
  }
  return publishUrl === undefined ? {} : { publishUrl: publishUrl as string };
}

export function encodeSettings(settings: CaSettings): string {
  return `${JSON.stringify(settings, null, 2)}\n`;
}
