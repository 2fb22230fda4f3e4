// Stall detection and the retry policy for storage requests. The SDK's socket timeout is
// long (minutes) and does not cover a server that accepts a request and then goes silent;
// the watchdog aborts an attempt that made no progress for `stallMs` and turns that into
// a StallError (retryable), so withRetry tries again. The run's own abort stays an abort.
import { withRetry } from '../../platform/retry.ts';
import type { Logger } from '../../platform/log.ts';
import { describeError } from '../../aws/errors.ts';
import { StallError } from './errors.ts';

const DEFAULT_STALL_MS = 60_000;

/** Stall timeout; INGEST_STALL_TIMEOUT_MS overrides it (the fault-injection tests use a few seconds). */
export function stallTimeoutMs(): number {
  const fromEnv = Number(process.env.INGEST_STALL_TIMEOUT_MS);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_STALL_MS;
}

export interface Watchdog {
  /** Aborts when the run aborts or when no progress was reported for the stall timeout. */
  readonly signal: AbortSignal;
  /** Report progress (bytes moved): restarts the stall timer. */
  touch(): void;
}

/**
 * Run one attempt of `fn` under a watchdog. `budgetMs` extends the first deadline for
 * requests that report no progress while they run (a PutObject of a buffer).
 */
export async function guarded<T>(
  what: string,
  parent: AbortSignal,
  fn: (watchdog: Watchdog) => Promise<T>,
  options: { budgetMs?: number } = {},
): Promise<T> {
  const stallMs = stallTimeoutMs();
  const controller = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort(new StallError(what, ms));
    }, ms);
  };
  const onParentAbort = () => controller.abort(parent.reason);
  parent.throwIfAborted();
  parent.addEventListener('abort', onParentAbort, { once: true });
  arm(stallMs + (options.budgetMs ?? 0));
  try {
    return await fn({ signal: controller.signal, touch: () => arm(stallMs) });
  } catch (error) {
    if (stalled && !parent.aborted) throw new StallError(what, stallMs);
    throw error;
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', onParentAbort);
  }
}

export interface StorageRetryOptions {
  signal: AbortSignal;
  log: Logger;
  /** What is being retried, for the log line ("download audio/x.mp3"). */
  what: string;
  /** 's3-object' unless given. */
  policy?: 's3-object' | 's3-listing';
}

/** The storage policies, with a debug line per retry; what is retried is classify()'s call (throttling, 5xx, resets, stalls, failed verifications). */
export async function withStorageRetry<T>(fn: (attempt: number) => Promise<T>, options: StorageRetryOptions): Promise<T> {
  // Never silent: a server that accepts a request and says nothing is named every 30 s
  // (the watchdog retries it after the stall timeout; these lines say what is awaited meanwhile).
  const started = Date.now();
  let attempts = 1;
  let lastError = '';
  const heartbeat = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    options.log.activity(`still waiting on ${options.what} after ${seconds} s (attempt ${attempts}${lastError ? `; last: ${lastError}` : ''})`);
  }, WAITING_LINE_MS);
  heartbeat.unref();
  try {
    return await withRetry(fn, {
      policy: options.policy ?? 's3-object',
      signal: options.signal,
      onRetry: (error, attempt, delayMs) => {
        attempts = attempt + 1;
        lastError = describeError(error);
        options.log.debug(`${options.what}: attempt ${attempt} failed (${lastError}); retrying in ${delayMs}ms`);
      },
    });
  } finally {
    clearInterval(heartbeat);
  }
}

/** How often a request still waiting is named (INGEST_WAITING_LINE_MS for the tests). */
const WAITING_LINE_MS = Number(process.env.INGEST_WAITING_LINE_MS) || 30_000;
