/**
 * `serve --workers N`: N processes sharing one port through `node:cluster`. The primary only supervises:
 * it restarts a worker that dies (with exponential backoff, so a worker that crashes on start does not
 * fork-bomb the machine), turns SIGTERM/SIGINT into a graceful shutdown of every worker, and turns SIGHUP
 * into a reload in every worker (new certificate without dropping connections). It is also the one process
 * that renews the CRL (`serve --crl-auto-renew`): a worker whose CRL is due asks it, so that the processes
 * facing the network need no CA key, and N workers due at the same moment make one renewal.
 *
 * The first worker starts alone, the others once it serves: a start that cannot succeed (a busy port, a
 * broken certificate) then fails once, in one worker, and the primary reports it as the command's error —
 * instead of N workers failing at once while the primary is already shutting the others down (a worker's
 * report then met a closed channel and died with a stack trace).
 */
import cluster, { type Worker } from 'node:cluster';
import { type ErrorCode, type ErrorDetail, MtlsCaError } from '../pki/errors.js';
import { createLogger, type ServerLogger } from './log.js';

/** What a worker hands back once it is serving. */
export interface WorkerControl {
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** What a worker may ask of the primary. */
export interface PrimaryServices {
  /**
   * Runs {@link ClusterOptions.renewCrl} in the primary; resolves once it has run (or at once when the
   * primary is gone). The worker's CRL watch picks up whatever it wrote.
   */
  renewCrl(): Promise<void>;
}

export interface ClusterOptions {
  /** Receives the primary's and workers' supervision events; default text lines on stdout. */
  logger?: ServerLogger;
  /** First restart delay after a crash; doubles with each crash in a row. Default 1000 ms. */
  restartDelayMs?: number;
  /** Upper bound of the restart delay. Default 30 000 ms. */
  maxRestartDelayMs?: number;
  /** A worker that ran this long resets its crash count. Default 30 000 ms. */
  stableAfterMs?: number;
  /** How long the primary waits for workers to exit on shutdown before killing them. Default 15 000 ms. */
  shutdownTimeoutMs?: number;
  /**
   * Publishes a fresh CRL; runs in the primary when a worker asks ({@link PrimaryServices.renewCrl}). A
   * request that arrives while it runs waits for that run. It must not reject (it logs its own outcome).
   * Default: none, requests are answered at once.
   */
  renewCrl?: () => Promise<void>;
  /** Environment variables of each worker on top of the primary's; an undefined value removes one. */
  workerEnv?: Record<string, string | undefined>;
}

type ToWorker = { mtlsCa: 'reload' } | { mtlsCa: 'shutdown' } | { mtlsCa: 'crl-renewed'; id: number };

type FromWorker =
  | { mtlsCa: 'ready' }
  | { mtlsCa: 'failed'; code?: string; message: string; hint?: string; detail?: ErrorDetail }
  | { mtlsCa: 'renew-crl'; id: number };

/**
 * Sends over the IPC channel if it is still open. A process at the other end that is going away is
 * normal here (a worker exiting, a primary shutting down): the callback keeps that from becoming an
 * 'error' event, which nothing would handle.
 */
function sendIfConnected(target: { connected: boolean; send?: NodeJS.Process['send'] }, message: unknown) {
  if (target.connected) target.send?.(message, undefined, undefined, () => {});
}

function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { mtlsCa?: unknown }).mtlsCa === 'string';
}

/**
 * Runs `startWorker` in `n` worker processes. Call it from the program's entry point: in the primary it
 * supervises, in a worker it starts serving.
 * @param n - number of workers, at least 1
 * @param startWorker - starts the server in a worker (listen included) and returns its controls
 * @returns in the primary, a promise that settles after shutdown (rejects if the first start of any worker
 *   failed, with that worker's error); in a worker, a promise that resolves once the worker has closed
 */
export function runClustered(
  n: number,
  startWorker: (primary: PrimaryServices) => Promise<WorkerControl>,
  options: ClusterOptions = {},
): Promise<void> {
  if (!Number.isInteger(n) || n < 1) {
    throw new MtlsCaError('INVALID_ARGUMENT', `use ${n} workers: expected a whole number of at least 1`);
  }
  const logger = options.logger ?? createLogger();
  return cluster.isPrimary ? runPrimary(n, logger, options) : runWorker(startWorker, logger);
}

