// upload (ARCHITECTURE.md "Steps" and "Sync rules"): send every file that is local but missing
// in the bucket, and every conflict the local side wins, in every synced folder: this run's new
// files and the backlog of earlier runs alike; then publish the manifest, merged with the
// bucket's copy. Decided against pre-sync's comparison while rss and transcribe wrote nothing,
// else against a fresh scan. Uploads are verified and retried; a failure is reported and the
// rest continue.
import path from 'node:path';
import type { PreSyncOutput, RssOutput, StepContext, StepResult, TranscribeOutput, UploadOutput } from './contract.ts';
import { formatBytes } from '../platform/format.ts';
import type { S3Key, TransferCount } from '../platform/types.ts';
import { planTransfers, type PlannedTransfer, type SyncDiff } from '../engines/sync/diff.ts';
import { topFolder } from '../engines/sync/ignore.ts';
import { pushToBucket } from '../engines/sync/push.ts';
import { MANIFEST_KEY } from '../site/manifest.ts';
import { publishManifest } from '../engines/manifest/manifest-sync.ts';
import { updateSiteState } from '../site/site-state.ts';
import { compareSite, hashCacheFor, listingFor, logConflicts, manifestBasisFor, saveCache } from './sync-support.ts';

export interface UploadInput {
  preSync?: PreSyncOutput;
  rss?: RssOutput;
  transcribe?: TranscribeOutput;
}

export async function upload(ctx: StepContext, input: UploadInput): Promise<StepResult<UploadOutput>> {
  const listed = await listingFor(ctx, 'upload', input.preSync);
  if (!listed.ok) return listed.result;
  const cache = await hashCacheFor(ctx, input.preSync);
  const created = new Set<string>([...(input.rss?.created ?? []), ...(input.transcribe?.created ?? [])]);
  // pre-sync's comparison still describes the local tree when nothing was written since.
  const diff: SyncDiff = input.preSync && created.size === 0 ? input.preSync.comparison : await compareSite(ctx, listed.listing, cache);
  const planned = [...planTransfers(diff, 'upload'), ...(ctx.dryRun ? notYetOnDisk(ctx, created, diff) : [])];
  logConflicts(ctx, diff.conflicts, 'upload');

  // Owed from the first byte sent: a run killed between its last upload and the invocation
  // leaves the invocation pending for the next run (tasks/site/site-state.ts).
  if (planned.length > 0 && !ctx.dryRun) await owePendingIndex(ctx, `${planned.length} files uploaded by run ${ctx.options.runId}`);
  const { outcome } = await pushToBucket(ctx, planned, cache);

  // The manifest goes last, merged with the bucket's copy: it names files that are now there.
  const basis = await manifestBasisFor(ctx, 'upload', input.rss?.manifest ?? input.preSync?.manifest);
  const manifest =
    ctx.dryRun && created.has(MANIFEST_KEY) && ctx.syncFolders.includes('episode-manifest') && basis.basis.kind !== 'unavailable'
      ? await planManifestUpload(ctx)
      : await publishManifest(ctx, basis.basis, cache);
  if (manifest.kind === 'published' && planned.length === 0 && !ctx.dryRun) await owePendingIndex(ctx, `the manifest was published by run ${ctx.options.runId}`);
  await saveCache(ctx, cache);
  const errors = [...basis.errors, ...outcome.errors, ...(manifest.kind === 'failed' ? [manifest.error] : [])];
  for (const e of basis.errors) ctx.log.error(e.message);
  if (manifest.kind === 'failed') ctx.log.error(manifest.error.message);
  if (manifest.kind === 'left') ctx.log.warn(`${MANIFEST_KEY} not uploaded: ${manifest.reason}`);

  if (ctx.dryRun) {
    const keys = [...planned.map((t) => t.key), ...(manifest.kind === 'published' ? [MANIFEST_KEY as S3Key] : [])].sort();
    const plannedBytes = planned.reduce((sum, t) => sum + t.size, 0);
    const output = { uploaded: keys };
    if (keys.length === 0) return { status: 'up-to-date', message: 'nothing missing in the bucket', counts: {}, errors, output };
    return { status: 'ok', message: `would upload ${keys.length} files (${formatBytes(plannedBytes)})`, counts: {}, errors, output };
  }

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
  const output: UploadOutput = { uploaded: keys as S3Key[] };
  let backlog = 0;
  for (const key of keys) {
    if (created.has(key)) continue;
    counts[topFolder(key)]!.backlogFiles! += 1;
    backlog++;
  }
  const bytes = outcome.bytes + (manifest.kind === 'published' ? manifest.bytes : 0);
  if (keys.length === 0 && errors.length === 0) {
    return { status: 'up-to-date', message: `nothing missing in the bucket (${diff.consistent.length} files consistent)`, counts: {}, errors: [], output };
  }
  const merged = manifest.kind === 'published' && manifest.merges > 0 ? `; the manifest was merged with another machine's ${manifest.merges} time${manifest.merges === 1 ? '' : 's'}` : '';
  const done = `uploaded ${keys.length} files (${formatBytes(bytes)}${backlog > 0 ? `, ${backlog} from earlier runs` : ''})${merged}`;
  if (errors.length > 0) return { status: 'failed', fatal: false, message: `${done}; ${errors.length} failed`, counts: { uploaded: counts }, errors, output };
  return { status: 'ok', message: done, counts: { uploaded: counts }, errors: [], output };
}

/**
 * Dry run: files rss or transcribe would have written are not on disk, yet the real run
 * would upload them. They are planned with the reason the real run would give.
 */
function notYetOnDisk(ctx: StepContext, created: ReadonlySet<string>, diff: SyncDiff): PlannedTransfer[] {
  const known = new Set<string>([...diff.localOnly.map((f) => f.key), ...diff.consistent.map((f) => f.local.key), ...diff.conflicts.map((c) => c.key)]);
  const planned: PlannedTransfer[] = [];
  for (const key of [...created].sort()) {
    if (key === MANIFEST_KEY || known.has(key) || !ctx.syncFolders.includes(topFolder(key))) continue;
    planned.push({ key: key as S3Key, size: 0, reason: 'made by this run (missing in the bucket)', local: { key: key as S3Key, path: path.join(ctx.site.localDir, key), size: 0, modified: new Date(), mtimeMs: 0 } });
  }
  return planned;
}

/** Dry run: the manifest rss would have written goes up in the real run. */
async function planManifestUpload(ctx: StepContext): Promise<{ kind: 'published'; etag: undefined; bytes: number; merges: number }> {
  await ctx.effect({ kind: 'upload', target: `s3://${ctx.site.automation.bucket}/${MANIFEST_KEY}`, reason: 'the local manifest has episodes the bucket lacks' }, async () => undefined);
  return { kind: 'published', etag: undefined, bytes: 0, merges: 0 };
}

async function owePendingIndex(ctx: StepContext, reason: string): Promise<void> {
  await updateSiteState(ctx.localRoot, ctx.site.id, (state) => {
    state.pendingIndex ??= { since: new Date().toISOString(), reason };
  });
}
