/**
 * Spreads CPU-bound work over worker threads, one per core: jobs go out in small chunks, each worker gets its
 * next chunk when it returns one (so a slow chunk never holds the others up), and results come back to the
 * caller as they arrive, so that it can write them while the rest is still being computed. Secrets (CA key,
 * passwords) travel by workerData and postMessage — memory of this process, never argv or the environment.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { type ErrorCode, type ErrorDetail, MtlsCaError } from '../pki/errors.js';

interface ChunkMessage<J> {
  first: number;
  jobs: J[];
}

interface SerializedError {
  code?: ErrorCode;
  message: string;
  hint?: string;
  detail?: ErrorDetail;
  stack?: string;
}

type ResultMessage<R> =
  | { first: number; results: R[] }
  | { first: number; error: SerializedError }
  | { ask: number; request: unknown };

/** This thread's answer to a worker's {@link askMainThread}. */
type AnswerMessage = { answer: number; response: unknown } | { answer: number; error: SerializedError };

export interface WorkerPoolOptions<J, R> {
  /** The worker module: it calls {@link serveJobs}. */
  entry: URL;
  /** Handed to every worker as `workerData` (structured clone; KeyObjects are allowed). */
  workerData: unknown;
  /** Number of worker threads, at least 1. */
  workers: number;
  /**
   * The jobs, or a promise of them: the workers start, loading their modules, while it is still being
   * made.
   */
  jobs: J[] | Promise<J[]>;
  /** Jobs per message; small enough to balance the load, large enough that messages cost nothing. */
  chunkSize: number;
  /**
   * Answers a worker's {@link askMainThread} in this thread: what only this thread can do, such as sign with a
   * key in its PKCS#11 session. A throw goes back to the worker as its error.
   */
  answer?(request: unknown): unknown;
  /**
   * Receives each chunk's results (`results[i]` is for `jobs[first + i]`), in completion order. Awaited
   * before the next chunk's results are delivered; a throw stops the pool and is rethrown.
   */
  onResults(first: number, results: R[]): void | Promise<void>;
}

/** Chunks in flight per worker: one being computed, one queued so that it never waits for the main thread. */
const CHUNKS_AHEAD = 2;

/**
 * Runs every job on `workers` worker threads and resolves when all results were delivered, or rejects with
 * the first error (an MtlsCaError from a worker keeps its code, message, hint and detail). Workers are
 * terminated in either case. This thread only hands out chunks and takes results: the caller's writes, driven
 * by its event loop, progress only while it is free (computing chunks here too was measured slower: the
 * writes then waited for each chunk and piled up at the end).
 */
export async function runInWorkers<J, R>(o: WorkerPoolOptions<J, R>): Promise<void> {
  const threads = Array.from(
    { length: Math.max(1, o.workers) },
    // env: {} — the worker needs nothing from the environment (MTLS_CA_PASSWORD among it).
    () => new Worker(o.entry, { workerData: o.workerData, env: {} }),
  );
  const chunks: ChunkMessage<J>[] = [];
  let next = 0;
  let delivered = 0;
  let failed = false;
  let delivering = Promise.resolve();
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      const deliver = (m: { first: number; results: R[] }) => {
        delivering = delivering.then(async () => {
          if (failed) return;
          await o.onResults(m.first, m.results);
          if (++delivered === chunks.length) resolve();
        });
        delivering.catch(fail);
      };
      const send = (w: Worker) => {
        if (failed || next >= chunks.length) return;
        w.postMessage(chunks[next++]);
      };
      // Listeners first: a worker that fails to start reports it while the jobs are still being made.
      for (const w of threads) {
        w.on('message', (m: ResultMessage<R>) => {
          if ('ask' in m) return w.postMessage(answerOf(o, m.ask, m.request));
          if ('error' in m) return fail(deserializeError(m.error));
          send(w);
          deliver(m);
        });
        w.on('error', fail);
        w.on('exit', (code) => {
          if (!failed && (chunks.length === 0 || delivered < chunks.length))
            fail(new Error(`worker thread exited (code ${code}) with work outstanding`));
        });
      }
      Promise.resolve(o.jobs).then((jobs) => {
        for (let first = 0; first < jobs.length; first += o.chunkSize) {
          chunks.push({ first, jobs: jobs.slice(first, first + o.chunkSize) });
        }
        if (chunks.length === 0) return resolve();
        for (let i = 0; i < CHUNKS_AHEAD; i++) for (const w of threads) send(w);
      }, fail);
    });
  } finally {
    failed = true; // late messages of terminated workers deliver nothing
    await Promise.all(threads.map((w) => w.terminate()));
    await delivering.catch(() => {});
  }
}

function answerOf<J, R>(o: WorkerPoolOptions<J, R>, id: number, request: unknown): AnswerMessage {
  try {
    if (!o.answer) throw new Error('a worker asked, and this pool answers nothing');
    return { answer: id, response: o.answer(request) };
  } catch (e) {
    return { answer: id, error: serializeError(e) };
  }
}

/** Questions this worker asked the main thread, by id, until their answers come. */
const asked = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
let lastAsked = 0;

/**
 * The worker side: asks the main thread (its pool's {@link WorkerPoolOptions.answer}) and awaits the answer,
 * while the worker goes on with its other chunks.
 * @param request - what to ask (structured clone)
 */
export function askMainThread<T>(request: unknown): Promise<T> {
  const port = parentPort;
  if (isMainThread || !port) throw new Error('askMainThread() runs in a worker thread');
  const id = ++lastAsked;
  return new Promise<T>((resolve, reject) => {
    asked.set(id, { resolve: resolve as (v: unknown) => void, reject });
    port.postMessage({ ask: id, request } satisfies ResultMessage<never>);
  });
}

/** The worker side: answers each chunk with `handle(jobs)`; errors go back to the pool, which rethrows them. */
export function serveJobs<J, R>(handle: (jobs: J[]) => Promise<R[]>): void {
  const port = parentPort;
  if (isMainThread || !port) throw new Error('serveJobs() runs in a worker thread');
  port.on('message', async (m: ChunkMessage<J> | AnswerMessage) => {
    if ('answer' in m) {
      const waiting = asked.get(m.answer);
      asked.delete(m.answer);
      if ('error' in m) waiting?.reject(deserializeError(m.error));
      else waiting?.resolve(m.response);
      return;
    }
    try {
      const results = await handle(m.jobs);
      port.postMessage({ first: m.first, results } satisfies ResultMessage<R>);
    } catch (e) {
      port.postMessage({ first: m.first, error: serializeError(e) } satisfies ResultMessage<R>);
    }
  });
}

function serializeError(e: unknown): SerializedError {
  if (e instanceof MtlsCaError) return { code: e.code, message: e.message, hint: e.hint, detail: e.detail };
  const err = e instanceof Error ? e : new Error(String(e));
  return { message: err.message, stack: err.stack };
}

function deserializeError(s: SerializedError): Error {
  if (s.code) return new MtlsCaError(s.code, s.message, { hint: s.hint, detail: s.detail });
  const e = new Error(`worker thread: ${s.message}`);
  if (s.stack) e.stack = `${e.message}\n--- in the worker:\n${s.stack}`;
  return e;
}
