// Assumed-role credentials, cached per role: several sites share one account's role,
// and a raw temporary-credentials provider would call STS on every request.
import type { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { registerSecret } from '../platform/secrets.ts';
import { withRetry } from '../platform/retry.ts';
import { classify, RunnerError, type ErrorClass } from '../platform/errors.ts';
import { describeError, errorCode } from './errors.ts';

/** Refresh this long before expiry, so a long transfer never runs on expired credentials. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
const SESSION_SECONDS = 3600;

export interface RoleRequest {
  roleArn: string;
  siteId: string;
  runId: string;
  stsEndpoint?: string;
  region: string;
  /** Cancels the STS call and its retries: the run's signal. Per provider, never global. */
  signal?: AbortSignal;
}

/**
 * The role could not be assumed; carries AWS's code so summaries and check-access show it,
 * and the class of STS's answer (a refusal is permanent, STS still unavailable is retryable).
 */
export class AssumeRoleError extends RunnerError {
  override name = 'AssumeRoleError';
  /** STS's HTTP status, as on SDK errors. */
  readonly $metadata: { httpStatusCode?: number } | undefined;
  constructor(
    readonly roleArn: string,
    code: string | undefined,
    reason: string,
    options: { errorClass: ErrorClass; $metadata?: { httpStatusCode?: number } },
  ) {
    super(`cannot assume role ${roleArn}: ${reason}`, { errorClass: options.errorClass, code });
    this.$metadata = options.$metadata;
  }
}

const cache = new Map<string, Promise<AwsCredentialIdentity>>();

/** How many times STS was asked (tests check the per-role cache with it). */
export const stsCalls = { count: 0 };

/** Role session names: 2-64 chars of [\w+=,.@-], traceable to the run (the run id names the host's run). */
export function roleSessionName(runId: string): string {
  return `ingest-${runId}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

function fresh(creds: AwsCredentialIdentity | undefined, now = Date.now()): creds is AwsCredentialIdentity {
  return creds !== undefined && (!creds.expiration || creds.expiration.getTime() - now > REFRESH_MARGIN_MS);
}

/** A provider for one site's role; sites with the same role (and STS endpoint) share one cache entry. */
export function roleCredentialsProvider(request: RoleRequest): AwsCredentialIdentityProvider {
  return async () => {
    const key = `${request.stsEndpoint ?? 'aws'}|${request.roleArn}`;
    const cached = cache.get(key);
    if (cached) {
      const creds = await cached.catch(() => undefined);
      if (fresh(creds)) return creds;
      // Another caller may have started the refresh meanwhile: join it.
      const current = cache.get(key);
      if (current && current !== cached) return current;
    }
    const pending = assumeRole(request);
    cache.set(key, pending);
    // A failure is not cached: the next call (next site, next step) asks STS again.
    pending.catch(() => {
      if (cache.get(key) === pending) cache.delete(key);
    });
    return pending;
  };
}

/** Forget every cached credential (tests; a long-lived process after a configuration change). */
export function clearCredentialCache(): void {
  cache.clear();
}

/** How long one AssumeRole attempt may take (STS answers in well under a second). */
const STS_ATTEMPT_MS = 30_000;

async function assumeRole(request: RoleRequest): Promise<AwsCredentialIdentity> {
  const { signal } = request;
  let sts: STSClient | undefined;
  try {
    // Loaded on first use: sites without a role (S3-compatible stores, the demo) never need it.
    const { AssumeRoleCommand, STSClient: Client } = await import('@aws-sdk/client-sts');
    // The central automation user's credentials come from the environment (.env.automation).
    const client = new Client({ region: process.env.AWS_REGION ?? request.region, endpoint: request.stsEndpoint, maxAttempts: 1 });
    sts = client;
    const out = await withRetry(
      () => {
        stsCalls.count++;
        return client.send(
          new AssumeRoleCommand({
            RoleArn: request.roleArn,
            RoleSessionName: roleSessionName(request.runId),
            DurationSeconds: SESSION_SECONDS,
          }),
          // Each attempt is bounded: a command without a run signal (verify, consistency) must
          // not wait forever on a silent STS (the S3 call that needed it has already given up).
          { abortSignal: signal ? AbortSignal.any([signal, AbortSignal.timeout(STS_ATTEMPT_MS)]) : AbortSignal.timeout(STS_ATTEMPT_MS) },
        );
      },
      { policy: 'sts', signal },
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new AssumeRoleError(request.roleArn, undefined, 'STS returned no credentials', { errorClass: 'permanent' });
    registerSecret(c.AccessKeyId);
    registerSecret(c.SecretAccessKey);
    registerSecret(c.SessionToken);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  } catch (error) {
    // Interrupted (or the calling request gave up): an abort, not a refusal of the role.
    if (error instanceof AssumeRoleError || signal?.aborted) throw error;
    const e = error as { $metadata?: { httpStatusCode?: number } };
    const code = errorCode(error);
    const reason =
      code === 'CredentialsProviderError'
        ? 'no credentials for the central automation user (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in .env.automation)'
        : describeError(error);
    // The SDK's error is not kept as the cause: nothing of the STS exchange reaches a printed error.
    throw new AssumeRoleError(request.roleArn, code, reason, { errorClass: classify(error), $metadata: e.$metadata });
  } finally {
    sts?.destroy();
  }
}
