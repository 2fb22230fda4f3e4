// AWS failures as an operator reads them: AWS's error code plus its message, never the
// SDK's "UnknownError" placeholder (S3-compatible stores often send a code without a message).

/** The error code AWS (or Node) gave: `AccessDenied`, `ResourceNotFoundException`, `ECONNREFUSED`, or `HTTP 403`. */
export function awsErrorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as { name?: string; code?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string') return e.code;
  if (e.$metadata) {
    if (e.name && !['Error', 'Unknown', 'UnknownError'].includes(e.name)) return e.name;
    if (e.$metadata.httpStatusCode) return `HTTP ${e.$metadata.httpStatusCode}`;
  }
  if (e.cause && e.cause !== error) return awsErrorCode(e.cause);
  if (e.name && !['Error', 'TypeError'].includes(e.name)) return e.name;
  return undefined;
}

/** "message (Code)", or just the code when the message says nothing. */
export function describeAwsError(error: unknown): string {
  const code = awsErrorCode(error);
  const raw = error instanceof Error ? error.message : String(error);
  const message = raw.trim() === '' || raw === 'UnknownError' || raw === code ? '' : raw.trim();
  if (!code) return message || 'request failed';
  if (!message) return code;
  return message.includes(code) ? message : `${message} (${code})`;
}

/** An access problem (wrong role, policy, trust): retrying will not help. */
export function isAccessDenied(error: unknown): boolean {
  const code = awsErrorCode(error);
  return code === 'AccessDenied' || code === 'AccessDeniedException' || code === 'HTTP 403' || code === 'Forbidden';
}
