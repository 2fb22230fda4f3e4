// What the three sync steps share around the storage layer: the run's one bucket listing
// (ctx.state.bucketListing), the failure a step returns when the bucket cannot be listed,
// the hash cache's load and save, the conflict log line, and pre-sync's comparison for the
// later steps while the local tree has not changed.
import { commitMark, committedUnderSince } from '../atomic.ts';
import type { StepContext, StoredFile } from '../context.ts';
import type { StepName, StepResult } from '../types.ts';
import type { Conflict, Direction, LocalFile, SyncDiff } from './diff.ts';
import { compareWithListing } from './compare.ts';
import { conflictVerdict, needsTransfer } from './diff.ts';
import { describeError, errorCode } from '../aws/errors.ts';
import { HashCache, hashCachePath } from './hash-cache.ts';
import { listBucket } from './listing.ts';
import { scanLocal } from './scan.ts';

export type ListingOutcome = { ok: true; listing: StoredFile[] } | { ok: false; result: StepResult };

/** The listing pre-sync took, or a fresh one when pre-sync did not run (--only/--skip). */
export async function bucketListing(ctx: StepContext, step: StepName, options: { fresh?: boolean } = {}): Promise<ListingOutcome> {
  if (ctx.state.bucketListing && !options.fresh) return { ok: true, listing: ctx.state.bucketListing };
  const bucket = ctx.site.automation.bucket;
  ctx.log.activity(`listing s3://${bucket}`);
  try {
    const listing = await listBucket({
      s3: ctx.clients.s3(),
      bucket,
      folders: ctx.options.syncFolders,
      signal: ctx.signal,
      log: ctx.log,
    });
    ctx.state.bucketListing = listing;
    ctx.log.debug(`listed ${listing.length} objects in s3://${bucket}`);
    return { ok: true, listing };
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const message = `cannot list bucket ${bucket}: ${describeError(error)}`;
    return {
      ok: false,
      result: {
        status: 'failed',
        fatal: true,
        message,
        counts: {},
        errors: [{ site: ctx.site.id, step, subject: `s3://${bucket}`, message, code: errorCode(error) }],
      },
    };
  }
}

/** The site's hash cache: read from disk by the first sync step of the run, then shared. */
export async function loadCache(ctx: StepContext): Promise<HashCache> {
  ctx.state.hashCache ??= await HashCache.load(hashCachePath(ctx.options.localRoot, ctx.site.id));
  return ctx.state.hashCache;
}

/** Save the cache; a dry run writes nothing, and a failure only costs hashing next time. */
export async function saveCache(ctx: StepContext, cache: HashCache): Promise<void> {
  if (ctx.options.dryRun) return;
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
  const { diff } = await compareWithListing({
    localDir: ctx.site.localDir,
    folders: ctx.options.syncFolders,
    listing,
    cache,
    signal: ctx.signal,
    log: ctx.log,
    scanned,
  });
  rememberComparison(ctx, listing, diff);
  return diff;
}

/** The local scan, started while the bucket is still being listed (it needs no listing). */
export function scanSite(ctx: StepContext, cache: HashCache): Promise<LocalFile[]> {
  return scanLocal(ctx.site.localDir, ctx.options.syncFolders, cache);
}

/** pre-sync's comparison once its downloads are in place: they are consistent now. */
export function rememberComparison(ctx: StepContext, listing: readonly StoredFile[], diff: SyncDiff): void {
  ctx.state.comparison = { listing, diff, mark: commitMark() };
}

/**
 * The site's last comparison, still true when it was made against the run's listing and no
 * file has been put in place under the site's folder since (every write goes through
 * tasks/atomic.ts, which logs each commit; the run lock keeps other runs out).
 */
export function comparisonStillValid(ctx: StepContext): SyncDiff | undefined {
  const last = ctx.state.comparison;
  if (!last || last.listing !== ctx.state.bucketListing) return undefined;
  return committedUnderSince(ctx.site.localDir, last.mark) ? undefined : last.diff;
}
