// `feed <url-or-file> [--json] [--at=<epoch-ms>]`: read-only. Parses one feed and prints every
// audio episode the runner would know: identity, title, publication date (UTC), enclosure
// URL, duration and the file key it would get. A broken feed exits 1 with the reason.
import { readFile } from 'node:fs/promises';
import type { CommonFlags } from './command-line.ts';
import { EXIT } from '../platform/types.ts';
import { episodeFileKey } from '../site/file-key.ts';
import { isHttpUrl } from '../platform/http.ts';
import { fetchFeed } from '../engines/feeds/fetch.ts';
import { parseFeed, type ParseOutcome } from '../engines/feeds/parse.ts';
import { identifyEpisodes, identityKey } from '../site/episode-identity.ts';

export async function feedCommand(flags: CommonFlags & { source: string; at?: number }): Promise<number> {
  const outcome = await load(flags.source);
  if (!outcome.ok) {
    process.stderr.write(`error: ${flags.source}: ${outcome.reason}\n`);
    return EXIT.failed;
  }
  const { feed } = outcome;
  const at = flags.at ?? Date.now();
  const { episodes, duplicates } = identifyEpisodes(feed.episodes);
  const rows = episodes.map((e) => ({
    identity: identityKey(e.identity),
    title: e.title,
    publishedAt: e.publishedAt.toISOString(),
    enclosureUrl: e.enclosureUrl,
    durationInSeconds: e.durationInSeconds ?? null,
    fileKey: episodeFileKey(e.publishedAt, e.title, at),
  }));
  if (flags.json) {
    const result = {
      source: flags.source,
      format: feed.format,
      title: feed.title,
      encoding: feed.encoding,
      items: feed.itemCount,
      nonAudioItems: feed.nonAudioItems,
      duplicates: duplicates.length,
      warnings: feed.warnings,
      downloadedAt: new Date(at).toISOString(),
      episodes: rows,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return EXIT.ok;
  }
  process.stdout.write(
    `${feed.title || '(untitled feed)'} — ${feed.format.toUpperCase()}, ${feed.encoding}, ${feed.itemCount} items, ` +
      `${rows.length} audio episodes${feed.nonAudioItems ? `, ${feed.nonAudioItems} without audio` : ''}${duplicates.length ? `, ${duplicates.length} listed twice` : ''}\n\n`,
  );
  for (const row of rows) {
    process.stdout.write(
      `${row.publishedAt}  ${row.title}\n` +
        `  identity  ${row.identity}\n` +
        `  audio     ${row.enclosureUrl}\n` +
        `  duration  ${row.durationInSeconds === null ? '-' : formatDuration(row.durationInSeconds)}\n` +
        `  file key  ${row.fileKey}\n`,
    );
  }
  for (const warning of feed.warnings) process.stderr.write(`warning: ${warning}\n`);
  return EXIT.ok;
}

async function load(source: string): Promise<ParseOutcome> {
  if (isHttpUrl(source)) {
    const fetched = await fetchFeed(source, { attempts: 3 });
    if (fetched.kind === 'failed') return { ok: false, reason: fetched.reason };
    if (fetched.kind === 'not-modified') return { ok: false, reason: 'unexpected 304 Not Modified' };
    return parseFeed(fetched.bytes, { httpCharset: fetched.charset });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) && !source.startsWith('file://')) {
    return { ok: false, reason: 'only http and https URLs (or local files) are read' };
  }
  try {
    return parseFeed(await readFile(source.startsWith('file://') ? new URL(source) : source));
  } catch (error) {
    return { ok: false, reason: `cannot read the file: ${(error as Error).message}` };
  }
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}