function runPrimary(n: number, logger: ServerLogger, options: ClusterOptions): Promise<void> {
  const baseDelay = options.restartDelayMs ?? 1_000;
  const maxDelay = options.maxRestartDelayMs ?? 30_000;
  const stableAfter = options.stableAfterMs ?? 30_000;
  const shutdownTimeout = options.shutdownTimeoutMs ?? 15_000;

  interface Slot {
    worker?: Worker;
    startedAt: number;
    crashes: number;
    everReady: boolean;
    timer?: NodeJS.Timeout;
  }
  const slots: Slot[] = Array.from({ length: n }, () => ({ startedAt: 0, crashes: 0, everReady: false }));
  let shuttingDown = false;
  let startError: MtlsCaError | undefined;
  let renewing: Promise<void> | undefined;
  const renewCrl = () => {
    renewing ??= (options.renewCrl?.() ?? Promise.resolve())
      .catch(() => {
        // renewCrl logs its own failures; the workers ask again later.
      })
      .finally(() => {
        renewing = undefined;
      });
    return renewing;
  };

  return new Promise<void>((resolve, reject) => {
    const finishIfDone = () => {
      if (!shuttingDown || slots.some((s) => s.worker)) return;
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
      logger.event('info', 'cluster-stopped', 'all workers stopped');
      if (startError) reject(startError);
      else resolve();
    };

    const shutdown = (why: string) => {
      if (shuttingDown) return;
      shuttingDown = true;
      const running = slots.filter((s) => s.worker).length;
      logger.event('info', 'cluster-stopping', `stopping ${running} worker(s): ${why}`);
      for (const slot of slots) {
        clearTimeout(slot.timer);
        if (slot.worker) sendIfConnected(slot.worker.process, { mtlsCa: 'shutdown' } satisfies ToWorker);
      }
      const kill = setTimeout(() => {
        for (const slot of slots) slot.worker?.process.kill('SIGKILL');
      }, shutdownTimeout);
      kill.unref();
      finishIfDone();
    };

    const fork = (slot: Slot) => {
      const worker = cluster.fork(options.workerEnv);
      slot.worker = worker;
      slot.startedAt = Date.now();
      // Node's own messages to a worker that just died fail with EPIPE; its 'exit' is what counts.
      worker.on('error', () => {});
      worker.on('message', (m: unknown) => {
        if (!isFromWorker(m)) return;
        if (m.mtlsCa === 'ready') {
          const first = !slot.everReady;
          slot.everReady = true;
          logger.event('info', 'worker-started', `worker ${worker.process.pid} is serving`, {
            pid: worker.process.pid,
          });
          if (first && slot === slots[0] && !shuttingDown) {
            for (const other of slots.slice(1)) if (!other.worker) fork(other);
          }
        } else if (m.mtlsCa === 'renew-crl') {
          const { id } = m;
          void renewCrl().then(() => {
            sendIfConnected(worker.process, { mtlsCa: 'crl-renewed', id } satisfies ToWorker);
          });
        } else if (m.mtlsCa === 'failed' && !slot.everReady && !startError) {
          // The first start failed: a bad certificate or a busy port will not heal by restarting.
          startError = new MtlsCaError((m.code as ErrorCode) ?? 'IO_FAILED', m.message, {
            hint: m.hint,
            detail: m.detail,
          });
          shutdown('a worker failed to start');
        }
      });
      worker.on('exit', (code, signal) => {
        slot.worker = undefined;
        if (shuttingDown) {
          finishIfDone();
          return;
        }
        if (Date.now() - slot.startedAt >= stableAfter) slot.crashes = 0;
        slot.crashes++;
        const delay = Math.min(maxDelay, baseDelay * 2 ** (slot.crashes - 1));
        logger.event(
          'warn',
          'worker-exited',
          `worker ${worker.process.pid} exited; restarting in ${delay} ms`,
          {
            pid: worker.process.pid,
            code: code ?? undefined,
            signal: signal ?? undefined,
          },
        );
        slot.timer = setTimeout(() => fork(slot), delay);
      });
    };

    const onStop = (signal: NodeJS.Signals) => shutdown(signal);
    const onHup = () => {
      logger.event('info', 'cluster-reloading', 'SIGHUP: reloading every worker');
      for (const slot of slots) {
        if (slot.worker) sendIfConnected(slot.worker.process, { mtlsCa: 'reload' } satisfies ToWorker);
      }
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHup);
    fork(slots[0]!);
  });
}

function runWorker(
  startWorker: (primary: PrimaryServices) => Promise<WorkerControl>,
  logger: ServerLogger,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let control: WorkerControl | undefined;
    let stopping = false;
    /** Renewal requests the primary has not answered yet, by id. */
    const asked = new Map<number, () => void>();
    let lastId = 0;
    const answerAll = () => {
      for (const done of asked.values()) done();
      asked.clear();
    };
    const primary: PrimaryServices = {
      renewCrl: () =>
        new Promise<void>((done) => {
          if (stopping || !process.connected) return done();
          const id = ++lastId;
          asked.set(id, done);
          sendIfConnected(process, { mtlsCa: 'renew-crl', id } satisfies FromWorker);
        }),
    };

    const stop = async () => {
      if (stopping) return;
      stopping = true;
      try {
        await control?.close();
      } finally {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        process.off('SIGHUP', reload);
        process.off('message', onMessage);
        answerAll();
        // Leaves the cluster so the primary's IPC channel does not keep this process alive.
        if (cluster.worker?.isConnected()) cluster.worker.disconnect();
        resolve();
      }
    };
    const reload = () => {
      control?.reload().catch(() => {
        // The server logged why; it keeps serving with the old certificate.
      });
    };
    const onMessage = (m: ToWorker) => {
      if (m?.mtlsCa === 'reload') reload();
      else if (m?.mtlsCa === 'shutdown') void stop();
      else if (m?.mtlsCa === 'crl-renewed') {
        asked.get(m.id)?.();
        asked.delete(m.id);
      }
    };
    // A terminal's Ctrl-C and a hang-up reach the whole process group, workers included: handle them here
    // too, or the default action would kill the worker mid-request.
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', reload);
    process.on('message', onMessage);
    // The primary went away: nobody will restart us or tell us to stop, so stop now.
    cluster.worker?.once('disconnect', () => void stop());
    // Node's own messages to a primary that went away fail with EPIPE; 'disconnect' has handled that.
    cluster.worker?.on('error', () => {});

    startWorker(primary).then(
      (c) => {
        control = c;
        if (stopping) void c.close();
        else sendIfConnected(process, { mtlsCa: 'ready' } satisfies FromWorker);
      },
      (e: unknown) => {
        const err = e instanceof MtlsCaError ? e : undefined;
        logger.event('error', 'worker-failed', (e as Error)?.message ?? String(e), { pid: process.pid });
        sendIfConnected(process, {
          mtlsCa: 'failed',
          code: err?.code,
          message: (e as Error)?.message ?? String(e),
          hint: err?.hint,
          detail: err?.detail,
        } satisfies FromWorker);
        // The worker's own exit code says nothing: the primary reports the failure and decides the command's.
        void stop();
      },
    );
  });
}
