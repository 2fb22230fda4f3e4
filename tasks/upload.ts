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
import path from 'node:path';
import { uploadFile } from './storage/upload-file.ts';
import { downloadObject } from './storage/download.ts';
import { conflictCopyPath } from './storage/conflicts.ts';
import { MANIFEST_KEY } from './manifest.ts';
import { manifestBasis, publishManifest } from './manifest-sync.ts';

export const upload: StepFunction = async (ctx): Promise<StepResult> => {
  const listed = await bucketListing(ctx, 'upload');
  if (!listed.ok) return listed.result;
  const cache = await loadCache(ctx);
  const diff = comparisonStillValid(ctx) ?? (await compareSite(ctx, listed.listing, cache));
  const planned = planTransfers(diff, 'upload');
  logConflicts(ctx, diff.conflicts, 'upload');

  const s3 = ctx.clients.s3();
  const bucket = ctx.site.automation.bucket;
  const outcome = await runTransfers(ctx, 'upload', planned, async (transfer, onProgress) => {
    if (transfer.keepLoser && transfer.remote) {
      const kept = conflictCopyPath(ctx.options.localRoot, ctx.site.id, transfer.key, 'bucket');
      await downloadObject({ s3, bucket, object: transfer.remote, destPath: kept, signal: ctx.signal, log: ctx.log });
      ctx.log.warn(`${transfer.key}: ${transfer.reason}; the bucket's copy is kept as ${path.relative(ctx.options.localRoot, kept)}`);
    }
    const result = await uploadFile({ s3, partsClient: ctx.clients.s3Parts, bucket, file: transfer.local!, signal: ctx.signal, log: ctx.log, onProgress });
    cache.remember(transfer.key, { size: result.size, mtimeMs: result.mtimeMs, md5: result.md5, etag: result.etag });
  });
  // The manifest goes last, merged with the bucket's copy: it names files that are now there.
  const basis = await manifestBasis(ctx, 'upload');
  const manifest = await publishManifest(ctx, basis.basis, cache);
  await saveCache(ctx, cache);
  const errors = [...basis.errors, ...outcome.errors, ...(manifest.kind === 'failed' ? [manifest.error] : [])];
  for (const e of basis.errors) ctx.log.error(e.message);
  if (manifest.kind === 'failed') ctx.log.error(manifest.error.message);
  if (manifest.kind === 'left') ctx.log.warn(`${MANIFEST_KEY} not uploaded: ${manifest.reason}`);

  const plannedBytes = planned.reduce((sum, t) => sum + t.size, 0);
  if (ctx.options.dryRun) {
    const files = planned.length + (manifest.kind === 'published' ? 1 : 0);
    if (files === 0) return { status: 'up-to-date', message: 'nothing missing in the bucket', counts: {}, errors: [] };
    return { status: 'ok', message: `would upload ${files} files (${formatBytes(plannedBytes)})`, counts: {}, errors: [] };
  }

  // The index step reads these.
  const keys = outcome.done.map((t) => t.key as string);
  const counts: Record<string, TransferCount> = {};
  for (const [folder, c] of Object.entries(outcome.counts)) counts[folder] = { ...c, backlogFiles: 0 };
  if (manifest.kind === 'published') {
    keys.push(MANIFEST_KEY);
    const folder = (counts[topFolder(MANIFEST_KEY)] ??= { files: 0, bytes: 0, backlogFiles: 0 });
    folder.files++;
    folder.bytes += manifest.bytes;
  }
  keys.sort();
  ctx.state.uploadedKeys.push(...(keys as S3Key[]));
  let backlog = 0;
  for (const key of keys) {
    if (ctx.state.createdThisRun.has(key as S3Key)) continue;
    counts[topFolder(key)]!.backlogFiles! += 1;
    backlog++;
  }
  const bytes = outcome.bytes + (manifest.kind === 'published' ? manifest.bytes : 0);
  if (keys.length === 0 && errors.length === 0) {
    return { status: 'up-to-date', message: `nothing missing in the bucket (${diff.consistent.length} files consistent)`, counts: {}, errors: [] };
  }
  const merged = manifest.kind === 'published' && manifest.merges > 0 ? `; the manifest was merged with another machine's ${manifest.merges} time${manifest.merges === 1 ? '' : 's'}` : '';
  const done = `uploaded ${keys.length} files (${formatBytes(bytes)}${backlog > 0 ? `, ${backlog} from earlier runs` : ''})${merged}`;
  if (errors.length > 0) {
    return { status: 'failed', fatal: false, message: `${done}; ${errors.length} failed`, counts: { uploaded: counts }, errors };
  }
  return { status: 'ok', message: done, counts: { uploaded: counts }, errors: [] };
};
