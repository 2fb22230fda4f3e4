// Per-site AWS clients (DESIGN §2). A site with a role gets credentials assumed from the
// central automation user, cached per role and refreshed before expiry; a site without
// one uses the environment's credentials (demo, S3-compatible stores).
import { S3Client } from '@aws-sdk/client-s3';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import type { SiteConfig } from '../site-config.ts';
import { roleCredentialsProvider } from './credentials.ts';

export interface SiteClients {
  s3(): S3Client;
  lambda(): LambdaClient;
  /** Credentials for this site's calls (assumed role or environment), for tools that need them raw. */
  credentials: AwsCredentialIdentityProvider | undefined;
}

/** Connection settings that work against AWS and the local S3 servers alike. */
function httpHandler(): NodeHttpHandler {
  return new NodeHttpHandler({ connectionTimeout: 10_000, requestTimeout: 120_000 });
}

export function createSiteClients(site: SiteConfig, runId: string): SiteClients {
  const { automation } = site;
  const credentials: AwsCredentialIdentityProvider | undefined = automation.roleArn
    ? roleCredentialsProvider({ roleArn: automation.roleArn, siteId: site.id, runId, stsEndpoint: automation.stsEndpoint, region: automation.region })
    : undefined;
  let s3: S3Client | undefined;
  let lambda: LambdaClient | undefined;
  return {
    credentials,
    s3() {
      s3 ??= new S3Client({
        region: automation.region,
        endpoint: automation.endpoint,
        forcePathStyle: automation.endpoint !== undefined,
        credentials,
        // The SDK's default (WHEN_SUPPORTED) sends streamed bodies aws-chunked; some
        // S3-compatible servers store the chunk framing inside the object. AWS accepts both.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        // Our own retry loop (with logging) wraps transfers; keep the SDK's short.
        maxAttempts: 3,
        requestHandler: httpHandler(),
      });
      return s3;
    },
    lambda() {
      lambda ??= new LambdaClient({
        region: automation.region,
        endpoint: automation.lambdaEndpoint,
        credentials,
        maxAttempts: 3,
        requestHandler: httpHandler(),
      });
      return lambda;
    },
  };
}

export type { AwsCredentialIdentity };
