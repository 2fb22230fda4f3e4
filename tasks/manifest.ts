// The site's episode manifest (DESIGN §3): read, merge a feed's episodes into it, number
// them, write it. Unknown fields (top level and per episode) are carried through untouched;
// existing entries are never rewritten, only renumbered; the file is written only when the
// episodes changed, so a run with nothing new writes nothing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { episodeFileKey } from './file-key.ts';
import { dateTitleKey, normalizeEnclosureUrl, type IdentifiedEpisode } from './feed/identity.ts';

export const MANIFEST_KEY = 'episode-manifest/full-episode-manifest.json';

export interface ManifestEpisode {
  sequentialId: number;
  podcastId: string;
  title: string;
  fileKey: string;
  originalAudioURL: string;
  summary?: string;
  durationInSeconds?: number;
  publishedAt: string;
  downloadedAt: string;
  hasCompletedLLMAnnotations: boolean;
  llmAnnotations: Record<string, unknown>;
  /** Feed GUID (added by this runner; older entries have none). */
  guid?: string;
  [unknown: string]: unknown;
}

export interface Manifest {
  lastUpdated: string;
  episodes: ManifestEpisode[];
  [unknown: string]: unknown;
}

export type ManifestRead =
  | { kind: 'missing'; manifest: Manifest }
  | { kind: 'ok'; manifest: Manifest }
  | { kind: 'invalid'; reason: string };

export function manifestPath(siteDir: string): string {
  return path.join(siteDir, ...MANIFEST_KEY.split('/'));
}

export function emptyManifest(): Manifest {
  return { lastUpdated: new Date(0).toISOString(), episodes: [] };
}

