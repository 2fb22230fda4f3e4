// The rss step: for every active podcast, fetch and parse its feed (tasks/engines/feeds/), add new
// episodes to the site's manifest, then download every manifest episode whose audio is
// missing locally, so that earlier failures heal by themselves. One broken feed or
// download never stops the others: each becomes a StepError naming the feed or episode.
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PreSyncOutput, RssOutput, StepContext, StepResult } from './contract.ts';
import { mapPool } from '../platform/limiter.ts';
import type { S3Key, StepCounts, StepError } from '../platform/types.ts';
import { manifestPath, mergeFeedEpisodes, readManifest, renumber, MANIFEST_KEY, OrphanEpisodeFiles, type Manifest, type ManifestEpisode } from '../site/manifest.ts';
import { manifestBackupDir, writeManifestWithBackup } from '../site/manifest-store.ts';
import { manifestBasisFor } from './sync-support.ts';
import type { StoredFile } from '../engines/sync/stored-file.ts';
import { isSafeFileKey } from '../site/file-key.ts';
import { identifyEpisodes } from '../site/episode-identity.ts';
import type { FeedFetchTuning } from '../engines/feeds/ingest-feed.ts';
import { readValidators, validatorsCachePath, writeValidators } from '../engines/feeds/validators-cache.ts';
import { downloadAudio, resumeTargetOf, type DownloadOptions } from '../engines/feeds/audio-download.ts';
import { errorMessage } from '../platform/errors.ts';
import { dueForRetry, readSiteState, recordFailure, writeSiteState, type SiteState } from '../site/site-state.ts';
import { reportAttention } from './attention.ts';
import { formatBytes, formatTransfer } from '../platform/format.ts';

export interface RssTuning {
  fetch?: FeedFetchTuning;
  download?: Pick<DownloadOptions, 'attempts' | 'backoffMs' | 'idleTimeoutMs' | 'maxBytes'>;
}

/** Feeds fetched at once per site (each fetch also holds a network slot). */
const FEED_CONCURRENCY = 4;

export type RssStep = (ctx: StepContext, input: { preSync?: PreSyncOutput }) => Promise<StepResult<RssOutput>>;

