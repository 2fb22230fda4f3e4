// pre-sync (ARCHITECTURE.md "Steps" and "Sync rules"): list the bucket once for the whole
// run, bring the local manifest to local ∪ bucket, then bring down every object the local tree
// lacks and every conflict the bucket wins. A file that fails stays missing and is reported;
// the others go on. Nothing is deleted. The listing, the comparison after the downloads and the
// manifest basis go to the later steps as its output.
import type { PreSyncOutput, StepContext, StepResult } from './contract.ts';
import { scanReadsWholeSite, type S3Key } from '../platform/types.ts';
import { describeSweep, removeLeftoverFiles, removeStaleTemporaries } from '../platform/atomic.ts';
import { formatBytes } from '../platform/format.ts';
import { topFolder } from '../engines/sync/ignore.ts';
import { logConflicts, hashCacheFor, saveCache, scanSite, listSiteBucket, compareSite } from './sync-support.ts';
import { pullFromBucket } from '../engines/sync/pull.ts';
import { MANIFEST_KEY, manifestPath } from '../site/manifest.ts';
import { reconcileManifest } from '../engines/manifest/manifest-sync.ts';

export async function preSync(ctx: StepContext): Promise<StepResult<PreSyncOutput>> {
  // Phase 1: the run's one listing, and meanwhile the hash cache and the local scan (the
  // first page is requested before the cache is parsed: the server works while we do). No
  // listing, no run.
  const listingRequest = listSiteBucket(ctx, 'pre-sync');
  listingRequest.catch(() => undefined); // raised below, like the scan's
  const cache = await hashCacheFor(ctx, undefined);
  // What killed runs left in the site's folders goes now, found by the scan (the run did not
  // sweep them: one read of the folders, not two), before this run writes anything here.
  const leftovers = !ctx.dryRun && scanReadsWholeSite(ctx.syncFolders) ? [] : undefined;
  const reportRemoved = (removed: { count: number; bytes: number }) => {
    if (removed.count > 0) ctx.log.warn(describeSweep({ partialFiles: removed.count, workFolders: 0, bytes: removed.bytes }));
  };
  const scanning = scanSite(ctx, cache, leftovers).then(
    async (files) => {
      if (leftovers?.length) reportRemoved(await removeLeftoverFiles(leftovers));
      return files;
    },
    async (error: unknown) => {
      // A scan that failed part-way found only some: sweep what can be read, as the run would
      // have (a step that does not need pre-sync, such as index with --skip=upload, may still write here).
      if (leftovers) reportRemoved(await removeStaleTemporaries(ctx.site.localDir));
      throw error;
    },
  );
  // Handled now, raised below: a scan that fails while the listing is still running must fail
  // this step, not reach the process as an unhandled rejection.
  scanning.catch(() => undefined);
  const listed = await listingRequest;
  if (!listed.ok) {
    await scanning.catch(() => undefined);
    return listed.result;
  }
  const { listing } = listed;

  // Phase 2: compare with the local tree; the manifest is merged, not transferred.
  const diff = await compareSite(ctx, listing, cache, await scanning);
  const manifest = await reconcileManifest(ctx, 'pre-sync', listing.find((f) => f.key === MANIFEST_KEY), cache);
  for (const note of manifest.notes) ctx.log.info(note);
  for (const e of manifest.errors) ctx.log.error(e.message);
  logConflicts(ctx, diff.conflicts, 'download');

  // Phase 3: the downloads, through the shared network limiter.
  const pulled = await pullFromBucket(ctx, diff, cache);
  await saveCache(ctx, cache);
  const { outcome } = pulled;
  let after = pulled.after;
  const keys = [...pulled.keys];
  if (manifest.downloaded) {
    // The bucket's manifest, written as it is: a download like any other.
    const m = manifest.downloaded;
    const local = { key: MANIFEST_KEY as S3Key, path: manifestPath(ctx.site.localDir), size: m.size, modified: m.modified, mtimeMs: m.mtimeMs, md5: m.md5, knownEtag: m.etag, lastEtag: m.etag };
    const remote = listing.find((f) => f.key === MANIFEST_KEY)!;
    after = { ...after, s3Only: after.s3Only.filter((f) => f.key !== MANIFEST_KEY), conflicts: after.conflicts.filter((c) => c.key !== MANIFEST_KEY), consistent: [...after.consistent.filter((c) => c.local.key !== MANIFEST_KEY), { local, remote }] };
    keys.push(MANIFEST_KEY as S3Key);
    outcome.counts[topFolder(MANIFEST_KEY)] = { files: 1, bytes: m.size };
    outcome.bytes += m.size;
  }
  const output: PreSyncOutput = { listing, comparison: after, manifest: manifest.basis, hashCache: cache, downloaded: keys.sort() as S3Key[] };
  const errors = [...manifest.errors, ...outcome.errors];

  if (ctx.dryRun) {
    const message = keys.length === 0 ? `nothing missing (${listing.length} objects listed)` : `would download ${keys.length} files (${formatBytes(pulled.plannedBytes)})`;
    return errors.length > 0 ? { status: 'failed', fatal: false, message, counts: {}, errors, output } : { status: keys.length === 0 ? 'up-to-date' : 'ok', message, counts: {}, errors, output };
  }
  if (keys.length === 0 && errors.length === 0) return { status: 'up-to-date', message: `nothing missing (${listing.length} objects listed)`, counts: {}, errors, output };
  const counts = keys.length > 0 ? { downloaded: outcome.counts } : {};
  const done = keys.length > 0 ? `downloaded ${keys.length} files (${formatBytes(outcome.bytes)})` : `nothing missing (${listing.length} objects listed)`;
  if (errors.length > 0) return { status: 'failed', fatal: false, message: keys.length > 0 || outcome.errors.length > 0 ? `${done}; ${errors.length} failed` : errors[0]!.message, counts, errors, output };
  return { status: 'ok', message: done, counts, errors, output };
}
