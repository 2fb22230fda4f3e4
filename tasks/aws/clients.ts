// Per-site AWS clients (ARCHITECTURE.md "Sites and credentials"). A site with a role gets credentials assumed from the
// central automation user, cached per role and refreshed before expiry; a site without
// one uses the environment's credentials (demo, S3-compatible stores).
import { AsyncLocalStorage } from 'node:async_hooks';
import { S3Client } from '@aws-sdk/client-s3';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { SiteConfig } from '../site/site-config.ts';
import { roleCredentialsProvider } from './credentials.ts';

export interface SiteClients {
  s3(): S3Client;
  /** For multipart uploads (lib-storage), whose part requests the SDK retries itself. */
  s3Parts(): S3Client;
  lambda(): LambdaClient;
  /** Credentials for this site's calls (assumed role or environment), for tools that need them raw. */
  credentials: AwsCredentialIdentityProvider | undefined;
}

const callSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Send a request that `signal` cancels. With a site client the call carries no per-call
 * options, so the SDK reuses its cached middleware stack (`cacheMiddleware`: rebuilding it
 * is a large share of the SDK's per-request CPU) and the request handler picks the signal
 * up from the calling async context. Any other client gets the signal as a call option.
 */
export function sendCancellable<T>(
  client: { config: { requestHandler?: unknown } },
  signal: AbortSignal,
  send: (options?: { abortSignal: AbortSignal }) => Promise<T>,
): Promise<T> {
  if (client.config.requestHandler instanceof CancellableHttpHandler) return callSignal.run(signal, () => send());
  return send({ abortSignal: signal });
}

class CancellableHttpHandler extends NodeHttpHandler {
  override handle(request: Parameters<NodeHttpHandler['handle']>[0], options: Parameters<NodeHttpHandler['handle']>[1] = {}) {
    return super.handle(request, { ...options, abortSignal: options.abortSignal ?? callSignal.getStore() });
  }
}

/** Connection settings that work against AWS and the local S3 servers alike. */
function httpHandler(): NodeHttpHandler {
  return new CancellableHttpHandler({ connectionTimeout: 10_000, requestTimeout: 120_000 });
}

export function createSiteClients(site: SiteConfig, runId: string): SiteClients {
  const { automation } = site;
  const credentials: AwsCredentialIdentityProvider | undefined = automation.roleArn
    ? roleCredentialsProvider({ roleArn: automation.roleArn, siteId: site.id, runId, stsEndpoint: automation.stsEndpoint, region: automation.region, signal: () => callSignal.getStore() })
    : undefined;
  let s3: S3Client | undefined;
  let s3Parts: S3Client | undefined;
  let lambda: LambdaClient | undefined;
  const s3Client = (maxAttempts: number) =>
    new S3Client({
      region: automation.region,
      endpoint: automation.endpoint,
      forcePathStyle: automation.endpoint !== undefined,
      credentials,
      // The SDK's default (WHEN_SUPPORTED) sends streamed bodies aws-chunked; some
      // S3-compatible servers store the chunk framing inside the object. AWS accepts both.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts,
      // Reused per command type; per-call cancellation goes through sendCancellable.
      cacheMiddleware: true,
      requestHandler: httpHandler(),
    });
  return {
    credentials,
    // Our own retry loops (RETRY_POLICIES in tasks/platform/retry.ts, with logging and the
    // stall watchdog) wrap every call: one SDK attempt each, so a failure is retried by one
    // policy, not by two multiplied.
    s3: () => (s3 ??= s3Client(1)),
    // lib-storage's multipart upload has no retry loop: the SDK retries each of its parts.
    s3Parts: () => (s3Parts ??= s3Client(3)),
    lambda() {
      lambda ??= new LambdaClient({
        region: automation.region,
        endpoint: automation.lambdaEndpoint,
        credentials,
        // The index step retries (policy 'lambda-invoke'); stacked under it, the SDK's own
        // attempts multiplied the invocations of a failing call.
        maxAttempts: 1,
        requestHandler: httpHandler(),
      });
      return lambda;
    },
  };
}

export type { AwsCredentialIdentity };
