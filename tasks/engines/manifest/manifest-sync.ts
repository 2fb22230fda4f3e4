// The episode manifest between this machine and the bucket (ARCHITECTURE.md, "Episode
// manifest"): a merged document, never a file that one side wins.
//
//   reconcile (pre-sync): the local copy becomes local ∪ bucket. The result says what rss
//     may build on: the bucket's version that was merged (`bucket`), the listing's proof that
//     there is none (`absent`), or `unavailable` when the bucket's copy could not be read:
//     rss then adds no episode and upload leaves the bucket's copy alone.
//   publish (upload): local ∪ bucket's current copy, written only over the version it was
//     merged with (If-Match), the read-merge-write repeated when another writer got there first.
//
// An empty, truncated or unparseable copy never replaces a parseable one, on either side; it
// is reported with its site and side. When neither parses, the newest backup is used.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { SiteWork } from '../site-work.ts';
import { describeError, errorCode } from '../../aws/errors.ts';
import { MANIFEST_KEY, manifestPath, mergeManifests, parseManifest, serializeManifest, emptyManifest, type Manifest } from '../../site/manifest.ts';
import { manifestBackupDir, newestGoodBackup, readLocalManifest, writeManifestWithBackup, type LocalManifest } from '../../site/manifest-store.ts';
import { fetchBucketManifest, putBucketManifest, type ManifestObjectInput } from './manifest-object.ts';
import type { CacheEntry, HashCache } from '../sync/hash-cache.ts';
import type { StepError, StepName } from '../../platform/types.ts';
import { type StoredFile } from '../sync/stored-file.ts';

/** What rss and upload may build on, as established this run. */
export type ManifestBasis =
  /** The bucket's copy as merged into the local one (its ETag, and the MD5 of its text). */
  | { kind: 'bucket'; etag: string | undefined; md5: string }
  /** The bucket has no manifest (the listing, or a 404, says so). */
  | { kind: 'absent' }
  /** The bucket's copy could not be read: add nothing, upload nothing. */
  | { kind: 'unavailable'; reason: string }
  /** `episode-manifest` is not a synced folder (--sync-folders): the local copy alone. */
  | { kind: 'not-synced' };

/** The bucket's copy as read this run. */
export type BucketManifest =
  | { kind: 'ok'; manifest: Manifest; text: string; etag: string | undefined; lastModified?: Date }
  | { kind: 'absent' } | { kind: 'invalid'; reason: string; etag: string | undefined };

export interface ManifestDecision {
  /** The new local content, when it must change: the bucket's own bytes when it is the bucket's copy. */
  write?: { manifest: Manifest; text: string };
  /** Damaged copies, by side. */
  problems: { side: 'local' | 'bucket'; reason: string }[];
  /** The backup the content came from, when neither copy parsed. */
  restoredFrom?: string;
  /** Episodes the bucket's copy lacked and the local one had (upload will publish them). */
  localOnly: number;
}

/**
 * Pure: the local manifest after reconciling with the bucket's copy. The bucket's entries win
 * for an episode both hold; every episode of either side is kept. When the local copy does not
 * parse (or is gone), the newest backup stands in for it.
 */
export function decideManifest(local: LocalManifest, bucket: BucketManifest, backup?: { manifest: Manifest; name: string }): ManifestDecision {
  const problems: ManifestDecision['problems'] = [];
  if (local.kind === 'invalid') problems.push({ side: 'local', reason: local.reason });
  if (bucket.kind === 'invalid') problems.push({ side: 'bucket', reason: bucket.reason });
  const usable = local.kind === 'ok' ? local.manifest : backup?.manifest;
  const restoredFrom = local.kind !== 'ok' && backup ? { restoredFrom: backup.name } : {};
  if (bucket.kind !== 'ok') {
    // The local copy is the only good one: it stays as it is (upload repairs the bucket).
    if (local.kind === 'ok') return { problems, localOnly: local.manifest.episodes.length };
    if (usable) return { write: document(usable), problems, ...restoredFrom, localOnly: usable.episodes.length };
    // Nothing parses: an empty manifest that rss rebuilds from the feeds, adopting the
    // episodes' existing files (the damaged copy is kept as a backup by the write).
    return { write: local.kind === 'invalid' ? document(emptyManifest()) : undefined, problems, localOnly: 0 };
  }
  if (!usable) return { write: { manifest: bucket.manifest, text: bucket.text }, problems, localOnly: 0 };
  const merged = publishDecision(usable, bucket);
  return {
    write: local.kind === 'ok' && local.text === merged.text ? undefined : merged,
    problems,
    ...restoredFrom,
    localOnly: merged.added,
  };
}

