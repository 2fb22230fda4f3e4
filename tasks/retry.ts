// Retries with exponential backoff and full jitter, abortable.
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  attempts: number;
  baseMs?: number;
  maxMs?: number;
  signal?: AbortSignal;
  /** Whether this error is worth another attempt; by default the transient ones (isTransientError). */
  retryable?: (error: unknown) => boolean;
  /** Server-imposed delay (Retry-After), in ms, when known. */
  delayHint?: (error: unknown) => number | undefined;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, baseMs = 200, maxMs = 10_000, signal } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted || attempt >= attempts || !(options.retryable ?? isTransientError)(error)) throw error;
      const hinted = options.delayHint?.(error);
      const delay = hinted ?? Math.round(Math.random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, { signal });
    }
  }
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'InternalError',
  'ServiceUnavailable',
  'ServiceException',
]);

/** Transient network or service errors, whether from fetch, node:http or the AWS SDK. */
export function isTransientError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const e = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
    cause?: unknown;
    status?: number;
  };
  if (e.name === 'AbortError') return false;
  if (e.$retryable) return true;
  // A request refused for clock skew: the SDK has just corrected its clock offset from the
  // server's Date header, so the next attempt is signed right.
  if ((e.$metadata as { clockSkewCorrected?: boolean } | undefined)?.clockSkewCorrected) return true;
  const status = e.$metadata?.httpStatusCode ?? e.status;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  if ((e.code && RETRYABLE_CODES.has(e.code)) || (e.name && RETRYABLE_CODES.has(e.name))) return true;
  if (e.cause && e.cause !== error) return isTransientError(e.cause);
  return false;
}