export async function readManifest(file: string): Promise<ManifestRead> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing', manifest: emptyManifest() };
    return { kind: 'invalid', reason: `cannot read ${file}: ${(error as Error).message}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid', reason: `${file} is not valid JSON (${(error as Error).message}); left untouched` };
  }
  const problem = validate(data);
  if (problem) return { kind: 'invalid', reason: `${file}: ${problem}; left untouched` };
  return { kind: 'ok', manifest: data as Manifest };
}

function validate(data: unknown): string | undefined {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return 'not a JSON object';
  const episodes = (data as { episodes?: unknown }).episodes;
  if (!Array.isArray(episodes)) return 'field "episodes" is not an array';
  for (const [i, e] of episodes.entries()) {
    if (!e || typeof e !== 'object') return `episodes[${i}] is not an object`;
    const ep = e as Record<string, unknown>;
    for (const field of ['podcastId', 'fileKey', 'publishedAt'] as const) {
      if (typeof ep[field] !== 'string') return `episodes[${i}].${field} is missing or not a string`;
    }
  }
  return undefined;
}

/** Pretty-printed with 2 spaces and a final newline. */
export function serializeManifest(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n';
}

/** Finds the manifest entry a feed episode already is, using every clue DESIGN §3 allows. */
class EntryIndex {
  private readonly byGuid = new Map<string, ManifestEpisode[]>();
  private readonly byUrl = new Map<string, ManifestEpisode[]>();
  private readonly byDateTitle = new Map<string, ManifestEpisode[]>();
  private readonly claimed = new Set<ManifestEpisode>();

  constructor(entries: ManifestEpisode[]) {
    for (const entry of entries) this.add(entry);
  }

  add(entry: ManifestEpisode): void {
    if (typeof entry.guid === 'string') push(this.byGuid, entry.guid, entry);
    if (typeof entry.originalAudioURL === 'string') push(this.byUrl, normalizeEnclosureUrl(entry.originalAudioURL), entry);
    const published = new Date(entry.publishedAt);
    if (!Number.isNaN(published.getTime())) push(this.byDateTitle, dateTitleKey(published, String(entry.title ?? '')), entry);
  }

  /** The unclaimed entry for `episode`, claimed so no other item of the feed can take it. */
  claim(episode: IdentifiedEpisode): ManifestEpisode | undefined {
    // Two different GUIDs are two different episodes, whatever else they share (re-runs).
    const compatible = (entry: ManifestEpisode) =>
      !this.claimed.has(entry) && !(typeof entry.guid === 'string' && episode.guid !== undefined && entry.guid !== episode.guid);
    const found =
      (episode.uniqueGuid ? this.byGuid.get(episode.guid!)?.find((e) => !this.claimed.has(e)) : undefined) ??
      (episode.uniqueUrl ? this.byUrl.get(episode.normalizedUrl)?.find(compatible) : undefined) ??
      this.byDateTitle.get(dateTitleKey(episode.publishedAt, episode.title))?.find(compatible);
    if (found) this.claimed.add(found);
    return found;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export interface MergeResult {
  added: ManifestEpisode[];
  /** Feed items that matched an existing entry. */
  known: number;
}

/**
 * Add the feed's new episodes for `podcastId` to `manifest` (in place). `downloadedAtMs`
 * is the time they are first added; it becomes their file key's suffix.
 */
export function mergeFeedEpisodes(manifest: Manifest, podcastId: string, episodes: IdentifiedEpisode[], downloadedAtMs: number): MergeResult {
  const own = manifest.episodes.filter((e) => e.podcastId === podcastId);
  const index = new EntryIndex(own);
  const keys = new Set(own.map((e) => e.fileKey));
  const result: MergeResult = { added: [], known: 0 };
  for (const episode of episodes) {
    if (index.claim(episode)) {
      result.known++;
      continue;
    }
    // Same date and title within the same millisecond would give the same key: step on.
    let at = downloadedAtMs;
    let fileKey = episodeFileKey(episode.publishedAt, episode.title, at);
    while (keys.has(fileKey)) fileKey = episodeFileKey(episode.publishedAt, episode.title, ++at);
    keys.add(fileKey);
    const entry: ManifestEpisode = {
      sequentialId: 0,
      podcastId,
      title: episode.title,
      fileKey,
      originalAudioURL: episode.enclosureUrl,
      ...(episode.summary !== undefined ? { summary: episode.summary } : {}),
      ...(episode.durationInSeconds !== undefined ? { durationInSeconds: episode.durationInSeconds } : {}),
      publishedAt: episode.publishedAt.toISOString(),
      downloadedAt: new Date(at).toISOString(),
      hasCompletedLLMAnnotations: false,
      llmAnnotations: {},
      ...(episode.guid !== undefined ? { guid: episode.guid } : {}),
    };
    manifest.episodes.push(entry);
    index.add(entry);
    index.claim(episode); // the new entry is this item's; a repeat later in the feed is known
    result.added.push(entry);
  }
  return result;
}

/**
 * Sort by publication date (oldest first) and number 1..N over the whole site.
 * Returns whether any episode's number or position changed.
 */
export function renumber(manifest: Manifest): boolean {
  const before = manifest.episodes.map((e) => `${e.fileKey}#${e.sequentialId}`).join('\n');
  const time = (e: ManifestEpisode) => {
    const t = Date.parse(e.publishedAt);
    return Number.isNaN(t) ? Number.MAX_SAFE_INTEGER : t;
  };
  const seq = (e: ManifestEpisode) => (typeof e.sequentialId === 'number' && e.sequentialId > 0 ? e.sequentialId : Number.MAX_SAFE_INTEGER);
  manifest.episodes.sort(
    (a, b) => time(a) - time(b) || seq(a) - seq(b) || a.podcastId.localeCompare(b.podcastId) || a.fileKey.localeCompare(b.fileKey),
  );
  manifest.episodes.forEach((e, i) => {
    e.sequentialId = i + 1;
  });
  return manifest.episodes.map((e) => `${e.fileKey}#${e.sequentialId}`).join('\n') !== before;
}

