/**
 * A {@link Signer} for worker threads whose key cannot go to them: a token key lives in one PKCS#11 session of
 * the main thread, and a session cannot be shared with, or opened again from, another thread of the process.
 * The worker's `sign()` is synchronous, like a key's, so the certificate code stays the same: it posts the data
 * over a MessagePort and blocks on a SharedArrayBuffer (Atomics.wait) until the main thread, whose event loop
 * is free while the workers build, has signed and written the signature there.
 */
import type { KeyObject } from 'node:crypto';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { type ErrorCode, MtlsCaError } from '../pki/errors.js';
import type { Signer } from '../pki/keys.js';

/** state, then the length of what follows: a signature, or an error as JSON. */
const HEADER = 8;
/** Room for an RSA-4096 signature (512 bytes), and for an error's message. */
const BODY = 16 * 1024;
const PENDING = 0;
const SIGNED = 1;
const FAILED = 2;

interface SignRequest {
  data: Uint8Array;
  reply: SharedArrayBuffer;
}

/**
 * The main thread's end: answers every worker's requests with `signer` until closed.
 * @param signer - the key that signs (a token key)
 * @returns a port per worker (transfer it in the worker's workerData), and close()
 */
export function serveSigner(signer: Signer): { connect(): MessagePort; close(): void } {
  const ports: MessagePort[] = [];
  const answer = (m: SignRequest) => {
    const state = new Int32Array(m.reply, 0, 2);
    const body = new Uint8Array(m.reply, HEADER);
    let out: Buffer;
    try {
      out = signer.sign(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      state[0] = SIGNED;
    } catch (e) {
      const err = e instanceof MtlsCaError ? e : undefined;
      const message = (e as Error)?.message ?? String(e);
      out = Buffer.from(JSON.stringify({ code: err?.code, message }).slice(0, BODY), 'utf8');
      state[0] = FAILED;
    }
    body.set(out.subarray(0, BODY));
    state[1] = Math.min(out.length, BODY);
    Atomics.notify(state, 0);
  };
  return {
    connect() {
      const { port1, port2 } = new MessageChannel();
      port1.on('message', answer);
      ports.push(port1);
      return port2;
    },
    close() {
      for (const p of ports.splice(0)) p.close();
    },
  };
}

/**
 * The worker's end: a Signer that has the main thread sign.
 * @param port - the port {@link serveSigner} made for this worker
 * @param publicKey - the key's public half (from the CA certificate)
 */
export function channelSigner(port: MessagePort, publicKey: KeyObject): Signer {
  const reply = new SharedArrayBuffer(HEADER + BODY);
  const state = new Int32Array(reply, 0, 2);
  return {
    publicKey,
    sign(data: Buffer): Buffer {
      Atomics.store(state, 0, PENDING);
      port.postMessage({ data, reply } satisfies SignRequest);
      Atomics.wait(state, 0, PENDING);
      const body = Buffer.from(new Uint8Array(reply, HEADER, state[1]!));
      if (state[0] === SIGNED) return body;
      const e = JSON.parse(body.toString('utf8')) as { code?: ErrorCode; message: string };
      if (e.code) throw new MtlsCaError(e.code, e.message);
      throw new Error(`sign in the main thread: ${e.message}`);
    },
  };
}
