/**
 * The one network client of mtls-ca: `doctor`'s probe of a server. It opens a TCP connection, runs a TLS
 * handshake over it while keeping a copy of every byte each way and the connection's key log, sends one
 * `GET` and reads the answer. It sends nothing else. What the bytes mean is read afterwards by
 * src/tls/conversation.ts; what they say about the client certificate by doctor-verdict.ts.
 *
 * Every step has a time-out (connect, handshake, answer): a server that accepts a connection and says
 * nothing, or never closes one, cannot hold the diagnosis.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

/** How long each step may take, in milliseconds. */
export interface ProbeTimeouts {
  /** Name resolution and the TCP connection. */
  connectMs: number;
  /** From the TCP connection to the end of the client's side of the TLS handshake. */
  handshakeMs: number;
  /** From the request to the end of the answer (or of the connection). */
  answerMs: number;
}

export const DEFAULT_TIMEOUTS: ProbeTimeouts = { connectMs: 5000, handshakeMs: 5000, answerMs: 5000 };

/** The most of an answer kept: the status line, headers and the start of the body are what say why. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface ProbeOptions {
  /** Where to connect: a host name or an IP address (without brackets). */
  host: string;
  port: number;
  /** The name sent as SNI (left out for an IP address, as RFC 6066 §3 asks) and in the Host header. */
  servername: string;
  /** The path of the one GET (`/`). */
  path: string;
  /** The client certificate and its chain (PEM) and key (PEM), when one is to be presented. */
  client?: { certificatePem: string; keyPem: string };
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  timeouts?: ProbeTimeouts;
}

export interface HttpAnswer {
  status: number;
  /** Header names in lower case; a repeated header's values joined with `, `. */
  headers: Record<string, string>;
  /** The body, or its first {@link MAX_ANSWER_BYTES}, as UTF-8. */
  body: string;
}

/** How the connection ended, as the client saw it. */
export type ProbeEnding =
  /** The answer was complete and the probe closed the connection. */
  | 'answered'
  /** The server closed it (a TCP FIN) before a complete answer. */
  | 'closed'
  /** The server reset it (a TCP RST). */
  | 'reset'
  /** A step's time-out passed. */
  | 'timeout'
  /** The TLS layer failed (an alert, a protocol error): see the handshake's error. */
  | 'tls-error';

export interface ProbeResult {
  connect:
    | { ok: true; address: string; ms: number }
    | { ok: false; code: string; message: string; timedOut: boolean; ms: number };
  /** Every byte each way, and the key log lines (TLS 1.3 needs them to read the server's flight). */
  clientBytes: Buffer;
  serverBytes: Buffer;
  keyLog: Buffer[];
  handshake: {
    /** The client finished its side of the handshake (Node's `secureConnect`). */
    completed: boolean;
    ms?: number;
    protocol?: string;
    cipher?: string;
    /** The error Node reported (an alert from the server: `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`, …). */
    error?: { code?: string; message: string };
  };
  /** The answer to the GET, when a status line came back. */
  answer?: HttpAnswer;
  ending: ProbeEnding;
  /** From the start to the end of the connection, in milliseconds. */
  totalMs: number;
}

/**
 * A Duplex over the TCP socket that keeps a copy of what passes each way. TLS runs on top of it, so the
 * copy is the ciphertext exactly as it crossed the wire.
 */
class RecordingStream extends Duplex {
  readonly sent: Buffer[] = [];
  readonly received: Buffer[] = [];
  /** How the TCP connection ended: a FIN, a reset. */
  endedBy?: 'fin' | 'reset';

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => {
      this.endedBy ??= 'fin';
      this.push(null);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET') this.endedBy ??= 'reset';
      this.destroy(e);
    });
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sent.push(chunk);
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}

/**
 * An HTTP/1.1 answer read so far: undefined until the head is complete; `complete` once the body is (by
 * Content-Length or the last chunk), or when the bytes run out before (`ended`).
 * @param bytes - everything received after the request
 * @param ended - whether the connection has ended (then a body without a length ends here too)
 */
export function parseHttpAnswer(
  bytes: Buffer,
  ended: boolean,
): (HttpAnswer & { complete: boolean }) | undefined {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let body = bytes.subarray(headEnd + 4);
  let complete = ended;
  const length = headers['content-length'];
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = body.indexOf('\r\n', at);
      if (lineEnd < 0) break;
      const size = Number.parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) break;
      if (size === 0) {
        complete = true;
        break;
      }
      if (body.length < lineEnd + 2 + size) break;
      chunks.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(chunks);
  } else if (length !== undefined && /^\d+$/.test(length)) {
    if (body.length >= Number(length)) {
      body = body.subarray(0, Number(length));
      complete = true;
    }
  }
  return {
    status: Number(m[1]),
    headers,
    body: body.subarray(0, MAX_ANSWER_BYTES).toString('utf8'),
    complete,
  };
}

