// What the sync steps share around the sync engine: a listing of the bucket (the one pre-sync
// took, passed on as a value, or a fresh one when pre-sync did not run), the failure a step
// returns when the bucket cannot be listed, the hash cache, the conflict log lines, and the
// manifest basis.
import type { PreSyncOutput, StepContext, StepResult } from './contract.ts';
import type { StepName } from '../platform/types.ts';
import type { Conflict, Direction, LocalFile, SyncDiff } from '../engines/sync/diff.ts';
import { compareWithListing } from '../engines/sync/compare.ts';
import { conflictVerdict, needsTransfer } from '../engines/sync/diff.ts';
import { describeError, errorCode } from '../aws/errors.ts';
import { reconcileManifest, type ManifestReconcile } from '../engines/manifest/manifest-sync.ts';
import { HashCache, hashCachePath } from '../engines/sync/hash-cache.ts';
import { listBucket } from '../engines/sync/listing.ts';
import { scanLocal } from '../engines/sync/scan.ts';
import type { StoredFile } from '../engines/sync/stored-file.ts';

export type ListingOutcome = { ok: true; listing: StoredFile[] } | { ok: false; result: StepResult<never> };

/** A listing of the site's bucket; a bucket that cannot be listed fails the step fatally. */
export async function listSiteBucket(ctx: StepContext, step: StepName): Promise<ListingOutcome> {
  const bucket = ctx.site.automation.bucket;
  ctx.log.activity(`listing s3://${bucket}`);
  try {
    const listing = await listBucket({ s3: ctx.clients.s3(), bucket, folders: ctx.syncFolders, signal: ctx.signal, log: ctx.log });
    ctx.log.debug(`listed ${listing.length} objects in s3://${bucket}`);
    return { ok: true, listing };
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const message = `cannot list bucket ${bucket}: ${describeError(error)}`;
    return {
      ok: false,
      result: { status: 'failed', fatal: true, message, counts: {}, errors: [{ site: ctx.site.id, step, subject: `s3://${bucket}`, message, code: errorCode(error) }] },
    };
  }
}

/** pre-sync's listing when it ran, else a fresh one. */
export async function listingFor(ctx: StepContext, step: StepName, preSync: PreSyncOutput | undefined): Promise<ListingOutcome> {
  return preSync ? { ok: true, listing: preSync.listing } : listSiteBucket(ctx, step);
}

/** pre-sync's hash cache when it ran, else the one on disk. */
export async function hashCacheFor(ctx: StepContext, preSync: PreSyncOutput | undefined): Promise<HashCache> {
  return preSync?.hashCache ?? (await HashCache.load(hashCachePath(ctx.localRoot, ctx.site.id)));
}

/** Save the cache; a dry run writes nothing, and a failure only costs hashing next time. */
export async function saveCache(ctx: StepContext, cache: HashCache): Promise<void> {
  if (ctx.dryRun) return;
  try {
    await cache.save();
  } catch (error) {
    ctx.log.warn(`cannot save the hash cache ${cache.file}: ${describeError(error)}`);
  }
}

/**
 * Conflict log lines, one per conflict over the whole run: the step that resolves a real
 * conflict warns (a transfer that keeps the loser's copy says where it went); routine updates,
 * and conflicts left for the other direction, are debug lines. The consistency report counts them.
 */
export function logConflicts(ctx: StepContext, conflicts: readonly Conflict[], direction: Direction | 'report'): void {
  for (const conflict of conflicts) {
    if (direction === 'report') {
      ctx.log.debug(`conflict ${conflict.key}: ${conflict.detail}`);
      continue;
    }
    const decision = needsTransfer(conflict, direction);
    const verdict = conflictVerdict(conflict);
    const keepsLoser = decision.transfer && !verdict.routine && conflict.empty === undefined;
    if (decision.transfer && !verdict.routine && !keepsLoser) ctx.log.warn(`${conflict.key}: ${decision.reason}`);
    else ctx.log.debug(`${conflict.key}: ${decision.reason}`);
  }
}

/**
 * This site's local tree against `listing`, hashing only where a same-size pair needs it.
 * `scanned`: the local tree if the caller already scanned it.
 */
export async function compareSite(ctx: StepContext, listing: readonly StoredFile[], cache: HashCache, scanned?: LocalFile[]): Promise<SyncDiff> {
  const { diff } = await compareWithListing({ localDir: ctx.site.localDir, folders: ctx.syncFolders, listing, cache, signal: ctx.signal, log: ctx.log, scanned });
  return diff;
}

/** The local scan, started while the bucket is still being listed (it needs no listing). `leftovers`: as scanLocal's. */
export function scanSite(ctx: StepContext, cache: HashCache, leftovers?: string[]): Promise<LocalFile[]> {
  return scanLocal(ctx.site.localDir, ctx.syncFolders, cache, leftovers);
}

/** The manifest basis for rss and upload: pre-sync's, or established now when pre-sync did not run. */
export async function manifestBasisFor(ctx: StepContext, step: StepName, known: PreSyncOutput['manifest'] | undefined): Promise<ManifestReconcile> {
  if (known) return { basis: known, errors: [], notes: [] };
  return reconcileManifest(ctx, step, 'unlisted');
}
