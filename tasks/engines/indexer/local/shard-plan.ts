// The sharding rule (ARCHITECTURE.md "Search index"), pure: which episodes go into which shard,
// and which shards must be built again. Shards cover contiguous ranges of sequential episode ids;
// a shard closes once its entry files reach the target size, and a closed range is kept as it
// is on every later build, so new episodes (the highest ids) only ever touch the last shard.
// A shard is rebuilt when the fingerprint of its entry files (keys and MD5s) changed.
import { createHash } from 'node:crypto';
import { shardIndexKey } from './index-format.ts';

/** Bumped when the index files change format: every shard is rebuilt once. */
export const BUILD_FORMAT = 'orama@3.1.18/msgpackr/zstd-3/v1';
/** A closed range whose entries grew past this multiple of the target (late transcripts) is split again. */
export const RESPLIT_FACTOR = 1.5;

/** One search-entries file, as the plan sees it. */
export interface EntryFile {
  key: string;
  path: string;
  size: number;
  md5: string;
  sequentialId: number;
}

export interface ManifestShard {
  id: number;
  episodeRange: [number, number | null];
  indexPath: string;
  episodeCount: number;
  indexSizeBytes: number;
  /** Search entries in the shard. */
  entryCount: number;
  /** Of the entry files it was built from (fingerprintOf). */
  fingerprint: string;
}

export interface SingleIndexRecord {
  indexPath: string;
  entryCount: number;
  indexSizeBytes: number;
  /** Of every shard's fingerprint: the single file holds them all. */
  fingerprint: string;
}

/** search-index/shard-manifest.json: the format the site's search function reads, plus what incremental builds need. */
export interface ShardManifest {
  version: 1;
  shardCount: number;
  shards: ManifestShard[];
  createdAt: string;
  totalEpisodes: number;
  siteId: string;
  totalEntries: number;
  /** The single-file index when the site is small enough for one (else null). */
  singleIndex: SingleIndexRecord | null;
}

export interface PlannedShard {
  id: number;
  episodeRange: [number, number | null];
  indexPath: string;
  /** In episode order (then key), the order the build inserts them in. */
  files: EntryFile[];
  bytes: number;
  fingerprint: string;
}

export function fingerprintOf(files: readonly EntryFile[]): string {
  const hash = createHash('sha256').update(`${BUILD_FORMAT}\n`);
  for (const line of files.map((f) => `${f.key}\t${f.md5}`).sort()) hash.update(`${line}\n`);
  return hash.digest('hex');
}

export function combinedFingerprint(shards: readonly { fingerprint: string }[]): string {
  return createHash('sha256').update(shards.map((s) => s.fingerprint).join('\n')).digest('hex');
}

/** Shards for `files`, keeping the closed ranges of `previous` (unless one outgrew RESPLIT_FACTOR). */
export function planShards(files: readonly EntryFile[], previous: ShardManifest | undefined, targetBytes: number): PlannedShard[] {
  const usable = files.filter((f) => Number.isInteger(f.sequentialId) && f.sequentialId >= 1);
  if (usable.length === 0) return [];
  const bytesOf = new Map<number, number>();
  for (const f of usable) bytesOf.set(f.sequentialId, (bytesOf.get(f.sequentialId) ?? 0) + f.size);
  const episodes = [...bytesOf.keys()].sort((a, b) => a - b);
  const within = (start: number, end: number | null) => episodes.filter((id) => id >= start && (end === null || id <= end));

  const ranges: [number, number | null][] = [];
  const kept = keptRanges(previous);
  for (const [start, end] of kept) {
    const ids = within(start, end);
    const bytes = ids.reduce((sum, id) => sum + bytesOf.get(id)!, 0);
    if (bytes > targetBytes * RESPLIT_FACTOR) ranges.push(...greedy(ids, start, bytesOf, targetBytes, end));
    else ranges.push([start, end]);
  }
  const openStart = kept.length > 0 ? kept[kept.length - 1]![1]! + 1 : 1;
  ranges.push(...greedy(within(openStart, null), openStart, bytesOf, targetBytes, null));

  const ordered = [...usable].sort((a, b) => a.sequentialId - b.sequentialId || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return ranges.map(([start, end], i) => {
    const inRange = ordered.filter((f) => f.sequentialId >= start && (end === null || f.sequentialId <= end));
    return {
      id: i + 1,
      episodeRange: [start, end],
      indexPath: shardIndexKey(i + 1),
      files: inRange,
      bytes: inRange.reduce((sum, f) => sum + f.size, 0),
      fingerprint: fingerprintOf(inRange),
    };
  });
}

/** The previous build's closed ranges (all but the last), when they run contiguously from 1. */
function keptRanges(previous: ShardManifest | undefined): [number, number][] {
  const shards = previous?.shards ?? [];
  const closed = shards.slice(0, -1);
  let next = 1;
  for (const shard of closed) {
    const [start, end] = shard.episodeRange;
    if (start !== next || end === null || end < start) return [];
    next = end + 1;
  }
  return closed.map((s) => [s.episodeRange[0], s.episodeRange[1]!]);
}

/**
 * Ranges over `ids` (ascending) from `start`: each closes after the episode that brings it to
 * `targetBytes`, except at the last episode, so no shard is empty; the last range ends at `end`.
 */
function greedy(ids: readonly number[], start: number, bytesOf: ReadonlyMap<number, number>, targetBytes: number, end: number | null): [number, number | null][] {
  const ranges: [number, number | null][] = [];
  let from = start;
  let bytes = 0;
  ids.forEach((id, i) => {
    bytes += bytesOf.get(id)!;
    if (bytes >= targetBytes && i < ids.length - 1) {
      ranges.push([from, id]);
      from = id + 1;
      bytes = 0;
    }
  });
  ranges.push([from, end]);
  return ranges;
}

/** The previous manifest, if it is one this build can trust; anything else means a full build. */
export function parseShardManifest(text: string): { ok: true; manifest: ShardManifest } | { ok: false; reason: string } {
  let parsed: Partial<ShardManifest>;
  try {
    parsed = JSON.parse(text) as Partial<ShardManifest>;
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message}` };
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.shards)) return { ok: false, reason: 'not a version 1 shard manifest' };
  const valid = parsed.shards.every(
    (s, i) =>
      s?.id === i + 1 &&
      Array.isArray(s.episodeRange) &&
      typeof s.episodeRange[0] === 'number' &&
      (s.episodeRange[1] === null || typeof s.episodeRange[1] === 'number') &&
      typeof s.fingerprint === 'string' &&
      typeof s.entryCount === 'number' &&
      typeof s.indexSizeBytes === 'number',
  );
  if (!valid) return { ok: false, reason: 'its shards lack ranges, fingerprints or counts (built elsewhere?)' };
  return { ok: true, manifest: { ...parsed, singleIndex: parsed.singleIndex ?? null } as ShardManifest };
}
