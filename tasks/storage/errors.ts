// Errors of the storage layer. How AWS and network errors are named in messages is
// tasks/aws/errors.ts, shared by every AWS call.

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
