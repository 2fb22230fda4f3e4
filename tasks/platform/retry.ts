// Retries with exponential backoff and full jitter, abortable. Every retry loop of the runner
// uses a named policy from RETRY_POLICIES, and retries exactly what classify() calls retryable.
import { setTimeout as sleep } from 'node:timers/promises';
import { classify } from './errors.ts';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Base of the exponential backoff: attempt n waits up to baseMs * 2^(n-1), jittered. */
  baseMs: number;
  /** Cap of one backoff (a server's Retry-After is honoured as given). */
  maxMs: number;
}

/**
 * The one table of retry policies. Our clients make one attempt per call (tasks/aws/clients.ts),
 * so these numbers are the only retries a request gets.
 */
export const RETRY_POLICIES = {
  /** GET/PUT of one object (sync transfers, the manifest), under the stall watchdog. */
  's3-object': { attempts: 6, baseMs: 300, maxMs: 8_000 },
  /** One ListObjectsV2 page: fewer attempts, the site waits for every folder's listing. */
  's3-listing': { attempts: 4, baseMs: 300, maxMs: 8_000 },
  /** AssumeRole; the request that needs the credentials retries on top only if STS stays unavailable. */
  sts: { attempts: 4, baseMs: 300, maxMs: 10_000 },
  /** The index step's invoke: the only loop around it, so a failing function is invoked at most 6 times. */
  'lambda-invoke': { attempts: 6, baseMs: 500, maxMs: 10_000 },
  /** Feed hosts are slow and throttle: long backoffs, Retry-After honoured. */
  'feed-fetch': { attempts: 4, baseMs: 1_000, maxMs: 30_000 },
  /** Episode audio resumes where it stopped, so one more attempt than a feed. */
  'audio-download': { attempts: 5, baseMs: 1_000, maxMs: 30_000 },
  /** Interactive checks: answer within the check's 30 s. */
  'check-access': { attempts: 3, baseMs: 300, maxMs: 10_000 },
} as const satisfies Record<string, RetryPolicy>;

export type RetryPolicyName = keyof typeof RETRY_POLICIES;

interface RetryHooks {
  signal?: AbortSignal;
  /** Called before each wait; `attempt` is the attempt that failed. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export interface RetryOptions extends RetryHooks {
  policy: RetryPolicyName;
  /** Tests (short backoffs) and explicit operator settings only; production code uses the policy as is. */
  override?: Partial<RetryPolicy>;
}

/** A policy's numbers with an override applied. */
export function retryPolicy(name: RetryPolicyName, override: Partial<RetryPolicy> = {}): RetryPolicy {
  const defined = Object.fromEntries(Object.entries(override).filter(([, value]) => value !== undefined)) as Partial<RetryPolicy>;
  return { ...RETRY_POLICIES[name], ...defined };
}


/**
 * Run `fn` until it succeeds, it throws something classify() does not call retryable, the
 * policy's attempts are spent, or `signal` aborts. An error carrying `retryAfterMs` (a
 * server's Retry-After) sets the wait instead of the backoff.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, baseMs, maxMs } = retryPolicy(options.policy, options.override);
  const { signal } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted || attempt >= attempts || classify(error) !== 'retryable') throw error;
      const hinted = (error as { retryAfterMs?: unknown }).retryAfterMs;
      const delay = typeof hinted === 'number' ? hinted : Math.round(Math.random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1)));
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, { signal });
    }
  }
}

/** Whether withRetry would try again after this error (kept for callers that only ask that). */
export function isTransientError(error: unknown): boolean {
  return classify(error) === 'retryable';
}
