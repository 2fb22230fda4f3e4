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
export function withStorageRetry<T>(fn: (attempt: number) => Promise<T>, options: StorageRetryOptions): Promise<T> {
  return withRetry(fn, {
    policy: options.policy ?? 's3-object',
    signal: options.signal,
    onRetry: (error, attempt, delayMs) => {
      options.log.debug(`${options.what}: attempt ${attempt} failed (${describeError(error)}); retrying in ${delayMs}ms`);
    },
  });
}
