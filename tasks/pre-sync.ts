// pre-sync (DESIGN §1, §4): list the bucket once for the whole run, then bring down every
// object the local tree lacks and every conflict the bucket wins (newer side wins). A file
// that fails stays missing and is reported; the others go on. Nothing is deleted.
import path from 'node:path';
import { PendingFolderSyncs } from './atomic.ts';
import type { StepFunction } from './context.ts';
import { formatBytes } from './summary.ts';
import type { S3Key, StepResult } from './types.ts';
import { topFolder } from './storage/ignore.ts';
import { afterDownloads, planTransfers, type LocalFile } from './storage/diff.ts';
import { fetchObject } from './storage/download.ts';
import { bucketListing, compareSite, loadCache, logConflicts, rememberComparison, saveCache, scanSite } from './storage/step-support.ts';
import { runTransfers } from './storage/transfers.ts';
import { conflictCopyPath, keepLocalCopy } from './storage/conflicts.ts';
import { MANIFEST_KEY, manifestPath } from './manifest.ts';
import { reconcileManifest } from './manifest-sync.ts';

export const preSync: StepFunction = async (ctx): Promise<StepResult> => {
  // Phase 1: the run's one listing (consistency and upload reuse it), and meanwhile the
  // local scan. No listing, no run.
  const cache = await loadCache(ctx);
  const scanning = scanSite(ctx, cache);
  // Handled now, raised below: a scan that fails while the listing is still running must fail
  // this step, not reach the process as an unhandled rejection.
  scanning.catch(() => undefined);
  const listed = await bucketListing(ctx, 'pre-sync', { fresh: true });
  if (!listed.ok) return listed.result;
  const { listing } = listed;

  // Phase 2: compare with the local tree; the manifest is merged, not transferred.
  const diff = await compareSite(ctx, listing, cache, await scanning);
  const manifest = await reconcileManifest(ctx, 'pre-sync', listing.find((f) => f.key === MANIFEST_KEY), cache);
  // The index step re-runs pre-sync for its own folders only: it must not forget the basis.
  if (manifest.basis.kind !== 'not-synced' || !ctx.state.manifest) ctx.state.manifest = manifest.basis;
  for (const note of manifest.notes) ctx.log.info(note);
  for (const e of manifest.errors) ctx.log.error(e.message);
  const planned = planTransfers(diff, 'download');
  logConflicts(ctx, diff.conflicts, 'download');
  if (planned.length === 0 && manifest.downloadedBytes === undefined) {
    await saveCache(ctx, cache);
    if (manifest.errors.length > 0) return { status: 'failed', fatal: false, message: manifest.errors[0]!.message, counts: {}, errors: manifest.errors };
    return { status: 'up-to-date', message: `nothing missing (${listing.length} objects listed)`, counts: {}, errors: [] };
  }

  // Phase 3: the downloads, through the shared network limiter.
  const s3 = ctx.clients.s3();
  const bucket = ctx.site.automation.bucket;
  const folderSyncs = new PendingFolderSyncs();
  const downloaded = new Map<string, LocalFile>();
  const outcome = await runTransfers(ctx, 'download', planned, async (transfer, onProgress) => {
    const destPath = path.join(ctx.site.localDir, ...transfer.key.split('/'));
    const fetched = await fetchObject({
      s3,
      bucket,
      object: transfer.remote!,
      destPath,
      signal: ctx.signal,
      log: ctx.log,
      onProgress,
      folderSyncs,
    });
    // Writing and renaming into place happen after the network slot is released.
    return async () => {
      if (transfer.keepLoser && transfer.local) {
        const kept = conflictCopyPath(ctx.options.localRoot, ctx.site.id, transfer.key, 'local');
        await keepLocalCopy(transfer.local.path, kept);
        ctx.log.warn(`${transfer.key}: ${transfer.reason}; the local copy is kept as ${path.relative(ctx.options.localRoot, kept)}`);
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
  await saveCache(ctx, cache);
  const plannedBytes = planned.reduce((sum, t) => sum + t.size, 0);
  if (ctx.options.dryRun) {
    return { status: 'ok', message: `would download ${planned.length} files (${formatBytes(plannedBytes)})`, counts: {}, errors: [] };
  }
  if (manifest.downloaded) {
    const m = manifest.downloaded;
    downloaded.set(MANIFEST_KEY, { key: MANIFEST_KEY as S3Key, path: manifestPath(ctx.site.localDir), size: m.size, modified: m.modified, mtimeMs: m.mtimeMs, md5: m.md5, knownEtag: m.etag, lastEtag: m.etag });
  }
  // What the local tree now is against the listing: consistency and upload need no rescan.
  rememberComparison(ctx, listing, afterDownloads(diff, downloaded));
  if (manifest.downloadedBytes !== undefined) {
    outcome.counts[topFolder(MANIFEST_KEY)] = { files: 1, bytes: manifest.downloadedBytes };
    outcome.done.push({ key: MANIFEST_KEY as S3Key, size: manifest.downloadedBytes, reason: "the bucket's manifest" });
    outcome.bytes += manifest.downloadedBytes;
  }
  const counts = { downloaded: outcome.counts };
  const done = `downloaded ${outcome.done.length} files (${formatBytes(outcome.bytes)})`;
  const errors = [...manifest.errors, ...outcome.errors];
  if (errors.length > 0) {
    return { status: 'failed', fatal: false, message: `${done}; ${errors.length} failed`, counts, errors };
  }
  return { status: 'ok', message: done, counts, errors: [] };
};
