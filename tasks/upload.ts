// upload (DESIGN §1, §4): send every file that is local but missing in the bucket, and every
// conflict the local side wins, in every synced folder: this run's new files and the
// backlog of earlier runs alike. Decided against the run's one listing and a fresh local
// scan when rss or transcribe wrote files since pre-sync (else pre-sync's comparison holds). Uploads are verified and retried;
// a failure is reported and the rest continue.
import type { StepFunction } from './context.ts';
import { formatBytes } from './summary.ts';
import type { S3Key, StepResult, TransferCount } from './types.ts';
import { planTransfers } from './storage/diff.ts';
import { topFolder } from './storage/ignore.ts';
import { bucketListing, compareSite, comparisonStillValid, loadCache, logConflicts, saveCache } from './storage/step-support.ts';
import { runTransfers } from './storage/transfers.ts';
import { uploadFile } from './storage/upload-file.ts';

export const upload: StepFunction = async (ctx): Promise<StepResult> => {
  const listed = await bucketListing(ctx, 'upload');
  if (!listed.ok) return listed.result;
  const cache = await loadCache(ctx);
  const diff = comparisonStillValid(ctx) ?? (await compareSite(ctx, listed.listing, cache));
  const planned = planTransfers(diff, 'upload');
  logConflicts(ctx, diff.conflicts, 'upload');
  if (planned.length === 0) {
    await saveCache(ctx, cache);
    return { status: 'up-to-date', message: `nothing missing in the bucket (${diff.consistent.length} files consistent)`, counts: {}, errors: [] };
  }

  const s3 = ctx.clients.s3();
  const bucket = ctx.site.automation.bucket;
  const outcome = await runTransfers(ctx, 'upload', planned, async (transfer, onProgress) => {
    const result = await uploadFile({ s3, partsClient: ctx.clients.s3Parts, bucket, file: transfer.local!, signal: ctx.signal, log: ctx.log, onProgress });
    cache.remember(transfer.key, { size: result.size, mtimeMs: result.mtimeMs, md5: result.md5, etag: result.etag });
  });
  await saveCache(ctx, cache);

  const plannedBytes = planned.reduce((sum, t) => sum + t.size, 0);
  if (ctx.options.dryRun) {
    return { status: 'ok', message: `would upload ${planned.length} files (${formatBytes(plannedBytes)})`, counts: {}, errors: [] };
  }

  // The index step reads these.
  const keys = outcome.done.map((t) => t.key).sort();
  ctx.state.uploadedKeys.push(...keys);

  const counts: Record<string, TransferCount> = {};
  for (const [folder, c] of Object.entries(outcome.counts)) counts[folder] = { ...c, backlogFiles: 0 };
  let backlog = 0;
  for (const key of keys) {
    if (ctx.state.createdThisRun.has(key as S3Key)) continue;
    counts[topFolder(key)]!.backlogFiles! += 1;
    backlog++;
  }
  const done = `uploaded ${outcome.done.length} files (${formatBytes(outcome.bytes)}${backlog > 0 ? `, ${backlog} from earlier runs` : ''})`;
  if (outcome.errors.length > 0) {
    return { status: 'failed', fatal: false, message: `${done}; ${outcome.errors.length} failed`, counts: { uploaded: counts }, errors: outcome.errors };
  }
  return { status: 'ok', message: done, counts: { uploaded: counts }, errors: [] };
};
