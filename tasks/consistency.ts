// consistency (DESIGN §1): a read-only report of local vs bucket after pre-sync, per
// folder: localOnly (upload will send them), s3Only (pre-sync could not fetch them),
// consistent, and conflicts with their reason and newer side. Reuses the run's listing.
import type { StepContext, StepFunction } from './context.ts';
import type { StepResult } from './types.ts';
import { countByFolder, type SyncDiff } from './storage/diff.ts';
import { bucketListing, compareSite, comparisonStillValid, loadCache, logConflicts, saveCache } from './storage/step-support.ts';

export const consistency: StepFunction = async (ctx): Promise<StepResult> => {
  let diff = comparisonStillValid(ctx);
  if (!diff) {
    const fresh = await compareAfresh(ctx);
    if (!fresh.ok) return fresh.result;
    diff = fresh.diff;
  }

  logConflicts(ctx, diff.conflicts, 'report');
  const byFolder = countByFolder(diff, ctx.options.syncFolders);
  for (const [folder, c] of Object.entries(byFolder)) {
    if (c.localOnly + c.s3Only + c.conflicts + c.consistent === 0) continue;
    ctx.log.debug(`${folder}: ${c.consistent} consistent, ${c.localOnly} local-only, ${c.s3Only} s3-only, ${c.conflicts} conflicts`);
  }
  if (ctx.options.verbose) {
    for (const f of diff.localOnly) ctx.log.debug(`local-only ${f.key}`);
    for (const f of diff.s3Only) ctx.log.debug(`s3-only ${f.key}`);
  }
  const counts = {
    localOnly: diff.localOnly.length,
    s3Only: diff.s3Only.length,
    consistent: diff.consistent.length,
    conflicts: diff.conflicts.length,
  };
  const differences = counts.localOnly + counts.s3Only + counts.conflicts;
  if (differences === 0) {
    return { status: 'up-to-date', message: `all ${counts.consistent} files consistent`, counts, errors: [] };
  }
  const message = [
    `${counts.consistent} consistent`,
    `${counts.localOnly} local-only`,
    `${counts.s3Only} s3-only`,
    `${counts.conflicts} conflict${counts.conflicts === 1 ? '' : 's'}`,
  ].join(', ');
  return { status: 'ok', message, counts, errors: [] };
};

/** A fresh local scan against the run's listing: it reflects what pre-sync just downloaded. */
async function compareAfresh(ctx: StepContext): Promise<{ ok: true; diff: SyncDiff } | { ok: false; result: StepResult }> {
  const listed = await bucketListing(ctx, 'consistency');
  if (!listed.ok) return listed;
  const cache = await loadCache(ctx);
  const diff = await compareSite(ctx, listed.listing, cache);
  await saveCache(ctx, cache);
  return { ok: true, diff };
}