/**
 * Pure: local ∪ the bucket's current copy, as the text both sides should hold (the bucket's
 * own bytes when it already has every episode). A damaged bucket copy counts for nothing.
 */
export function publishDecision(local: Manifest, bucket: BucketManifest): { manifest: Manifest; text: string; added: number } {
  if (bucket.kind !== 'ok') return { ...document(local), added: local.episodes.length };
  const merged = mergeManifests(bucket.manifest, local);
  return { manifest: merged.manifest, text: merged.changed ? serializeManifest(merged.manifest) : bucket.text, added: merged.added.length };
}

function document(manifest: Manifest): { manifest: Manifest; text: string } {
  return { manifest, text: serializeManifest(manifest) };
}

export interface ManifestReconcile {
  basis: ManifestBasis;
  /** Bytes of the bucket's copy written locally as it is (a download, counted as one). */
  downloadedBytes?: number;
  /** The local file that download made (the comparison counts it consistent). */
  downloaded?: { size: number; mtimeMs: number; md5: string; etag: string | undefined; modified: Date };
  errors: StepError[];
  /** Info lines for the step's log. */
  notes: string[];
}

const md5Of = (text: string) => createHash('md5').update(text).digest('hex');

function objectInput(ctx: SiteWork): ManifestObjectInput {
  return { s3: ctx.clients.s3(), bucket: ctx.site.automation.bucket, signal: ctx.signal, log: ctx.log };
}

/**
 * pre-sync's part: bring the local manifest to local ∪ bucket. `listed` is the manifest's
 * listing entry (undefined: the listing proves there is none; 'unlisted': no listing was
 * taken, so ask the bucket directly).
 */
export async function reconcileManifest(ctx: SiteWork, step: StepName, listed: StoredFile | undefined | 'unlisted', cache?: HashCache): Promise<ManifestReconcile> {
  if (!ctx.syncFolders.includes('episode-manifest')) return { basis: { kind: 'not-synced' }, errors: [], notes: [] };
  const file = manifestPath(ctx.site.localDir);
  // The bucket's copy: known equal to the local one without a request when the listing's ETag
  // is the local MD5 (or the ETag the hash cache recorded for this local version). In the
  // nightly case the hash cache also knows the MD5: nothing to read, parse or hash (3 MB at
  // 5,000 episodes).
  const listedObject = listed === 'unlisted' ? undefined : listed;
  const known = listedObject ? await cachedVersion(file, cache) : undefined;
  if (listedObject && known?.md5 !== undefined && sameAsListed(known.md5, known, listedObject)) {
    return { basis: { kind: 'bucket', etag: listedObject.etag, md5: known.md5 }, errors: [], notes: [] };
  }
  const local = await readLocalManifest(file);
  const error = (message: string, code?: string): StepError => ({ site: ctx.site.id, step, subject: MANIFEST_KEY, message, ...(code ? { code } : {}) });

  let bucket: BucketManifest;
  const localMd5 = local.kind === 'ok' ? md5Of(local.text) : undefined;
  if (listed === undefined) bucket = { kind: 'absent' };
  else if (listedObject && localMd5 !== undefined && sameAsListed(localMd5, known, listedObject)) {
    return { basis: { kind: 'bucket', etag: listedObject.etag, md5: localMd5 }, errors: [], notes: [] };
  } else {
    try {
      const fetched = await fetchBucketManifest(objectInput(ctx));
      if (fetched.kind === 'absent') bucket = { kind: 'absent' };
      else if (fetched.kind === 'not-modified') throw new Error('unexpected 304 without a condition');
      else {
        const parsed = parseManifest(fetched.text);
        bucket = parsed.ok
          ? { kind: 'ok', manifest: parsed.manifest, text: fetched.text, etag: fetched.etag, lastModified: listed === 'unlisted' ? fetched.lastModified : listed.modified }
          : { kind: 'invalid', reason: parsed.reason, etag: fetched.etag };
      }
    } catch (failure) {
      if (ctx.signal.aborted) throw failure;
      const reason = `cannot download the bucket's ${MANIFEST_KEY}: ${describeError(failure)}; no episode is added and the manifest is not uploaded this run`;
      return { basis: { kind: 'unavailable', reason }, errors: [error(reason, errorCode(failure))], notes: [] };
    }
  }

  const read: BucketManifest = bucket;
  const backupDir = manifestBackupDir(ctx.localRoot, ctx.site.id);
  const needsBackup = local.kind !== 'ok';
  const decision = decideManifest(local, bucket, needsBackup ? await newestGoodBackup(backupDir) : undefined);
  const errors = decision.problems.map((p) =>
    error(
      p.side === 'bucket'
        ? `the bucket's copy of the manifest is damaged (${p.reason}); kept the ${local.kind === 'ok' ? 'local copy, which upload puts back' : 'local state'}`
        : `the local copy of the manifest is damaged (${p.reason}); ${bucket.kind === 'ok' ? "replaced by the bucket's copy" : 'kept as a backup'}`,
    ),
  );
  const notes: string[] = [];
  if (decision.restoredFrom) notes.push(`no copy of the manifest parses: restored the backup ${decision.restoredFrom}`);
  let downloadedBytes: number | undefined;
  let written: ManifestReconcile['downloaded'];
  if (decision.write) {
    // The bucket's copy as it is gets the object's LastModified, like any download.
    const asIs = read.kind === 'ok' && decision.write.text === read.text ? read : undefined;
    const text = await ctx.effect({ kind: 'write', target: MANIFEST_KEY, reason: describeWrite(local, read, decision) }, () =>
      writeManifestWithBackup(file, decision.write!.text, backupDir, asIs?.lastModified),
    );
    if (text !== undefined && asIs) {
      downloadedBytes = Buffer.byteLength(text);
      const info = await stat(file);
      cache?.remember(MANIFEST_KEY, { size: info.size, mtimeMs: info.mtimeMs, md5: md5Of(text), etag: asIs.etag });
      written = { size: info.size, mtimeMs: info.mtimeMs, md5: md5Of(text), etag: asIs.etag, modified: info.mtime };
    }
  }
  if (decision.localOnly > 0 && bucket.kind === 'ok') notes.push(`${decision.localOnly} episode${decision.localOnly === 1 ? '' : 's'} of the local manifest are not in the bucket's yet (upload publishes them)`);
  const basis: ManifestBasis = bucket.kind === 'absent' ? { kind: 'absent' } : { kind: 'bucket', etag: bucket.etag, md5: bucket.kind === 'ok' ? md5Of(bucket.text) : '' };
  return { basis, errors, notes, ...(downloadedBytes !== undefined ? { downloadedBytes, downloaded: written } : {}) };
}

