// The download half of sync: every transfer a comparison plans in the download direction,
// through the shared network limiter, each file put in place atomically with the object's
// LastModified; the losing local copy of a real conflict is kept first. Used by pre-sync, and
// by the index step to bring the indexer's output down.
import path from 'node:path';
import { PendingFolderSyncs } from '../../platform/atomic.ts';
import type { S3Key } from '../../platform/types.ts';
import type { SiteWork } from '../site-work.ts';
import { conflictCopyPath, keepLocalCopy } from './conflicts.ts';
import { afterDownloads, planTransfers, type LocalFile, type SyncDiff } from './diff.ts';
import type { HashCache } from './hash-cache.ts';
import { fetchObject } from './object-download.ts';
import { runTransfers, type TransferOutcome } from './transfers.ts';

export interface PullResult {
  outcome: TransferOutcome;
  /** Keys downloaded (in a dry run: planned). */
  keys: S3Key[];
  /** The comparison once the downloads are in place (in a dry run: as if they were). */
  after: SyncDiff;
  plannedBytes: number;
}

export async function pullFromBucket(ctx: SiteWork, diff: SyncDiff, cache: HashCache): Promise<PullResult> {
  const planned = planTransfers(diff, 'download');
  const s3 = ctx.clients.s3();
  const bucket = ctx.site.automation.bucket;
  const folderSyncs = new PendingFolderSyncs();
  const downloaded = new Map<string, LocalFile>();
  const outcome = await runTransfers(ctx, 'download', planned, async (transfer, onProgress) => {
    const destPath = path.join(ctx.site.localDir, ...transfer.key.split('/'));
    const fetched = await fetchObject({ s3, bucket, object: transfer.remote!, destPath, signal: ctx.signal, log: ctx.log, onProgress, folderSyncs });
    // Writing and renaming into place happen after the network slot is released.
    return async () => {
      if (transfer.keepLoser && transfer.local) {
        const kept = conflictCopyPath(ctx.localRoot, ctx.site.id, transfer.key, 'local');
        await keepLocalCopy(transfer.local.path, kept);
        ctx.log.warn(`${transfer.key}: ${transfer.reason}; the local copy is kept as ${path.relative(ctx.localRoot, kept)}`);
      }
      const result = await fetched.commit();
      cache.remember(transfer.key, { size: result.size, mtimeMs: result.mtimeMs, md5: result.md5, etag: result.etag });
      downloaded.set(transfer.key, {
        key: transfer.key,
        path: destPath,
        size: result.size,
        modified: new Date(result.mtimeMs),
        mtimeMs: result.mtimeMs,
        md5: result.md5,
        knownEtag: result.etag,
        lastEtag: result.etag,
      });
    };
  });
  await folderSyncs.flush();
  if (ctx.dryRun) {
    // What the local tree would be: each planned download in place, as the bucket has it.
    for (const t of planned) {
      const r = t.remote!;
      downloaded.set(t.key, { ...r, path: path.join(ctx.site.localDir, ...t.key.split('/')), mtimeMs: r.modified.getTime(), knownEtag: r.etag, lastEtag: r.etag });
    }
  }
  return {
    outcome,
    keys: [...downloaded.keys()].sort() as S3Key[],
    after: afterDownloads(diff, downloaded),
    plannedBytes: planned.reduce((sum, t) => sum + t.size, 0),
  };
}
