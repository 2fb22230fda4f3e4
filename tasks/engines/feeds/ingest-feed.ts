// One podcast's feed within the rss step: fetch (conditional), parse, keep the raw snapshot
// `rss/<rssFeedFile>` in step with the feed. The snapshot is written only when its bytes
// changed and only once the feed parsed, so a broken response never replaces a good
// snapshot. On a 304 the local snapshot is parsed again (no network cost), which also
// heals a run that was killed between writing the snapshot and writing the manifest.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SiteWork } from '../site-work.ts';
import { unreachable } from '../../platform/errors.ts';
import type { Podcast } from '../../site/site-config.ts';
import type { S3Key, StepError } from '../../platform/types.ts';
import { writeFileAtomic } from '../../platform/atomic.ts';
import { fetchFeed, type FetchOptions } from './fetch.ts';
import { parseFeed, type ParsedFeed } from './parse.ts';
import type { ValidatorsCache } from './validators-cache.ts';

/** The publisher moved the feed: by a permanent redirect, or by `<itunes:new-feed-url>`. */
export interface FeedMove {
  to: string;
  how: string;
}

export type FeedOutcome =
  /** `snapshot`: the key of the snapshot written (or, in a dry run, planned) this run. */
  | { kind: 'parsed'; podcast: Podcast; feed: ParsedFeed; snapshot?: S3Key; moved?: FeedMove }
  | { kind: 'failed'; podcast: Podcast; error: StepError };

/** Test hooks: shorter backoff and timeouts. */
export type FeedFetchTuning = Pick<FetchOptions, 'attempts' | 'backoffMs' | 'idleTimeoutMs' | 'totalTimeoutMs'>;

/**
 * `url`: where to fetch the feed this run (a moved feed's new address, else the configured one).
 * A move seen in this fetch is returned for the next runs; the config is never changed.
 */
export async function ingestFeed(ctx: SiteWork, podcast: Podcast, cache: ValidatorsCache, tuning: FeedFetchTuning = {}, url = podcast.url): Promise<FeedOutcome> {
  const snapshotKey = `rss/${podcast.rssFeedFile}` as S3Key;
  const snapshotFile = path.join(ctx.site.localDir, 'rss', podcast.rssFeedFile);
  const fail = (message: string, code?: string): FeedOutcome => ({
    kind: 'failed',
    podcast,
    // The URL once: HTTP errors end with it, and the message already names it.
    error: { site: ctx.site.id, step: 'rss', subject: url, message: `feed of "${podcast.id}" at ${url}: ${message.replace(` (${url})`, '')}`, ...(code ? { code } : {}) },
  });

  const local = await readFile(snapshotFile).catch(() => undefined);
  // Without a local snapshot a 304 would leave nothing to parse: ask unconditionally.
  const remembered = local ? cache[url] : undefined;
  ctx.log.activity(`fetching ${podcast.id}`);
  const fetched = await ctx.limits.network.use(
    () =>
      fetchFeed(url, {
        ...tuning,
        validators: remembered,
        signal: ctx.signal,
        onRetry: (message) => ctx.log.warn(`${podcast.id}: ${message}`),
      }),
    { signal: ctx.signal },
  );

  switch (fetched.kind) {
    case 'failed':
      return fail(fetched.reason, fetched.status ? `HTTP ${fetched.status}` : undefined);
    case 'not-modified': {
      ctx.log.debug(`${podcast.id}: not modified (304)`);
      const parsed = parseFeed(local!, { httpCharset: remembered?.charset });
      if (!parsed.ok) return fail(`local snapshot ${snapshotKey} (server said 304 Not Modified) does not parse: ${parsed.reason}`);
      return { kind: 'parsed', podcast, feed: parsed.feed };
    }
    case 'fetched': {
      const parsed = parseFeed(fetched.bytes, { httpCharset: fetched.charset });
      if (!parsed.ok) return fail(parsed.reason);
      const changed = !local || !local.equals(fetched.bytes);
      if (changed) {
        await ctx.effect({ kind: 'write', target: snapshotKey, reason: local ? 'the feed changed' : 'first snapshot of this feed' }, () =>
          writeFileAtomic(snapshotFile, fetched.bytes),
        );
      }
      // Remembered only after the snapshot is on disk (a 304 must always find one).
      const entry = { ...fetched.validators, ...(fetched.charset ? { charset: fetched.charset } : {}) };
      if (Object.keys(fetched.validators).length > 0) cache[url] = entry;
      else delete cache[url];
      const moved: FeedMove | undefined =
        fetched.movedPermanentlyTo && fetched.movedPermanentlyTo !== url
          ? { to: fetched.movedPermanentlyTo, how: 'a permanent redirect (HTTP 301/308)' }
          : parsed.feed.newFeedUrl && parsed.feed.newFeedUrl !== url && parsed.feed.newFeedUrl !== podcast.url
            ? { to: parsed.feed.newFeedUrl, how: '<itunes:new-feed-url>' }
            : undefined;
      return { kind: 'parsed', podcast, feed: parsed.feed, ...(changed ? { snapshot: snapshotKey } : {}), ...(moved ? { moved } : {}) };
    }
    default:
      return unreachable(fetched);
  }
}
