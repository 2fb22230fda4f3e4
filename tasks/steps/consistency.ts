// consistency (ARCHITECTURE.md "Steps"): a read-only report of local vs bucket after pre-sync, per
// folder: localOnly (upload will send them), s3Only (pre-sync could not fetch them),
// consistent, and conflicts with their reason and newer side. Reuses the run's listing.
import type { PreSyncOutput, StepContext, StepResult } from './contract.ts';
import { countByFolder } from '../engines/sync/diff.ts';
import { compareSite, hashCacheFor, listSiteBucket, logConflicts, saveCache } from './sync-support.ts';

/** Compares what pre-sync left (its comparison after its downloads), or afresh when pre-sync did not run. */
export async function consistency(ctx: StepContext, input: { preSync?: PreSyncOutput }): Promise<StepResult<void>> {
  let diff = input.preSync?.comparison;
  if (!diff) {
    const listed = await listSiteBucket(ctx, 'consistency');
    if (!listed.ok) return listed.result;
    const cache = await hashCacheFor(ctx, undefined);
    diff = await compareSite(ctx, listed.listing, cache);
    await saveCache(ctx, cache);
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
    return { status: 'up-to-date', message: `all ${counts.consistent} files consistent`, counts, errors: [], output: undefined };
  }
  const message = [
    `${counts.consistent} consistent`,
    `${counts.localOnly} local-only`,
    `${counts.s3Only} s3-only`,
    `${counts.conflicts} conflict${counts.conflicts === 1 ? '' : 's'}`,
  ].join(', ');
  return { status: 'ok', message, counts, errors: [], output: undefined };
}
