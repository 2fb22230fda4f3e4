// Assumed-role credentials, cached per role: several sites share one account's role,
// and a raw temporary-credentials provider would call STS on every request.
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { registerSecret } from '../secrets.ts';

/** Refresh this long before expiry, so a long transfer never runs on expired credentials. */
const REFRESH_MARGIN_MS = 5 * 60_000;
const SESSION_SECONDS = 3600;

interface RoleRequest {
  roleArn: string;
  siteId: string;
  runId: string;
  stsEndpoint?: string;
  region: string;
}

const cache = new Map<string, Promise<AwsCredentialIdentity>>();

/** Role session names: at most 64 chars of [\w+=,.@-], traceable to the run. */
export function roleSessionName(runId: string): string {
  return `ingest-${runId}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

export function roleCredentialsProvider(request: RoleRequest): AwsCredentialIdentityProvider {
  return async () => {
    const key = `${request.stsEndpoint ?? 'aws'}|${request.roleArn}`;
    const cached = cache.get(key);
    if (cached) {
      const creds = await cached.catch(() => undefined);
      if (creds && (!creds.expiration || creds.expiration.getTime() - Date.now() > REFRESH_MARGIN_MS)) return creds;
    }
    const pending = assumeRole(request);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
    return pending;
  };
}

async function assumeRole(request: RoleRequest): Promise<AwsCredentialIdentity> {
  // The central automation user's credentials come from the environment (.env.automation).
  const sts = new STSClient({ region: process.env.AWS_REGION ?? request.region, endpoint: request.stsEndpoint });
  try {
    const out = await sts.send(
      new AssumeRoleCommand({
        RoleArn: request.roleArn,
        RoleSessionName: roleSessionName(request.runId),
        DurationSeconds: SESSION_SECONDS,
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error(`AssumeRole ${request.roleArn} returned no credentials`);
    registerSecret(c.AccessKeyId);
    registerSecret(c.SecretAccessKey);
    registerSecret(c.SessionToken);
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  } catch (error) {
    const e = error as { name?: string; message?: string };
    throw new Error(`cannot assume role ${request.roleArn}: ${e.name ?? 'Error'}: ${e.message ?? String(error)}`);
  } finally {
    sts.destroy();
  }
}