export function createRssStep(tuning: RssTuning = {}): RssStep {
  return async (ctx, input) => {
    const podcasts = ctx.site.podcasts.filter((p) => p.status === 'active');
    const created: S3Key[] = [];
    // 1. The manifest as pre-sync reconciled it with the bucket's. Without the bucket's copy
    // (it could not be read) nothing is added: episodes it holds would be added again.
    const basis = await manifestBasisFor(ctx, 'rss', input.preSync?.manifest);
    const output: RssOutput = { created, manifest: basis.basis };
    if (podcasts.length === 0) return { status: 'up-to-date', message: 'no active podcasts', counts: {}, errors: [], output };
    const manifestFile = manifestPath(ctx.site.localDir);
    const read = await readManifest(manifestFile);
    if (read.kind === 'invalid') {
      return { status: 'failed', fatal: true, message: 'episode manifest unreadable', counts: {}, errors: [...basis.errors, { site: ctx.site.id, step: 'rss', subject: MANIFEST_KEY, message: read.reason }], output };
    }
    const manifest = read.manifest;
    if (basis.basis.kind === 'unavailable') {
      const listing = folderListing(ctx.site.localDir);
      const active = new Set(podcasts.map((p) => p.id));
      const downloads = await downloadMissing(ctx, manifest, active, listing, tuning);
      created.push(...downloads.keys);
      return {
        status: 'failed',
        fatal: false,
        message: `no new episodes added: the bucket's manifest could not be read${downloads.files > 0 ? `; ${downloads.files} audio files of known episodes downloaded` : ''}`,
        counts: { episodesAdded: 0, audioDownloaded: downloads.files, audioBytes: downloads.bytes },
        errors: [...basis.errors, ...downloads.errors],
        output,
      };
    }
    // Episode files no manifest entry names (a lost manifest): feed items adopt them.
    const listing = folderListing(ctx.site.localDir);
    const orphans = await orphanFiles(ctx, podcasts.map((p) => p.id), manifest, listing, input.preSync?.listing ?? []);
    // What earlier runs learnt: feeds that moved, episodes whose download keeps failing.
    const stateRead = await readSiteState(ctx.localRoot, ctx.site.id);
    if (stateRead.kind === 'rebuilt') ctx.log.warn(`the site's state file is ${stateRead.reason}: starting it afresh (failure counts restart, moved feeds are found again)`);
    const state = stateRead.state;
    const stateBefore = JSON.stringify(state);
    const feedUrl = (p: (typeof podcasts)[number]) => (state.movedFeeds[p.id]?.from === p.url ? state.movedFeeds[p.id]!.to : p.url);

    // 2. Feeds: fetch and parse concurrently, merge in config order (stable numbering).
    const cacheFile = validatorsCachePath(ctx.localRoot, ctx.site.id);
    const cache = await readValidators(cacheFile);
    const cacheBefore = JSON.stringify(cache);
    // Feeds no longer in the config are forgotten (a paused podcast's are kept).
    const configured = new Set(ctx.site.podcasts.map((p) => p.url));
    for (const url of Object.keys(cache)) if (!configured.has(url)) delete cache[url];
    // The feed parser (fast-xml-parser, iconv-lite) loads when a feed is fetched, not at start-up.
    const { ingestFeed } = await import('../engines/feeds/ingest-feed.ts');
    const outcomes = await mapPool(podcasts, FEED_CONCURRENCY, (podcast) => ingestFeed(ctx, podcast, cache, tuning.fetch, feedUrl(podcast)));
    const errors: StepError[] = [...basis.errors];
    let snapshots = 0;
    let episodesAdded = 0;
    let adopted = 0;
    for (const outcome of outcomes) {
      if (outcome.kind === 'failed') {
        errors.push(outcome.error);
        ctx.log.error(outcome.error.message);
        continue;
      }
      const { podcast, feed } = outcome;
      if (outcome.moved && state.movedFeeds[podcast.id]?.to !== outcome.moved.to) {
        // Reported once, when it is first seen; site.config.json is the operator's to change.
        ctx.log.warn(`${podcast.id}: the feed moved to ${outcome.moved.to} (${outcome.moved.how}); fetched from there from the next run on. Update its url in site.config.json to make it permanent`);
        state.movedFeeds[podcast.id] = { from: podcast.url, to: outcome.moved.to, since: new Date().toISOString(), how: outcome.moved.how };
      }
      if (outcome.snapshot) {
        snapshots++;
        created.push(outcome.snapshot);
      }
      for (const warning of feed.warnings) ctx.log.warn(`${podcast.id}: ${warning}`);
      const { episodes, duplicates } = identifyEpisodes(feed.episodes);
      for (const d of duplicates) ctx.log.debug(`${podcast.id}: "${d.title}" is listed twice in the feed; counted once`);
      const merged = mergeFeedEpisodes(manifest, podcast.id, episodes, Date.now(), orphans, ctx.options.maxEpisodesPerFeed);
      episodesAdded += merged.added.length;
      if (merged.deferred > 0) ctx.log.info(`${podcast.id}: ${merged.deferred} more new episodes left for the next runs (--max-episodes-per-feed=${ctx.options.maxEpisodesPerFeed})`);
      adopted += merged.adopted.length;
      if (merged.adopted.length > 0) ctx.log.info(`${podcast.id}: ${merged.adopted.length} episodes adopted with their existing files (no download)`);
      // A first run over a long back catalogue would print hundreds of lines: summarise it.
      const detail = merged.added.length > 5 ? ctx.log.debug.bind(ctx.log) : ctx.log.info.bind(ctx.log);
      if (merged.added.length > 5) ctx.log.info(`${podcast.id}: ${merged.added.length} new episodes`);
      for (const added of merged.added) {
        detail(`${podcast.id}: new episode "${added.title}" (${added.fileKey})`);
        await ctx.effect({ kind: 'add-episode', target: `${podcast.id}/${added.fileKey}`, reason: `"${added.title}" is new in the feed` }, async () => undefined);
      }
    }

    // 3. The manifest, only when its episodes changed.
    const renumbered = renumber(manifest);
    if (episodesAdded > 0 || renumbered) {
      manifest.lastUpdated = new Date().toISOString();
      await ctx.effect({ kind: 'write', target: MANIFEST_KEY, reason: `${episodesAdded} new episodes` }, () =>
        writeManifestWithBackup(manifestFile, manifest, manifestBackupDir(ctx.localRoot, ctx.site.id)),
      );
      created.push(MANIFEST_KEY as S3Key);
    }
    const unmatched = orphans.unclaimed();
    if (unmatched.length > 0) {
      // Worth a warning when this run rebuilt or adopted (a lost manifest); otherwise these are
      // superseded downloads, known and harmless.
      const report = adopted > 0 || basis.basis.kind === 'absent' ? ctx.log.warn.bind(ctx.log) : ctx.log.debug.bind(ctx.log);
      report(`${unmatched.length} episode file key${unmatched.length === 1 ? '' : 's'} on disk or in the bucket belong to no manifest episode and match no feed item: ${unmatched.slice(0, 5).join(', ')}${unmatched.length > 5 ? ', ...' : ''}`);
    }
    if (JSON.stringify(cache) !== cacheBefore) {
      await ctx.effect({ kind: 'write', target: path.relative(ctx.localRoot, cacheFile), reason: 'remember feed validators (ETag/Last-Modified)' }, () =>
        writeValidators(cacheFile, cache),
      );
    }

    // 4. Audio for every episode of an active podcast that is missing locally.
    const active = new Set(podcasts.map((p) => p.id));
    await removeStaleResumeFiles(ctx, active, manifest, listing);
    const downloads = await downloadMissing(ctx, manifest, active, listing, tuning, state);
    errors.push(...downloads.errors);
    created.push(...downloads.keys);
    if (!ctx.dryRun && JSON.stringify(state) !== stateBefore) await writeSiteState(ctx.localRoot, state);

    const counts: StepCounts = { episodesAdded, audioDownloaded: downloads.files, audioBytes: downloads.bytes, ...(adopted > 0 ? { episodesAdopted: adopted } : {}) };
    const failedFeeds = outcomes.filter((o) => o.kind === 'failed').length;
    const parts = [
      `${podcasts.length} feed${podcasts.length === 1 ? '' : 's'}`,
      `${episodesAdded} new episode${episodesAdded === 1 ? '' : 's'}${adopted > 0 ? ` (${adopted} adopted with their existing files)` : ''}`,
      `${downloads.files} audio file${downloads.files === 1 ? '' : 's'} downloaded`,
      ...(failedFeeds > 0 ? [`${failedFeeds} feed${failedFeeds === 1 ? '' : 's'} failed`] : []),
      ...(downloads.errors.length > 0 ? [`${downloads.errors.length} download${downloads.errors.length === 1 ? '' : 's'} failed`] : []),
    ];
    const message = parts.join(', ');
    if (errors.length > 0) return { status: 'failed', fatal: false, message, counts, errors, output };
    if (episodesAdded === 0 && downloads.keys.length === 0 && snapshots === 0 && !renumbered) {
      return { status: 'up-to-date', message: `${podcasts.length} feed${podcasts.length === 1 ? '' : 's'} checked, nothing new, all audio present`, counts, errors, output };
    }
    return { status: 'ok', message: ctx.dryRun ? `${message} (dry run: ${downloads.keys.length} would be downloaded)` : message, counts, errors, output };
  };
}

