// The upload half of sync for work done after the upload step: every transfer a comparison
// plans in the upload direction, through the shared transfer pool, each upload verified, the
// bucket's copy of a real conflict kept first (as upload does). Used by the index step to send
// what a local index build wrote; pull.ts is its counterpart.
import path from 'node:path';
import type { S3Key } from '../../platform/types.ts';
import type { SiteWork } from '../site-work.ts';
import { conflictCopyPath } from './conflicts.ts';
import type { PlannedTransfer } from './diff.ts';
import type { HashCache } from './hash-cache.ts';
import { downloadObject } from './object-download.ts';
import { uploadFile } from './object-upload.ts';
import { runTransfers, type TransferOutcome } from './transfers.ts';

export interface PushResult {
  outcome: TransferOutcome;
  /** Keys uploaded (none in a dry run, where the gate only plans them). */
  keys: S3Key[];
}

export async function pushToBucket(ctx: SiteWork, planned: readonly PlannedTransfer[], cache: HashCache): Promise<PushResult> {
  const s3 = ctx.clients.s3();
  const bucket = ctx.site.automation.bucket;
  const outcome = await runTransfers(ctx, 'upload', planned, async (transfer, onProgress) => {
    if (transfer.keepLoser && transfer.remote) {
      const kept = conflictCopyPath(ctx.localRoot, ctx.site.id, transfer.key, 'bucket');
      await downloadObject({ s3, bucket, object: transfer.remote, destPath: kept, signal: ctx.signal, log: ctx.log });
      ctx.log.warn(`${transfer.key}: ${transfer.reason}; the bucket's copy is kept as ${path.relative(ctx.localRoot, kept)}`);
    }
    const result = await uploadFile({ s3, partsClient: ctx.clients.s3Parts, bucket, file: transfer.local!, signal: ctx.signal, log: ctx.log, onProgress });
    cache.remember(transfer.key, { size: result.size, mtimeMs: result.mtimeMs, md5: result.md5, etag: result.etag });
  });
  return { outcome, keys: outcome.done.map((t) => t.key).sort() };
}
