// Errors every layer shares: one classification of failures (what a retry loop and a step
// do with them), the base class our own errors declare their class with, a usage error
// (exit 2), the exhaustiveness check of closed unions, and the message of anything thrown.

/**
 * - fatal: the run or the site cannot go on (an abort, a bug, a usage error);
 * - retryable: transient, another attempt may succeed (throttling, 5xx, resets, stalls);
 * - permanent: this item failed and retrying will not help (404, access denied, corrupt audio).
 */
export type ErrorClass = 'fatal' | 'retryable' | 'permanent';

const ERROR_CLASSES: readonly ErrorClass[] = ['fatal', 'retryable', 'permanent'];

export interface RunnerErrorOptions {
  errorClass: ErrorClass;
  /** Shown in summaries as the error's code (errorCode in tasks/aws/errors.ts reads it). */
  code?: string;
  cause?: unknown;
}

/** Our own errors: each says what it means for a retry loop, instead of imitating a network code. */
export class RunnerError extends Error {
  override name = 'RunnerError';
  readonly errorClass: ErrorClass;
  readonly code: string | undefined;
  constructor(message: string, options: RunnerErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.errorClass = options.errorClass;
    this.code = options.code;
  }
}

/** A bad flag, or a --sites id that names no site: exit 2 with the message. */
export class UsageError extends RunnerError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, { errorClass: 'fatal' });
  }
}

/** Throw in `default:` branches of switches over closed unions. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

/** Message of anything thrown, without stack noise. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * AWS and network codes whose class is known, whatever the HTTP status says: node's socket
 * codes, the SDK's timeout names, S3/STS/Lambda throttling and server codes. A code not
 * listed is classified by its HTTP status (classifyStatus).
 */
export const CODE_CLASSES: Readonly<Record<string, ErrorClass>> = {
  // The network under every request.
  ECONNRESET: 'retryable',
  ECONNREFUSED: 'retryable',
  ECONNABORTED: 'retryable',
  EHOSTUNREACH: 'retryable',
  ENETUNREACH: 'retryable',
  EPIPE: 'retryable',
  ETIMEDOUT: 'retryable',
  EAI_AGAIN: 'retryable',
  ENOTFOUND: 'retryable',
  UND_ERR_SOCKET: 'retryable',
  UND_ERR_CONNECT_TIMEOUT: 'retryable',
  UND_ERR_HEADERS_TIMEOUT: 'retryable',
  UND_ERR_BODY_TIMEOUT: 'retryable',
  TimeoutError: 'retryable',
  // AWS services; S3's RequestTimeout comes with a 400.
  RequestTimeout: 'retryable',
  RequestTimeoutException: 'retryable',
  SlowDown: 'retryable',
  Throttling: 'retryable',
  ThrottlingException: 'retryable',
  TooManyRequestsException: 'retryable',
  InternalError: 'retryable',
  ServiceUnavailable: 'retryable',
  ServiceException: 'retryable',
  // A CompleteMultipartUpload whose answer was lost and was retried finds its upload gone
  // (404): start the upload over. BadDigest (400): the body was damaged on the way.
  NoSuchUpload: 'retryable',
  BadDigest: 'retryable',
  // Refusals and absences: the same request gets the same answer.
  AccessDenied: 'permanent',
  AccessDeniedException: 'permanent',
  Forbidden: 'permanent',
  InvalidAccessKeyId: 'permanent',
  SignatureDoesNotMatch: 'permanent',
  RequestTimeTooSkewed: 'permanent',
  NoSuchBucket: 'permanent',
  NoSuchKey: 'permanent',
  ResourceNotFoundException: 'permanent',
  CredentialsProviderError: 'permanent',
  // node's AbortError code: the run (or the caller) gave up.
  ABORT_ERR: 'fatal',
};

/** 408, 425, 429 and 5xx are worth another attempt; any other status is the server's answer. */
export function classifyStatus(status: number): ErrorClass {
  return status === 408 || status === 425 || status === 429 || status >= 500 ? 'retryable' : 'permanent';
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  errorClass?: unknown;
  status?: unknown;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
}

/**
 * The class of anything thrown. In order: an abort is fatal; our own errors say their class
 * (RunnerError.errorClass); a request the SDK re-signed after correcting its clock is
 * retryable; then CODE_CLASSES (the AWS code or node's code), the HTTP status, the cause;
 * a TypeError or ReferenceError without a code is a bug (fatal); anything else failed this item.
 */
export function classify(error: unknown, depth = 0): ErrorClass {
  if (!error || typeof error !== 'object') return 'fatal';
  const e = error as ErrorShape;
  if (e.name === 'AbortError') return 'fatal';
  if (typeof e.errorClass === 'string' && ERROR_CLASSES.includes(e.errorClass as ErrorClass)) return e.errorClass as ErrorClass;
  // The SDK has just corrected its clock offset from the server's Date: the next attempt is signed right.
  if (e.$metadata?.clockSkewCorrected) return 'retryable';
  // SDK service errors carry the AWS code as their name (sometimes also as Code); node's as code.
  for (const code of [e.Code, e.code, e.name]) {
    if (typeof code === 'string' && Object.hasOwn(CODE_CLASSES, code)) return CODE_CLASSES[code]!;
  }
  const status = e.$metadata?.httpStatusCode ?? (typeof e.status === 'number' ? e.status : undefined);
  if (status !== undefined) return classifyStatus(status);
  if (e.cause && e.cause !== error && depth < 10) return classify(e.cause, depth + 1);
  if ((e.name === 'TypeError' || e.name === 'ReferenceError') && typeof e.code !== 'string') return 'fatal';
  return 'permanent';
}