export const rss: RssStep = createRssStep();

/** The names in `<localDir>/<folder>/<podcastId>/`, each folder read once per step. */
function folderListing(localDir: string): (folder: string, podcastId: string) => Promise<Set<string>> {
  const folders = new Map<string, Promise<Set<string>>>();
  return (folder, podcastId) => {
    const dir = path.join(localDir, folder, podcastId);
    let names = folders.get(dir);
    if (!names) {
      names = readdir(dir).then(
        (list) => new Set(list),
        () => new Set<string>(),
      );
      folders.set(dir, names);
    }
    return names;
  };
}
type FolderListing = ReturnType<typeof folderListing>;

/** Episode files no manifest entry names, locally or in the bucket's listing (when this run took one). */
async function orphanFiles(ctx: StepContext, podcastIds: string[], manifest: Manifest, listing: FolderListing, bucket: readonly StoredFile[]): Promise<OrphanEpisodeFiles> {
  const keys: string[] = bucket.map((f) => f.key);
  for (const podcastId of podcastIds) {
    for (const folder of ['audio', 'transcripts', 'search-entries']) {
      for (const name of await listing(folder, podcastId)) keys.push(`${folder}/${podcastId}/${name}`);
    }
  }
  return new OrphanEpisodeFiles(keys, manifest);
}

export function audioKey(episode: Pick<ManifestEpisode, 'podcastId' | 'fileKey'>): S3Key {
  return `audio/${episode.podcastId}/${episode.fileKey}.mp3` as S3Key;
}

/**
 * Resume files nothing will finish: those whose audio is complete (a run died between the
 * rename and the removal of the metadata), and those of episodes no longer in the manifest.
 * Resume files of unfinished downloads of manifest episodes are kept for the next attempt.
 */
async function removeStaleResumeFiles(ctx: StepContext, podcastIds: Set<string>, manifest: Manifest, listing: FolderListing): Promise<void> {
  const wanted = new Set(manifest.episodes.map((e) => `${e.podcastId}/${e.fileKey}.mp3`));
  for (const podcastId of podcastIds) {
    const names = await listing('audio', podcastId);
    for (const name of names) {
      const target = resumeTargetOf(name);
      if (!target) continue;
      const reason = names.has(target) ? 'leftover of a finished download' : wanted.has(`${podcastId}/${target}`) ? undefined : 'its episode is no longer in the manifest';
      if (!reason) continue;
      const dir = path.join(ctx.site.localDir, 'audio', podcastId);
      await ctx.effect({ kind: 'delete', target: `audio/${podcastId}/${name}`, reason }, () => rm(path.join(dir, name), { force: true }));
    }
  }
}

