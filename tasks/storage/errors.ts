// Errors of the storage layer, and how AWS / network errors are named in messages:
// every message carries AWS's error code (NoSuchBucket, AccessDenied, ECONNREFUSED...).
import { errorMessage } from '../types.ts';

/** A transfer made no progress for too long; worth another attempt. */
export class StallError extends Error {
  override name = 'StallError';
  readonly code = 'ETIMEDOUT';
  constructor(what: string, ms: number) {
    super(`${what}: no progress for ${Math.round(ms / 1000)}s`);
  }
}

/** The bytes that arrived or were stored are not the bytes expected; worth another attempt. */
export class VerificationError extends Error {
  override name = 'VerificationError';
  readonly code = 'VerificationFailed';
  // Another attempt usually fixes a truncated or changed transfer.
  readonly $retryable = { throttling: false };
}

/** The most specific code an error carries: AWS's error code, a Node errno, or the HTTP status. */
export function errorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { name?: string; Code?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  // SDK service errors are named after the AWS code; generic names say nothing.
  if (e.name && e.name !== 'Error' && e.name !== 'TypeError' && e.$metadata) {
    if (e.name === 'Unknown' || e.name === 'UnknownError') {
      return e.$metadata.httpStatusCode ? `HTTP ${e.$metadata.httpStatusCode}` : undefined;
    }
    return e.name;
  }
  if (e.cause && e.cause !== error) {
    const inner = errorCode(e.cause);
    if (inner) return inner;
  }
  if (e.name && e.name !== 'Error') return e.name;
  if (e.$metadata?.httpStatusCode) return `HTTP ${e.$metadata.httpStatusCode}`;
  return undefined;
}

/** "The specified bucket does not exist (NoSuchBucket)" — the message with its code. */
export function describeError(error: unknown): string {
  const code = errorCode(error);
  let message = errorMessage(error).trim();
  // The SDK's message for a body it cannot parse (an HTML error page, a proxy's 503) is long and useless.
  if (message === '' || message === 'UnknownError' || message === code) message = 'request failed';
  return code && !message.includes(code) ? `${message} (${code})` : message;
}