function describeWrite(local: LocalManifest, bucket: BucketManifest, decision: ManifestDecision): string {
  if (decision.restoredFrom) return `restore the backup ${decision.restoredFrom}`;
  if (local.kind === 'missing') return "the bucket's manifest";
  if (local.kind === 'invalid') return bucket.kind === 'ok' ? "replace the damaged local copy with the bucket's" : 'start a new manifest (the damaged copy is kept as a backup)';
  return "merge the bucket's episodes into the local manifest";
}

/** What the hash cache knows of the local manifest as it is now (same size and mtime). */
async function cachedVersion(file: string, cache: HashCache | undefined): Promise<CacheEntry | undefined> {
  if (!cache) return undefined;
  const info = await stat(file).catch(() => undefined);
  return info && cache.lookup(MANIFEST_KEY, info.size, info.mtimeMs);
}

/** Whether the listed object is exactly this local version (no GET needed): by MD5, or by the ETag the cache recorded for it. */
function sameAsListed(localMd5: string, known: CacheEntry | undefined, listed: StoredFile): boolean {
  if (listed.md5 !== undefined) return listed.md5 === localMd5;
  return listed.etag !== undefined && known?.etag === listed.etag;
}

export type PublishOutcome =
  | { kind: 'up-to-date' }
  | { kind: 'published'; etag: string | undefined; bytes: number; merges: number }
  | { kind: 'left'; reason: string }
  | { kind: 'failed'; error: StepError };

/** Attempts of read-merge-write when other writers keep getting there first. */
const PUBLISH_ATTEMPTS = 5;

/**
 * upload's part: publish local ∪ bucket. Before writing, the bucket's copy is read again
 * (a 304 when it is still the one merged with), so a server that ignores If-Match still
 * leaves only a narrow window; a server that honours it closes the window entirely.
 */
