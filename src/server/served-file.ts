/**
 * A file the publish server hands out as it is (the CRL, the CA certificate), with the validators of a
 * conditional GET (RFC 9110 13.1) so that a server polling for a new CRL — every few seconds for nginx or
 * HAProxy scripts, every 30 s for Java — gets `304 Not Modified` instead of megabytes while it is unchanged.
 */
import crypto from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

export interface ServedFile {
  body: Buffer;
  contentType: string;
  /** A strong validator: the SHA-256 of the body, quoted. */
  etag: string;
  /** Whole seconds (HTTP dates have no more). */
  lastModified: Date;
}

/**
 * @param body - the bytes served
 * @param contentType - their media type
 * @param lastModified - when they changed; rounded down to the second
 */
export function servedFile(body: Buffer, contentType: string, lastModified: Date): ServedFile {
  const etag = `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  return {
    body,
    contentType,
    etag,
    lastModified: new Date(Math.floor(lastModified.getTime() / 1000) * 1000),
  };
}

/**
 * Whether the client's copy is current. If-None-Match decides when it is there (RFC 9110 13.2.2); else
 * If-Modified-Since, which Java's CRL fetcher sends.
 */
function isNotModified(headers: IncomingHttpHeaders, file: ServedFile): boolean {
  const match = headers['if-none-match'];
  if (match !== undefined) {
    return match
      .split(',')
      .map((t) => t.trim().replace(/^W\//, ''))
      .some((t) => t === '*' || t === file.etag);
  }
  const since = headers['if-modified-since'];
  if (since === undefined) return false;
  const at = Date.parse(since);
  return Number.isFinite(at) && file.lastModified.getTime() <= at;
}

/**
 * Answers a GET or HEAD of `file`: 304 when the client's copy is current, else 200 with the body (none for
 * HEAD). `no-cache`: a cache may keep it but must ask again each time, so a new CRL is never hidden behind a
 * stale copy; asking again is a 304 while it is unchanged.
 */
export function sendServedFile(
  headers: IncomingHttpHeaders,
  method: string,
  res: ServerResponse,
  file: ServedFile,
): void {
  res.setHeader('ETag', file.etag);
  res.setHeader('Last-Modified', file.lastModified.toUTCString());
  res.setHeader('Cache-Control', 'no-cache');
  if (isNotModified(headers, file)) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', file.contentType);
  res.setHeader('Content-Length', file.body.length);
  if (method === 'HEAD') res.end();
  else res.end(file.body);
}
