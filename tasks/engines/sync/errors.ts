// Errors of the storage layer. How AWS and network errors are named in messages is
// tasks/aws/errors.ts, shared by every AWS call; how they are classified is tasks/platform/errors.ts.
import { RunnerError } from '../../platform/errors.ts';

/** A transfer made no progress for too long; worth another attempt. */
export class StallError extends RunnerError {
  override name = 'StallError';
  constructor(what: string, ms: number) {
    super(`${what}: no progress for ${Math.round(ms / 1000)}s`, { errorClass: 'retryable', code: 'Stalled' });
  }
}

/** The bytes that arrived or were stored are not the bytes expected; another attempt usually fixes a truncated or changed transfer. */
export class VerificationError extends RunnerError {
  override name = 'VerificationError';
  constructor(message: string) {
    super(message, { errorClass: 'retryable', code: 'VerificationFailed' });
  }
}
