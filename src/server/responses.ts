/**
 * Error answers: JSON for programs, a small HTML page for browsers (the tutorial's "access denied" page).
 * The choice follows the Accept header, so curl (`*\/*`) gets JSON and Chromium (`text/html,…`) gets HTML.
 */
import type { Request, Response } from 'express';

/** The JSON body of every error answer. `error` is stable; `message` is for people. */
export interface ErrorBody {
  error: 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'internal_error';
  message: string;
  reason?: string;
  /** The verify code behind `reason` (`CERT_HAS_EXPIRED`, `INVALID_PURPOSE`, …), when there is one. */
  detail?: string;
  user?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Client certificate required',
  403: 'Access denied',
  404: 'Not found',
  500: 'Internal server error',
};

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** A self-contained page: no scripts, no external resources (the CSP forbids both). */
export function renderErrorPage(status: number, body: ErrorBody): string {
  const title = TITLES[status] ?? `Error ${status}`;
  const who = body.user === undefined ? '' : `<p>User: <strong>${escapeHtml(body.user)}</strong></p>\n`;
  const detail = body.detail === undefined ? '' : ` (<code>${escapeHtml(body.detail)}</code>)`;
  const reason =
    body.reason === undefined ? '' : `<p>Reason: <code>${escapeHtml(body.reason)}</code>${detail}</p>\n`;
  return (
    '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">' +
    `<title>${status} ${escapeHtml(title)}</title></head>\n<body>\n<h1>${escapeHtml(title)}</h1>\n` +
    `<p>${escapeHtml(body.message)}</p>\n${who}${reason}</body>\n</html>\n`
  );
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Sends `body` as JSON, as Express's `res.json` would for this app (no ETag, so no freshness check) but
 * without its per-call work: content-type parsing and formatting, charset lookup, the send() checks — a
 * measurable share of a keep-alive request (docs/performance.md). To undo, call
 * `res.status(status).json(body)`.
 */
export function sendJson(res: Response, body: unknown, status = 200): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', JSON_TYPE);
  // Node adds Content-Length from the body it sends; a HEAD answer sends none but tells the GET's length.
  if (res.req.method === 'HEAD') res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Sends an error as JSON, or as HTML when the client prefers text/html. */
export function sendError(req: Request, res: Response, status: number, body: ErrorBody): void {
  res.status(status);
  res.vary('Accept');
  if (req.accepts(['json', 'html']) === 'html') {
    res.setHeader('Content-Security-Policy', "default-src 'none'");
    res.type('html').send(renderErrorPage(status, body));
  } else {
    res.json(body);
  }
}
