// Local indexing for one site (ARCHITECTURE.md "Search index"): entry files for transcripts that
// lack them, then the shards whose entry files changed, the single-file index while the site is
// small enough, and the shard manifest. Every index file is built into a temporary first and the
// lot is renamed into place only once all are built, manifest last: a run killed during the build
// leaves the previous index as it was. One build at a time over all sites bounds the memory.
import { copyFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { renameIntoPlace, temporaryPathFor, trackTemporary, writeFileAtomic } from '../../../platform/atomic.ts';
import { formatDuration } from '../../../platform/format.ts';
import { Limiter } from '../../../platform/limiter.ts';
import type { SiteWork } from '../../site-work.ts';
import type { HashCache } from '../../sync/hash-cache.ts';
import { SHARD_MANIFEST_KEY, SINGLE_INDEX_KEY } from './index-format.ts';
import { buildIndexFile } from './index-build.ts';
import { combinedFingerprint, parseShardManifest, planShards, type EntryFile, type ManifestShard, type PlannedShard, type ShardManifest } from './shard-plan.ts';
import { countEntries, readSiteEntries, writePendingEntries, type SiteEntries } from './site-entries.ts';

/** Entry JSON per shard: about 18,000 entries, a build worker of 330-640 MB (README "Local indexing"). */
export const DEFAULT_SHARD_TARGET_BYTES = 6 * 1024 * 1024;
/** Entry JSON bytes per search entry, for estimates before a build has counted them. */
const BYTES_PER_ENTRY = 330;
const builds = new Limiter('local index builds', 1);

export interface LocalIndexOptions {
  force: boolean;
  singleIndexMaxEntries: number;
  shardTargetBytes: number;
}

export interface ShardAction {
  shard: PlannedShard;
  how: 'keep' | 'copy' | 'build';
  /** The previous shard it keeps or copies. */
  from?: ManifestShard;
  reason: string;
}

export interface IndexCheck {
  site: SiteEntries;
  previous?: ShardManifest;
  actions: ShardAction[];
  /** Why the index must be built; empty when it is current. */
  stale: string[];
}

export interface BuiltIndexFile {
  key: string;
  entries: number;
  bytes: number;
  ms: number;
  peakRssBytes: number;
}

export interface LocalIndexResult {
  /** Keys written (in a dry run: that would be), entry files and index files. */
  written: string[];
  entriesWritten: number;
  shardsRebuilt: number;
  shardCount: number;
  totalEntries: number;
  indexBytes: number;
  single: 'kept' | 'written' | 'none';
  built: BuiltIndexFile[];
  /** Transcripts that could not get entries. */
  errors: { key: string; message: string }[];
  /** Entry files left out of the index (no episode known for them). */
  unplaced: { key: string; message: string }[];
}

const fileOf = (work: SiteWork, key: string) => path.join(work.site.localDir, ...key.split('/'));

async function sizeIs(file: string, size: number): Promise<boolean> {
  return stat(file).then((s) => s.size === size, () => false);
}

/** Read-only: what a build would do, and why (nothing in `stale`: the index is current). */
export async function checkLocalIndex(work: SiteWork, cache: HashCache, options: LocalIndexOptions): Promise<IndexCheck> {
  const site = await readSiteEntries(work, cache);
  let previous: ShardManifest | undefined;
  const text = await readFile(fileOf(work, SHARD_MANIFEST_KEY), 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const parsed = parseShardManifest(text);
    if (parsed.ok) previous = parsed.manifest;
    else work.log.warn(`${SHARD_MANIFEST_KEY} ${parsed.reason}: every shard is built again`);
  }
  // A dry run counts the entry files it would write as written.
  const planned = work.dryRun ? site.pending.flatMap((t) => plannedFile(site, t)) : [];
  const files = [...site.files, ...planned];
  // A site that fits in the single file is one shard, and the single file its copy: one build, not two.
  // Counted exactly (a few MB of JSON) only when the size says it may fit, and not at all when the
  // entry files are the ones the previous single shard was built from (its manifest has the count).
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const whole = planShards(files, undefined, Infinity);
  const unchanged = previous?.shardCount === 1 && whole.length === 1 && whole[0]!.fingerprint === previous.shards[0]?.fingerprint;
  const entries = async () => (unchanged ? previous!.totalEntries : await countEntries(files, BYTES_PER_ENTRY));
  const small = (previous?.shardCount ?? 0) <= 1 && bytes <= options.singleIndexMaxEntries * BYTES_PER_ENTRY * 2 && (await entries()) <= options.singleIndexMaxEntries;
  const plan = small ? whole : planShards(files, previous, options.shardTargetBytes);
  const actions = await Promise.all(plan.map((shard) => decide(work, shard, previous, options.force)));
  const stale: string[] = [];
  if (site.pending.length > 0) stale.push(`${site.pending.length} transcript${site.pending.length === 1 ? '' : 's'} without search entries`);
  const changed = actions.filter((a) => a.how !== 'keep').length;
  if (options.force && plan.length > 0) stale.push('--force-index');
  else if (changed > 0) stale.push(previous ? `${changed} of ${plan.length} shards out of date` : 'no search index yet');
  else if (previous && plan.length > 0) {
    const sameRanges = previous.shards.length === plan.length && plan.every((s, i) => String(s.episodeRange) === String(previous!.shards[i]!.episodeRange));
    if (!sameRanges) stale.push('shard ranges changed');
    if (await singleMissing(work, previous, plan, options)) stale.push(`${SINGLE_INDEX_KEY} missing or out of date`);
  }
  return { site, previous, actions, stale };
}

function plannedFile(site: SiteEntries, t: SiteEntries['pending'][number]): EntryFile[] {
  const sequentialId = site.lookup?.find(t.podcastId, t.fileKey)?.sequentialId;
  if (sequentialId === undefined) return [];
  return [{ key: `search-entries/${t.podcastId}/${t.fileKey}.json`, path: '', size: Math.round(t.size / 2), md5: 'planned', sequentialId }];
}

async function decide(work: SiteWork, shard: PlannedShard, previous: ShardManifest | undefined, force: boolean): Promise<ShardAction> {
  if (force) return { shard, how: 'build', reason: '--force-index' };
  const old = previous?.shards[shard.id - 1];
  if (old && old.fingerprint === shard.fingerprint && (await sizeIs(fileOf(work, shard.indexPath), old.indexSizeBytes))) {
    return { shard, how: 'keep', from: old, reason: 'entries unchanged' };
  }
  for (const other of previous?.shards ?? []) {
    if (other !== old && other.fingerprint === shard.fingerprint && (await sizeIs(fileOf(work, other.indexPath), other.indexSizeBytes))) {
      return { shard, how: 'copy', from: other, reason: `same entries as ${other.indexPath}` };
    }
  }
  const reason = !old ? 'new shard' : old.fingerprint === shard.fingerprint ? 'index file missing' : 'entries changed';
  return { shard, how: 'build', reason };
}

async function singleMissing(work: SiteWork, previous: ShardManifest, plan: PlannedShard[], options: LocalIndexOptions): Promise<boolean> {
  const expected = previous.totalEntries > 0 && previous.totalEntries <= options.singleIndexMaxEntries;
  if (!expected) return false;
  const single = previous.singleIndex;
  return !single || single.fingerprint !== combinedFingerprint(plan) || !(await sizeIs(fileOf(work, SINGLE_INDEX_KEY), single.indexSizeBytes));
}

interface Staged {
  key: string;
  temp?: string;
  reason: string;
}

/** Write the missing entry files, build what `check` found out of date, put it all in place. */
export async function buildLocalIndex(work: SiteWork, cache: HashCache, options: LocalIndexOptions, first: IndexCheck): Promise<LocalIndexResult> {
  const entries = await writePendingEntries(work, first.site);
  const check = !work.dryRun && entries.keys.length > 0 ? await checkLocalIndex(work, cache, options) : first;
  const result: LocalIndexResult = {
    written: [...entries.keys],
    entriesWritten: entries.entries,
    shardsRebuilt: 0,
    shardCount: check.actions.length,
    totalEntries: 0,
    indexBytes: 0,
    single: 'none',
    built: [],
    errors: entries.errors,
    unplaced: check.site.unplaced,
  };
  const staged: Staged[] = [];
  const progress = new BuildProgress(work, check.actions.filter((a) => a.how === 'build').reduce((n, a) => n + a.shard.bytes, 0));
  try {
    const shards: ManifestShard[] = [];
    for (const action of check.actions) {
      const { shard } = action;
      let entryCount = action.from?.entryCount ?? Math.round(shard.bytes / BYTES_PER_ENTRY);
      let indexSizeBytes = action.from?.indexSizeBytes ?? 0;
      if (action.how !== 'keep') {
        const made = await stage(work, shard.indexPath, action.reason, staged, async (temp) => {
          if (action.how === 'copy') return copyFile(fileOf(work, action.from!.indexPath), temp);
          const label = `shard ${shard.id} of ${check.actions.length} (episodes ${shard.episodeRange[0]}–${shard.episodeRange[1] ?? '…'})`;
          const built = await progress.build(label, shard.files, temp);
          result.built.push({ key: shard.indexPath, ...built });
          entryCount = built.entries;
        });
        if (made !== undefined) indexSizeBytes = made;
        if (action.how === 'build') result.shardsRebuilt++;
        result.indexBytes += indexSizeBytes;
      }
      const { id, episodeRange, indexPath, fingerprint, files } = shard;
      shards.push({ id, episodeRange, indexPath, episodeCount: new Set(files.map((f) => f.sequentialId)).size, indexSizeBytes, entryCount, fingerprint });
    }
    result.totalEntries = shards.reduce((n, s) => n + s.entryCount, 0);
    const singleIndex = await stageSingle(work, check, shards, staged, options, progress, result);

    for (const s of staged) {
      await work.effect({ kind: 'write', target: s.key, reason: s.reason }, () => renameIntoPlace(s.temp!, fileOf(work, s.key)));
      result.written.push(s.key);
    }
    const manifest: ShardManifest = {
      version: 1,
      shardCount: shards.length,
      shards,
      createdAt: new Date().toISOString(),
      totalEpisodes: shards.reduce((n, s) => n + s.episodeCount, 0),
      siteId: work.site.id,
      totalEntries: result.totalEntries,
      singleIndex,
    };
    const unchanged = check.previous && JSON.stringify({ ...check.previous, createdAt: '' }) === JSON.stringify({ ...manifest, createdAt: '' });
    if (shards.length > 0 && !unchanged) {
      const reason = staged.length > 0 ? `${staged.length} index file${staged.length === 1 ? '' : 's'} written` : 'shard ranges changed';
      await work.effect({ kind: 'write', target: SHARD_MANIFEST_KEY, reason }, () => writeFileAtomic(fileOf(work, SHARD_MANIFEST_KEY), JSON.stringify(manifest, null, 2) + '\n'));
      result.written.push(SHARD_MANIFEST_KEY);
    }
    return result;
  } finally {
    // Whatever was built but not put in place (a failure, an abort) goes.
    await Promise.all(staged.map((s) => (s.temp ? rm(s.temp, { force: true }) : undefined)));
  }
}

/** Build (or copy) one index file into a temporary; in a dry run only plan it. Returns the file's size. */
async function stage(work: SiteWork, key: string, reason: string, staged: Staged[], make: (temp: string) => Promise<void>): Promise<number | undefined> {
  const entry: Staged = { key, reason };
  staged.push(entry);
  if (work.dryRun) return undefined;
  const temp = temporaryPathFor(fileOf(work, key));
  await mkdir(path.dirname(temp), { recursive: true });
  trackTemporary(temp);
  entry.temp = temp;
  await make(temp);
  return (await stat(temp)).size;
}

/** The single-file index while the site is small enough: a copy of the only shard, or built from every entry file. */
async function stageSingle(
  work: SiteWork,
  check: IndexCheck,
  shards: ManifestShard[],
  staged: Staged[],
  options: LocalIndexOptions,
  progress: BuildProgress,
  result: LocalIndexResult,
): Promise<ShardManifest['singleIndex']> {
  const total = result.totalEntries;
  if (shards.length === 0 || total > options.singleIndexMaxEntries) {
    if (check.previous?.singleIndex) work.log.warn(`${SINGLE_INDEX_KEY} is no longer updated: ${total} entries, over singleIndexMaxEntries (${options.singleIndexMaxEntries}); the shards hold them`);
    return null;
  }
  const fingerprint = combinedFingerprint(shards);
  const old = check.previous?.singleIndex;
  if (old && old.fingerprint === fingerprint && !options.force && (await sizeIs(fileOf(work, SINGLE_INDEX_KEY), old.indexSizeBytes))) {
    result.single = 'kept';
    return old;
  }
  const only = shards.length === 1 ? staged.find((s) => s.key === shards[0]!.indexPath) : undefined;
  const size = await stage(work, SINGLE_INDEX_KEY, `${total} entries (at most ${options.singleIndexMaxEntries} for one file)`, staged, async (temp) => {
    // One shard holds the same entries in the same order: the same bytes.
    if (shards.length === 1) return copyFile(only?.temp ?? fileOf(work, shards[0]!.indexPath), temp);
    const files = check.actions.flatMap((a) => a.shard.files);
    progress.add(files.reduce((n, f) => n + f.size, 0));
    const built = await progress.build('the single-file index', files, temp);
    result.built.push({ key: SINGLE_INDEX_KEY, ...built });
  });
  result.single = 'written';
  result.indexBytes += size ?? 0;
  return { indexPath: SINGLE_INDEX_KEY, entryCount: total, indexSizeBytes: size ?? 0, fingerprint };
}

/** Index builds in their worker, one at a time over all sites, with progress: entries, percent, time left. */
class BuildProgress {
  private doneBytes = 0;
  private readonly started = Date.now();

  constructor(
    private readonly work: SiteWork,
    private totalBytes: number,
  ) {}

  /** More to build than counted at the start (the single-file index). */
  add(bytes: number): void {
    this.totalBytes += bytes;
  }

  async build(label: string, files: readonly EntryFile[], temp: string): Promise<Omit<BuiltIndexFile, 'key'>> {
    const paths = files.map((f) => f.path);
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const expected = Math.max(1, Math.round(bytes / BYTES_PER_ENTRY));
    this.work.log.activity(`indexing ${label}: waiting for the build slot`);
    return builds.use(
      async () => {
        const began = Date.now();
        this.report(label, 0, expected, bytes);
        const built = await buildIndexFile(paths, temp, { label, signal: this.work.signal, onProgress: (n) => this.report(label, n, expected, bytes) });
        this.doneBytes += bytes;
        return { entries: built.entries, bytes: built.bytes, ms: Date.now() - began, peakRssBytes: built.peakRssBytes };
      },
      { signal: this.work.signal },
    );
  }

  private report(label: string, entries: number, expected: number, bytes: number): void {
    const part = bytes > 0 ? Math.min(1, entries / expected) : 0;
    const overall = this.totalBytes > 0 ? Math.min(1, (this.doneBytes + part * bytes) / this.totalBytes) : part;
    const elapsed = Date.now() - this.started;
    const left = overall > 0.02 ? ` about ${formatDuration(Math.round((elapsed / overall) * (1 - overall)))} left` : '';
    this.work.log.activity(`indexing ${label}: ${entries.toLocaleString('en-US')} of ~${expected.toLocaleString('en-US')} entries, ${Math.round(overall * 100)}%${left ? `,${left}` : ''}`);
  }
}