export async function publishManifest(ctx: SiteWork, basis: ManifestBasis, cache?: HashCache): Promise<PublishOutcome> {
  if (basis.kind === 'not-synced') return { kind: 'up-to-date' };
  if (basis.kind === 'unavailable') return { kind: 'left', reason: "the bucket's copy could not be read this run" };
  const file = manifestPath(ctx.site.localDir);
  const backupDir = manifestBackupDir(ctx.localRoot, ctx.site.id);
  const error = (message: string, code?: string): PublishOutcome => ({ kind: 'failed', error: { site: ctx.site.id, step: 'upload', subject: MANIFEST_KEY, message, ...(code ? { code } : {}) } });
  // Still the version pre-sync found equal to the bucket's (the nightly case): the hash cache
  // knows its MD5, so it is not read.
  if (basis.kind === 'bucket' && (await cachedVersion(file, cache))?.md5 === basis.md5) return { kind: 'up-to-date' };
  let local = await readLocalManifest(file);
  if (local.kind === 'missing') return { kind: 'up-to-date' };
  if (local.kind === 'invalid') return error(`the local manifest is damaged (${local.reason}); not uploaded`);
  if (basis.kind === 'bucket' && basis.md5 === md5Of(local.text)) return { kind: 'up-to-date' };

  const input = objectInput(ctx);
  // The bucket's version the local copy was last merged with.
  let known: { etag: string } | 'absent' = basis.kind === 'bucket' && basis.etag ? { etag: basis.etag } : 'absent';
  let merges = 0;
  try {
    for (let attempt = 1; attempt <= PUBLISH_ATTEMPTS; attempt++) {
      // 1. The bucket's current copy: a 304 while it is still the one merged with. When this
      // run's listing said there is none, the conditional create below stands alone.
      const current = attempt === 1 && known === 'absent' ? ({ kind: 'absent' } as const) : await fetchBucketManifest(input, known === 'absent' ? undefined : known.etag);
      if (current.kind === 'absent') known = 'absent';
      if (current.kind === 'fetched') {
        known = current.etag ? { etag: current.etag } : 'absent';
        const parsed = parseManifest(current.text);
        if (!parsed.ok) ctx.log.warn(`the bucket's ${MANIFEST_KEY} is damaged (${parsed.reason}): replacing it with the local copy`);
        const merged = publishDecision(local.manifest, parsed.ok ? { kind: 'ok', manifest: parsed.manifest, text: current.text, etag: current.etag } : { kind: 'invalid', reason: parsed.reason, etag: current.etag });
        if (merged.text !== local.text) {
          const written = await ctx.effect({ kind: 'write', target: MANIFEST_KEY, reason: 'merge the episodes another machine published meanwhile' }, () =>
            writeManifestWithBackup(file, merged.text, backupDir),
          );
          if (written === undefined) return { kind: 'up-to-date' };
          local = { kind: 'ok', manifest: merged.manifest, text: merged.text };
          merges++;
        }
        if (merged.text === current.text) {
          await rememberPublished(file, merged.text, current.etag, cache);
          return { kind: 'up-to-date' };
        }
      }
      // 2. Write over exactly that version; if another writer got there first, read and merge again.
      const text = local.text;
      const expected = known;
      const put = await ctx.effect({ kind: 'upload', target: `s3://${input.bucket}/${MANIFEST_KEY}`, reason: 'the local manifest has episodes the bucket lacks' }, () =>
        putBucketManifest(input, text, expected),
      );
      if (put === undefined) return { kind: 'published', etag: undefined, bytes: 0, merges };
      if (put.kind === 'written') {
        await rememberPublished(file, text, put.etag, cache);
        return { kind: 'published', etag: put.etag, bytes: Buffer.byteLength(text), merges };
      }
      ctx.log.info(`${MANIFEST_KEY} changed in the bucket while publishing (another machine): merging again`);
    }
  } catch (failure) {
    if (ctx.signal.aborted) throw failure;
    return error(`upload failed: ${describeError(failure)}`, errorCode(failure));
  }
  return error(`the bucket's manifest kept changing during ${PUBLISH_ATTEMPTS} attempts to publish it; the next run tries again`);
}

async function rememberPublished(file: string, text: string, etag: string | undefined, cache?: HashCache): Promise<void> {
  if (!cache) return;
  const info = await stat(file);
  cache.remember(MANIFEST_KEY, { size: info.size, mtimeMs: info.mtimeMs, md5: md5Of(text), ...(etag ? { etag } : {}) });
}