function isIpAddress(host: string): boolean {
  return net.isIP(host) !== 0;
}

/**
 * Connects, shakes hands, sends one GET and reads the answer. Never rejects: every failure is in the
 * result, with the bytes seen up to it.
 */
export function probe(o: ProbeOptions): Promise<ProbeResult> {
  const timeouts = o.timeouts ?? DEFAULT_TIMEOUTS;
  const start = performance.now();
  const elapsed = () => Math.round(performance.now() - start);
  return new Promise((resolve) => {
    const result: ProbeResult = {
      connect: { ok: false, code: 'ECONNREFUSED', message: '', timedOut: false, ms: 0 },
      clientBytes: Buffer.alloc(0),
      serverBytes: Buffer.alloc(0),
      keyLog: [],
      handshake: { completed: false },
      ending: 'closed',
      totalMs: 0,
    };
    let timer: NodeJS.Timeout | undefined;
    let recorder: RecordingStream | undefined;
    let secure: tls.TLSSocket | undefined;
    const answerBytes: Buffer[] = [];
    let done = false;
    let timedOut = false;

    const finish = (ending?: ProbeEnding) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (recorder) {
        result.clientBytes = Buffer.concat(recorder.sent);
        result.serverBytes = Buffer.concat(recorder.received);
      }
      const answer = parseHttpAnswer(Buffer.concat(answerBytes), true);
      if (answer) {
        const { complete: _complete, ...rest } = answer;
        result.answer = rest;
      }
      result.ending =
        ending ??
        (timedOut
          ? 'timeout'
          : result.handshake.error && !answer
            ? recorder?.endedBy === 'reset' && !result.handshake.error.code?.startsWith('ERR_SSL')
              ? 'reset'
              : 'tls-error'
            : recorder?.endedBy === 'reset'
              ? 'reset'
              : 'closed');
      result.totalMs = elapsed();
      secure?.destroy();
      recorder?.destroy();
      raw.destroy();
      resolve(result);
    };
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        if (!result.connect.ok) {
          result.connect = {
            ok: false,
            code: 'ETIMEDOUT',
            message: `no connection within ${ms} ms`,
            timedOut: true,
            ms: elapsed(),
          };
        }
        finish('timeout');
      }, ms);
    };

    const raw = net.connect({ host: o.host, port: o.port });
    arm(timeouts.connectMs);
    raw.once('error', (e: NodeJS.ErrnoException) => {
      if (result.connect.ok) return; // the recording stream reports errors after the connection
      result.connect = {
        ok: false,
        code: e.code ?? 'ERROR',
        message: e.message,
        timedOut: false,
        ms: elapsed(),
      };
      finish('closed');
    });
    raw.once('connect', () => {
      result.connect = { ok: true, address: `${raw.remoteAddress}:${raw.remotePort}`, ms: elapsed() };
      arm(timeouts.handshakeMs);
      recorder = new RecordingStream(raw);
      secure = tls.connect({
        socket: recorder,
        ...(isIpAddress(o.servername) ? {} : { servername: o.servername }),
        // The server's chain is judged by the caller, from the bytes; the handshake goes on whatever it is,
        // so that what the server does with our certificate can be seen as well.
        rejectUnauthorized: false,
        ...(o.client ? { cert: o.client.certificatePem, key: o.client.keyPem } : {}),
        ...(o.minVersion ? { minVersion: o.minVersion } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
      });
      secure.on('keylog', (line: Buffer) => result.keyLog.push(line));
      secure.once('secureConnect', () => {
        result.handshake.completed = true;
        result.handshake.ms = elapsed();
        result.handshake.protocol = secure!.getProtocol() ?? undefined;
        result.handshake.cipher = secure!.getCipher()?.standardName;
        arm(timeouts.answerMs);
        const hostHeader = `${o.servername.includes(':') ? `[${o.servername}]` : o.servername}:${o.port}`;
        secure!.write(
          `GET ${o.path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: mtls-ca-doctor\r\n` +
            'Accept: application/json, */*\r\nConnection: close\r\n\r\n',
        );
      });
      secure.on('data', (chunk: Buffer) => {
        answerBytes.push(chunk);
        const bytes = Buffer.concat(answerBytes);
        if (parseHttpAnswer(bytes, false)?.complete || bytes.length > MAX_ANSWER_BYTES) finish('answered');
      });
      secure.on('error', (e: NodeJS.ErrnoException) => {
        result.handshake.error ??= { code: e.code, message: e.message };
        finish();
      });
      // A close_notify ends the TLS stream while the TCP connection may stay open (openssl s_server -www).
      secure.on('end', () =>
        finish(parseHttpAnswer(Buffer.concat(answerBytes), true) ? 'answered' : undefined),
      );
      secure.on('close', () => finish());
    });
  });
}
