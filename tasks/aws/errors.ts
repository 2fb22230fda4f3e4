// Failures as an operator reads them, for every AWS call (S3, STS, Lambda) and the network
// under it: AWS's error code plus its message, never the SDK's "UnknownError" placeholder
// (S3-compatible stores often send a code without a message).
import { errorMessage } from '../platform/errors.ts';

/** Names that say nothing about what failed. */
const GENERIC_NAMES = new Set(['Error', 'TypeError', 'Unknown', 'UnknownError']);

/** The most specific code an error carries: `AccessDenied`, `ResourceNotFoundException`, `ECONNREFUSED`, or `HTTP 403`. */
export function errorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { name?: string; code?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  if (e.$metadata) {
    // SDK service errors are named after the AWS code.
    if (e.name && !GENERIC_NAMES.has(e.name)) return e.name;
    if (e.$metadata.httpStatusCode) return `HTTP ${e.$metadata.httpStatusCode}`;
  }
  if (e.cause && e.cause !== error) {
    const inner = errorCode(e.cause);
    if (inner) return inner;
  }
  if (e.name && !GENERIC_NAMES.has(e.name)) return e.name;
  return undefined;
}

/** "The specified bucket does not exist (NoSuchBucket)": the message with its code. */
export function describeError(error: unknown): string {
  const code = errorCode(error);
  // One event, one line: the SDK's deserialization errors span several lines (an HTML page, a
  // hint about the response); the first 300 characters on one line say what failed.
  const raw = oneLine(errorMessage(error));
  // The SDK's message for a body it cannot parse (an HTML error page, a proxy's 503) says nothing.
  const message = raw === '' || raw === 'UnknownError' || raw === code ? 'request failed' : raw;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

/** An access problem (wrong role, policy, trust): retrying will not help. */
export function isAccessDenied(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'HTTP 403' || code === 'Forbidden';
}

/** Whitespace runs (newlines included) as one space, cut to `max` characters. */
export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
