// Live access checks for one site, with the same clients the runner uses: assume the site's
// role, list its bucket, put and delete a test object under automation-tests/, and a DryRun
// invoke of its indexing function (Lambda checks permission and existence, runs nothing).
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import type { SiteConfig } from '../site/site-config.ts';
import { withRetry } from '../platform/retry.ts';
import { createSiteClients } from './clients.ts';
import { describeError, errorCode } from './errors.ts';
import { errorMessage } from '../platform/errors.ts';

export const CHECKS = ['assume-role', 'list-bucket', 'put-object', 'delete-object', 'invoke-dry-run'] as const;
export type CheckName = (typeof CHECKS)[number];

export type CheckOutcome = 'pass' | 'fail' | 'skip';

export interface CheckRow {
  site: string;
  check: CheckName;
  outcome: CheckOutcome;
  /** What was checked, or AWS's reason for the failure. */
  detail: string;
  code?: string;
}

/** Each check gets this long (connection timeouts and retries included). */
const CHECK_TIMEOUT_MS = 30_000;

export function testObjectKey(runId: string): string {
  return `automation-tests/${runId}`;
}

export async function checkSiteAccess(site: SiteConfig, runId: string): Promise<CheckRow[]> {
  const a = site.automation;
  const clients = createSiteClients(site, runId);
  const rows: CheckRow[] = [];
  const row = (check: CheckName, outcome: CheckOutcome, detail: string, code?: string) => {
    rows.push({ site: site.id, check, outcome, detail, ...(code ? { code } : {}) });
  };
  const attempt = async (check: CheckName, what: string, fn: (signal: AbortSignal) => Promise<unknown>): Promise<boolean> => {
    try {
      const signal = AbortSignal.timeout(CHECK_TIMEOUT_MS);
      // Clients make one attempt per call: a reset or a 503 is tried again, a refusal is reported at once.
      await withRetry(() => fn(signal), { policy: 'check-access', signal });
      row(check, 'pass', what);
      return true;
    } catch (error) {
      // An AssumeRoleError already names the role ("cannot assume role <arn>: <reason>").
      const detail = error instanceof Error && error.name === 'AssumeRoleError' ? errorMessage(error) : `${what}: ${describeError(error)}`;
      row(check, 'fail', detail, errorCode(error));
      return false;
    }
  };

  // A site indexed on this machine needs no indexing function, only its search function (if any).
  const fn = a.indexing === 'local' ? a.searchFunction : a.indexingFunction;
  try {
    if (clients.credentials) {
      const provider = clients.credentials;
      const assumed = await attempt('assume-role', `assume ${a.roleArn}`, () => provider());
      if (!assumed) {
        for (const check of CHECKS.slice(1)) row(check, 'skip', 'role not assumed');
        return rows;
      }
    } else {
      row('assume-role', 'skip', 'no role configured: environment credentials');
    }

    const s3 = clients.s3();
    await attempt('list-bucket', `list s3://${a.bucket}`, (signal) =>
      s3.send(new ListObjectsV2Command({ Bucket: a.bucket, MaxKeys: 1 }), { abortSignal: signal }),
    );
    const key = testObjectKey(runId);
    const put = await attempt('put-object', `put s3://${a.bucket}/${key}`, (signal) =>
      s3.send(new PutObjectCommand({ Bucket: a.bucket, Key: key, Body: `check-access ${runId}\n`, ContentType: 'text/plain' }), { abortSignal: signal }),
    );
    if (put) {
      await attempt('delete-object', `delete s3://${a.bucket}/${key}`, (signal) =>
        s3.send(new DeleteObjectCommand({ Bucket: a.bucket, Key: key }), { abortSignal: signal }),
      );
    } else {
      row('delete-object', 'skip', 'nothing was put');
    }
    if (fn) {
      await attempt('invoke-dry-run', `invoke ${fn} (DryRun)`, async (signal) => {
        const out = await (await clients.lambda()).send(new InvokeCommand({ FunctionName: fn, InvocationType: 'DryRun' }), { abortSignal: signal });
        if (out.StatusCode !== 204) throw new Error(`expected status 204 for a DryRun invoke, got ${out.StatusCode}`);
      });
    } else {
      row('invoke-dry-run', 'skip', 'indexed on this machine, no search function configured');
    }
    return rows;
  } finally {
    clients.destroy();
  }
}
