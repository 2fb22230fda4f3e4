// Per-site AWS clients (ARCHITECTURE.md "Sites and credentials"). A site with a role gets credentials assumed from the
// central automation user, cached per role and refreshed before expiry; a site without
// one uses the environment's credentials (demo, S3-compatible stores).
import { S3Client } from '@aws-sdk/client-s3';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { SiteConfig } from '../site/site-config.ts';
import { roleCredentialsProvider } from './credentials.ts';

export interface SiteClients {
  s3(): S3Client;
  /** For multipart uploads (lib-storage), whose part requests the SDK retries itself. */
  s3Parts(): S3Client;
  /** Loaded on first use: a night that uploads nothing never loads the Lambda client. */
  lambda(): Promise<LambdaClient>;
  /** Credentials for this site's calls (assumed role or environment), for tools that need them raw. */
  credentials: AwsCredentialIdentityProvider | undefined;
  /** Close the connections of the clients made so far (none is made for it). */
  destroy(): void;
}

const SIGNAL = Symbol('podcast-ingest.callSignal');
type SignalCarrier = { [SIGNAL]?: AbortSignal };

/**
 * Send a request that `signal` cancels. With a site client the call carries no per-call
 * options, so the SDK reuses its cached middleware stack (`cacheMiddleware`: rebuilding it
 * is a large share of the SDK's per-request CPU). The signal rides on the command itself:
 * the stack's arguments start as the command and each step copies them on (a step may
 * replace the input, not the arguments), and a middleware next to the request handler hands
 * it over. An AsyncLocalStorage did this before, but on Node 20 it turns on promise hooks for
 * every promise of the run (~10% of a no-op run's CPU). The call also settles as soon as the
 * signal aborts, even while it waits for its role's credentials (whose STS call the run's
 * signal cancels). Any other client gets the signal as a call option.
 */
export function sendCancellable<C extends { input: object }, T>(
  client: { config: { requestHandler?: unknown } },
  signal: AbortSignal,
  command: C,
  send: (command: C, options?: { abortSignal: AbortSignal }) => Promise<T>,
): Promise<T> {
  if (!(client.config.requestHandler instanceof CancellableHttpHandler)) return send(command, { abortSignal: signal });
  (command as SignalCarrier)[SIGNAL] = signal;
  return settleOnAbort(send(command), signal);
}

function abortError(): Error {
  return Object.assign(new Error('Request aborted'), { name: 'AbortError' });
}

function settleOnAbort<T>(sent: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    sent.catch(() => undefined);
    return Promise.reject(abortError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      sent.catch(() => undefined);
      reject(abortError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    sent.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Innermost middleware: the request (as signed, so a copy made by signing is covered) carries its call's signal. */
const tagSignal = {
  middleware:
    (next: (args: { input: object; request?: unknown }) => Promise<unknown>) =>
    (args: { input: object; request?: unknown }) => {
      const signal = (args as SignalCarrier)[SIGNAL];
      if (signal && args.request && typeof args.request === 'object') (args.request as SignalCarrier)[SIGNAL] = signal;
      return next(args);
    },
  options: { step: 'deserialize', priority: 'low', name: 'podcastIngestCallSignal' },
} as const;

class CancellableHttpHandler extends NodeHttpHandler {
  override handle(request: Parameters<NodeHttpHandler['handle']>[0], options: Parameters<NodeHttpHandler['handle']>[1] = {}) {
    return super.handle(request, { ...options, abortSignal: options.abortSignal ?? (request as SignalCarrier)[SIGNAL] });
  }
}

/** Connection settings that work against AWS and the local S3 servers alike. */
function httpHandler(): NodeHttpHandler {
  return new CancellableHttpHandler({ connectionTimeout: 10_000, requestTimeout: 120_000 });
}

/** `signal`: the run's, which cancels an STS call in flight (the calls waiting on it settle on their own signals). */
export function createSiteClients(site: SiteConfig, runId: string, signal?: AbortSignal): SiteClients {
  const { automation } = site;
  const credentials: AwsCredentialIdentityProvider | undefined = automation.roleArn
    ? roleCredentialsProvider({ roleArn: automation.roleArn, siteId: site.id, runId, stsEndpoint: automation.stsEndpoint, region: automation.region, signal })
    : undefined;
  let s3: S3Client | undefined;
  let s3Parts: S3Client | undefined;
  let lambda: Promise<LambdaClient> | undefined;
  const s3Client = (maxAttempts: number) => {
    const client = new S3Client({
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
    client.middlewareStack.add(tagSignal.middleware as never, tagSignal.options);
    return client;
  };
  return {
    credentials,
    // Our own retry loops (RETRY_POLICIES in tasks/platform/retry.ts, with logging and the
    // stall watchdog) wrap every call: one SDK attempt each, so a failure is retried by one
    // policy, not by two multiplied.
    s3: () => (s3 ??= s3Client(1)),
    // lib-storage's multipart upload has no retry loop: the SDK retries each of its parts.
    s3Parts: () => (s3Parts ??= s3Client(3)),
    lambda() {
      lambda ??= import('@aws-sdk/client-lambda').then(
        ({ LambdaClient }) =>
          new LambdaClient({
            region: automation.region,
            endpoint: automation.lambdaEndpoint,
            credentials,
            // The index step retries (policy 'lambda-invoke'); stacked under it, the SDK's own
            // attempts multiplied the invocations of a failing call.
            maxAttempts: 1,
            requestHandler: httpHandler(),
          }),
      );
      return lambda;
    },
    destroy() {
      s3?.destroy();
      s3Parts?.destroy();
      void lambda?.then((client) => client.destroy(), () => undefined);
    },
  };
}

export type { AwsCredentialIdentity };
