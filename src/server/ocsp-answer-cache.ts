/**
 * Signed OCSP answers kept for requests that ask the same thing again — RFC 5019's precomputed responses,
 * computed on first demand. nginx and Java send the same bytes for the same certificate each time (no nonce),
 * so a repeated request costs a lookup by its bytes instead of a parse and a signature.
 *
 * The rule that keeps it correct: every answer is stored with the state it was signed from (the responder's
 * {@link OcspAnswerCache.get | state version}: its certificate, key and CA files and the statuses loaded), and
 * is handed out only while that is still the state in force and for at most {@link OCSP_ANSWER_CACHE_MS}. A
 * revocation loaded by the responder is a new state, so no answer signed before it is handed out after it. The
 * responder stores only answers that may be repeated: no nonce (a nonce asks for a signature of its own), one
 * certificate, status successful. See docs/performance.md ("OCSP answers signed once per certificate while
 * nothing changes") for its gain, the tests that guard it and how to undo it.
 */

/** How long a signed answer without a nonce is handed out again before it is signed anew. */
export const OCSP_ANSWER_CACHE_MS = 60_000;

/** Requests up to this size are kept as they are: one CertID, even in SHA-512, is about 200 bytes. */
const MAX_REQUEST_BYTES = 256;

/** Answers kept at most; past that the cache starts over (it must not grow with every serial asked about). */
const MAX_ENTRIES = 10_000;

interface Entry {
  body: Buffer;
  signedAt: number;
}

export class OcspAnswerCache {
  /** The state the entries were signed from; entries of any other state are gone. */
  #state: unknown;
  #entries = new Map<string, Entry>();

  /** The key of a request that may be kept (small enough), else undefined. */
  static keyOf(request: Buffer): string | undefined {
    return request.length <= MAX_REQUEST_BYTES ? request.toString('latin1') : undefined;
  }

  /**
   * The answer signed for exactly these request bytes, if it was signed from `state` less than
   * {@link OCSP_ANSWER_CACHE_MS} before `now`.
   * @param key - {@link OcspAnswerCache.keyOf} of the request
   * @param state - the responder's state version now (compared by identity)
   * @param now - ms since the epoch
   */
  get(key: string, state: unknown, now: number): Buffer | undefined {
    if (state !== this.#state) return undefined;
    const hit = this.#entries.get(key);
    return hit && now - hit.signedAt < OCSP_ANSWER_CACHE_MS ? hit.body : undefined;
  }

  /**
   * Keeps an answer the responder signed from `state` at `now`. Entries of an earlier state are dropped first.
   * @param key - {@link OcspAnswerCache.keyOf} of the request; the caller stores only repeatable answers
   * @param state - the responder's state version the answer was signed from
   * @param now - when it was signed, ms since the epoch
   * @param body - the DER of the OCSP response
   */
  set(key: string, state: unknown, now: number, body: Buffer): void {
    if (state !== this.#state || this.#entries.size >= MAX_ENTRIES) {
      this.#entries.clear();
      this.#state = state;
    }
    this.#entries.set(key, { body, signedAt: now });
  }

  /** How many answers are kept (for tests). */
  get size(): number {
    return this.#entries.size;
  }
}