async function downloadMissing(
  ctx: StepContext,
  manifest: Manifest,
  active: Set<string>,
  listing: FolderListing,
  tuning: RssTuning,
  state?: SiteState,
): Promise<{ files: number; bytes: number; errors: StepError[]; keys: S3Key[] }> {
  const errors: StepError[] = [];
  const keys: S3Key[] = [];
  const wanted: ManifestEpisode[] = [];
  let backingOff = 0;
  for (const episode of manifest.episodes) {
    if (!active.has(episode.podcastId)) continue;
    if (!isSafeFileKey(episode.fileKey)) {
      errors.push({ site: ctx.site.id, step: 'rss', subject: String(episode.fileKey), message: `manifest episode "${episode.title}" has an unsafe file key; not downloaded` });
      continue;
    }
    if ((await listing('audio', episode.podcastId)).has(`${episode.fileKey}.mp3`)) continue;
    // A transcript means the audio already served its purpose (it may have been pruned).
    if ((await listing('transcripts', episode.podcastId)).has(`${episode.fileKey}.srt`)) continue;
    // An episode that keeps failing is tried less and less often (tasks/site/site-state.ts).
    if (state && !dueForRetry(state, `${episode.podcastId}/${episode.fileKey}`, 'download')) {
      backingOff++;
      continue;
    }
    wanted.push(episode);
  }
  if (backingOff > 0) ctx.log.info(`${backingOff} episode download${backingOff === 1 ? '' : 's'} that kept failing left for a later run (backoff)`);
  if (state) reportAttention(ctx, state, 'download');
  if (wanted.length === 0) return { files: 0, bytes: 0, errors, keys };

  let done = 0;
  let files = 0;
  let bytes = 0;
  const startedAt = Date.now();
  // Bytes received and announced per download in flight (finished ones are in `bytes`).
  const progress = new Map<string, { received: number; total?: number; name: string }>();
  let lastReport = 0;
  const report = (force = false) => {
    const now = Date.now();
    if (!force && now - lastReport < 1000) return;
    lastReport = now;
    const moving = [...progress.values()];
    const known = moving.every((p) => p.total !== undefined);
    const text = formatTransfer({
      verb: `downloading ${moving.map((p) => p.name).join(', ') || 'episodes'}`,
      done,
      total: wanted.length,
      noun: 'episodes',
      bytes: bytes + moving.reduce((n, p) => n + p.received, 0),
      // The total is known once every download in flight announced its length.
      ...(known && done + moving.length === wanted.length ? { totalBytes: bytes + moving.reduce((n, p) => n + (p.total ?? 0), 0) } : {}),
      startedAt,
      now,
    });
    ctx.log.activity(text);
  };
  await mapPool(wanted, 8, async (episode) => {
    const key = audioKey(episode);
    const finalPath = path.join(ctx.site.localDir, ...key.split('/'));
    try {
      const outcome = await ctx.limits.perHost(episode.originalAudioURL).use(
        () =>
          ctx.limits.network.use(
            () =>
              ctx.effect({ kind: 'download', target: key, reason: `audio of "${episode.title}" is missing locally` }, () =>
                downloadAudio({
                  ...tuning.download,
                  url: episode.originalAudioURL,
                  finalPath,
                  signal: ctx.signal,
                  onProgress: (received, total) => {
                    progress.set(key, { received, total, name: episode.fileKey.slice(0, 40) });
                    report();
                  },
                  onRetry: (message) => ctx.log.warn(`${episode.fileKey}: ${message}`),
                }),
              ),
            { signal: ctx.signal },
          ),
        { signal: ctx.signal },
      );
      if (outcome === undefined) keys.push(key); // planned (dry run)
      else if (outcome.kind === 'downloaded') {
        files++;
        bytes += outcome.bytes;
        keys.push(key);
        if (state) delete state.failing[`${episode.podcastId}/${episode.fileKey}`];
        ctx.log.info(`downloaded ${key} (${formatBytes(outcome.bytes)}${outcome.resumedFrom > 0 ? `, resumed at ${outcome.resumedFrom}` : ''})`);
      } else if (outcome.kind === 'failed') {
        errors.push({ site: ctx.site.id, step: 'rss', subject: key, message: `episode "${episode.title}" (${episode.originalAudioURL}): ${outcome.reason}`, ...(outcome.status ? { code: `HTTP ${outcome.status}` } : {}) });
        ctx.log.error(`${key}: ${outcome.reason}`);
        if (state) recordFailure(state, `${episode.podcastId}/${episode.fileKey}`, 'download', outcome.reason);
      }
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      errors.push({ site: ctx.site.id, step: 'rss', subject: key, message: `episode "${episode.title}" (${episode.originalAudioURL}): ${errorMessage(error)}` });
    } finally {
      done++;
      progress.delete(key);
      report(done === wanted.length);
    }
  });
  return { files, bytes, errors, keys: keys.sort() };
}
