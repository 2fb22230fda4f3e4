// The site's episode manifest (ARCHITECTURE.md "File layout"): read, merge a feed's episodes into it, number
// them, write it. Unknown fields (top level and per episode) are carried through untouched;
// existing entries are never rewritten, only renumbered; the file is written only when the
// episodes changed, so a run with nothing new writes nothing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { episodeFileKey, fileKeyTitle } from './file-key.ts';
import { dateTitleKey, normalizeEnclosureUrl, type IdentifiedEpisode } from './episode-identity.ts';

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
  const parsed = parseManifest(text);
  if (!parsed.ok) return { kind: 'invalid', reason: `${file}: ${parsed.reason}; left untouched` };
  return { kind: 'ok', manifest: parsed.manifest };
}

/**
 * A manifest document from its text. Empty, truncated and unparseable texts are refused with
 * the reason: they must never replace a parseable copy (ARCHITECTURE.md, "Episode manifest").
 */
export function parseManifest(text: string): { ok: true; manifest: Manifest } | { ok: false; reason: string } {
  if (text.trim() === '') return { ok: false, reason: `empty (${Buffer.byteLength(text)} bytes)` };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not valid JSON, truncated or damaged (${(error as Error).message})` };
  }
  const problem = validate(data);
  if (problem) return { ok: false, reason: problem };
  return { ok: true, manifest: data as Manifest };
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

/** Finds the manifest entry a feed episode already is, using every clue ARCHITECTURE.md "File layout" allows. */
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
  /** Of `added`, the file keys taken over from orphan files instead of minted. */
  adopted: string[];
  /** New episodes left for a later run by the cap. */
  deferred: number;
}

/**
 * Add the feed's new episodes for `podcastId` to `manifest` (in place). `downloadedAtMs`
 * is the time they are first added; it becomes their file key's suffix.
 */
export function mergeFeedEpisodes(
  manifest: Manifest,
  podcastId: string,
  episodes: IdentifiedEpisode[],
  downloadedAtMs: number,
  orphans?: OrphanEpisodeFiles,
  /** At most this many new episodes are added (the feed's newest first); adopted ones do not count. */
  limit = Infinity,
): MergeResult {
  const own = manifest.episodes.filter((e) => e.podcastId === podcastId);
  const index = new EntryIndex(own);
  const keys = new Set(own.map((e) => e.fileKey));
  const result: MergeResult = { added: [], known: 0, adopted: [], deferred: 0 };
  // With a cap, the newest are added first; the rest stay in the feed for the next runs.
  const ordered = Number.isFinite(limit) ? [...episodes].sort((a, b) => b.publishedAt.getTime() - a.publishedAt.getTime()) : episodes;
  let downloadsAdded = 0;
  for (const episode of ordered) {
    if (index.claim(episode)) {
      result.known++;
      continue;
    }
    const adoptable = orphans?.peek(podcastId, episode.publishedAt, episode.title) !== undefined;
    if (!adoptable && downloadsAdded >= limit) {
      result.deferred++;
      continue;
    }
    if (!adoptable) downloadsAdded++;
    // Files of this episode that survived the loss of its manifest entry keep their key.
    let at = downloadedAtMs;
    let fileKey = orphans?.claim(podcastId, episode.publishedAt, episode.title);
    if (fileKey !== undefined) {
      at = splitFileKey(fileKey).ms ?? downloadedAtMs;
      result.adopted.push(fileKey);
    } else {
      // Same date and title within the same millisecond would give the same key: step on.
      fileKey = episodeFileKey(episode.publishedAt, episode.title, at);
      while (keys.has(fileKey)) fileKey = episodeFileKey(episode.publishedAt, episode.title, ++at);
    }
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


/** The identity clues of a manifest entry: GUID, normalised enclosure URL, date + title. */
interface EntryClues {
  guid?: string;
  url?: string;
  dateTitle?: string;
}

function cluesOf(entry: ManifestEpisode): EntryClues {
  const published = new Date(entry.publishedAt);
  return {
    guid: typeof entry.guid === 'string' ? entry.guid : undefined,
    url: typeof entry.originalAudioURL === 'string' && entry.originalAudioURL !== '' ? normalizeEnclosureUrl(entry.originalAudioURL) : undefined,
    dateTitle: Number.isNaN(published.getTime()) ? undefined : dateTitleKey(published, String(entry.title ?? '')),
  };
}

/**
 * Matches manifest entries of one or two documents by episode identity, scoped to a podcast:
 * the same file key; else the same GUID (two different GUIDs are two episodes); else the same
 * enclosure URL or the same date + title, each only where it is unique on both sides (a feed
 * may reuse an enclosure for two episodes).
 */
class EpisodeMatcher {
  private readonly kept: ManifestEpisode[] = [];
  /** Which document each kept entry came from (for the uniqueness of its clues). */
  private readonly source = new Map<ManifestEpisode, number>();
  private readonly byFileKey = new Map<string, ManifestEpisode>();
  private readonly byGuid = new Map<string, ManifestEpisode>();
  private readonly byUrl = new Map<string, ManifestEpisode[]>();
  private readonly byDateTitle = new Map<string, ManifestEpisode[]>();

  /** `unique`: whether a clue occurs once in its document for that podcast. */
  constructor(private readonly unique: (doc: number, podcastId: string, clue: 'url' | 'dateTitle', value: string) => boolean) {}

  find(entry: ManifestEpisode, doc: number): ManifestEpisode | undefined {
    const scope = (value: string) => `${entry.podcastId}\u0000${value}`;
    const byKey = this.byFileKey.get(scope(entry.fileKey));
    if (byKey) return byKey;
    const clues = cluesOf(entry);
    if (clues.guid !== undefined) {
      const byGuid = this.byGuid.get(scope(clues.guid));
      if (byGuid) return byGuid;
    }
    const compatible = (other: ManifestEpisode) => !(clues.guid !== undefined && typeof other.guid === 'string' && other.guid !== clues.guid);
    for (const clue of ['url', 'dateTitle'] as const) {
      const value = clues[clue];
      if (value === undefined || !this.unique(doc, entry.podcastId, clue, value)) continue;
      const map = clue === 'url' ? this.byUrl : this.byDateTitle;
      const candidates = (map.get(scope(value)) ?? []).filter(compatible);
      if (candidates.length === 1 && this.unique(this.source.get(candidates[0]!)!, entry.podcastId, clue, value)) return candidates[0];
    }
    return undefined;
  }

  add(entry: ManifestEpisode, doc: number): void {
    const scope = (value: string) => `${entry.podcastId}\u0000${value}`;
    this.kept.push(entry);
    this.source.set(entry, doc);
    this.byFileKey.set(scope(entry.fileKey), entry);
    const clues = cluesOf(entry);
    if (clues.guid !== undefined) this.byGuid.set(scope(clues.guid), entry);
    if (clues.url !== undefined) push(this.byUrl, scope(clues.url), entry);
    if (clues.dateTitle !== undefined) push(this.byDateTitle, scope(clues.dateTitle), entry);
  }

  entries(): ManifestEpisode[] {
    return this.kept;
  }
}

/** How often each enclosure URL and date + title occurs per document and podcast. */
function clueCounter(documents: Manifest[]): (doc: number, podcastId: string, clue: 'url' | 'dateTitle', value: string) => boolean {
  const counts = new Map<string, number>();
  const id = (doc: number, podcastId: string, clue: string, value: string) => `${doc}\u0000${clue}\u0000${podcastId}\u0000${value}`;
  documents.forEach((document, doc) => {
    for (const entry of document.episodes) {
      const clues = cluesOf(entry);
      for (const clue of ['url', 'dateTitle'] as const) {
        const value = clues[clue];
        if (value === undefined) continue;
        const key = id(doc, entry.podcastId, clue, value);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
  });
  return (doc, podcastId, clue, value) => counts.get(id(doc, podcastId, clue, value)) === 1;
}

export interface ManifestMerge {
  manifest: Manifest;
  /** Whether the result differs from `preferred` (it must then be written). */
  changed: boolean;
  /** Entries of `other` that `preferred` lacked. */
  added: ManifestEpisode[];
  /** The same episode under two file keys: the one kept and the one dropped (its files become orphans). */
  collapsed: { kept: ManifestEpisode; dropped: ManifestEpisode }[];
}

/**
 * The union of two manifests by episode identity (ARCHITECTURE.md, "Episode manifest"): every
 * episode of either is in the result, each once. For an episode both hold, `preferred`'s entry
 * is kept (the bucket's: other machines may already have transcribed it under that file key)
 * and only fields it lacks are filled in from the other; an episode listed twice within one
 * document keeps its first download. Unknown top-level fields are kept, `preferred`'s first.
 * When nothing changes, `preferred` itself is returned, so its bytes stay the same.
 */
export function mergeManifests(preferred: Manifest, other: Manifest): ManifestMerge {
  const matcher = new EpisodeMatcher(clueCounter([preferred, other]));
  const collapsed: ManifestMerge['collapsed'] = [];
  const added: ManifestEpisode[] = [];
  const byDownload = (list: ManifestEpisode[]) =>
    list.map((entry, position) => ({ entry, position })).sort((a, b) => String(a.entry.downloadedAt).localeCompare(String(b.entry.downloadedAt)) || a.position - b.position);
  for (const [doc, list] of [preferred.episodes, other.episodes].entries()) {
    for (const { entry } of byDownload(list)) {
      const match = matcher.find(entry, doc);
      if (!match) {
        matcher.add({ ...entry }, doc);
        if (doc === 1) added.push(entry);
        continue;
      }
      for (const [field, value] of Object.entries(entry)) if (!(field in match)) match[field] = value;
      if (match.fileKey !== entry.fileKey) collapsed.push({ kept: match, dropped: entry });
    }
  }
  const merged: Manifest = { ...preferred, episodes: matcher.entries() };
  for (const [field, value] of Object.entries(other)) if (!(field in merged)) merged[field] = value;
  renumber(merged);
  const changed = serializeManifest({ ...merged, lastUpdated: preferred.lastUpdated }) !== serializeManifest(preferred);
  if (!changed) return { manifest: preferred, changed, added, collapsed };
  merged.lastUpdated = new Date().toISOString();
  return { manifest: merged, changed, added, collapsed };
}

/** `audio/<podcastId>/<fileKey>.mp3` and its siblings: the files that belong to an episode. */
const EPISODE_FILE = /^(audio|transcripts|search-entries)\/([^/]+)\/(.+)\.(mp3|srt|json)$/;

interface ExistingKey {
  fileKey: string;
  folders: Set<string>;
}

/** The comparable part of a date + title: lower-case letters and digits only. */
function titleStem(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * Episode files already on disk or in the bucket that no manifest entry names: after a manifest
 * was lost or rebuilt, a feed item is matched to them by the date and title part of their file
 * key and adopted with that key, instead of being downloaded again under a new one.
 */
export class OrphanEpisodeFiles {
  /** podcastId -> file key -> folders holding a file of it. */
  private readonly byPodcast = new Map<string, Map<string, ExistingKey>>();

  constructor(keys: Iterable<string>, manifest: Manifest) {
    const named = new Set(manifest.episodes.map((e) => `${e.podcastId}/${e.fileKey}`));
    for (const key of keys) {
      const m = EPISODE_FILE.exec(key);
      if (!m) continue;
      const [, folder, podcastId, fileKey] = m as unknown as [string, string, string, string];
      if (named.has(`${podcastId}/${fileKey}`) || !/^\d{4}-\d{2}-\d{2}_/.test(fileKey)) continue;
      const files = this.byPodcast.get(podcastId) ?? new Map<string, ExistingKey>();
      this.byPodcast.set(podcastId, files);
      const existing = files.get(fileKey) ?? { fileKey, folders: new Set() };
      existing.folders.add(folder);
      files.set(fileKey, existing);
    }
  }

  /** The orphan file key of this feed item, claimed (so no other item takes it), or undefined. */
  claim(podcastId: string, publishedAt: Date, title: string): string | undefined {
    const chosen = this.peek(podcastId, publishedAt, title);
    if (chosen !== undefined) this.byPodcast.get(podcastId)!.delete(chosen);
    return chosen;
  }

  /** The orphan file key this feed item would adopt, without claiming it. */
  peek(podcastId: string, publishedAt: Date, title: string): string | undefined {
    const files = this.byPodcast.get(podcastId);
    if (!files || Number.isNaN(publishedAt.getTime())) return undefined;
    const date = publishedAt.toISOString().slice(0, 10);
    const wanted = titleStem(fileKeyTitle(title));
    const candidates = [...files.values()].filter((file) => {
      const { stem, ms } = splitFileKey(file.fileKey);
      if (stem.slice(0, 10) !== date) return false;
      const have = titleStem(stem.slice(11));
      // Legacy keys (no "--<ms>") were cut at other lengths: a long enough prefix matches.
      return have === wanted || (ms === undefined && Math.min(have.length, wanted.length) >= 12 && (have.startsWith(wanted) || wanted.startsWith(have)));
    });
    if (candidates.length === 0) return undefined;
    // A transcript is worth more than audio alone; then the first download.
    candidates.sort((a, b) => Number(b.folders.has('transcripts')) - Number(a.folders.has('transcripts')) || a.fileKey.localeCompare(b.fileKey));
    return candidates[0]!.fileKey;
  }

  /** Orphans no feed item claimed, as `<podcastId>/<fileKey>`. */
  unclaimed(): string[] {
    return [...this.byPodcast].flatMap(([podcastId, files]) => [...files.keys()].map((k) => `${podcastId}/${k}`)).sort();
  }
}

/** "2024-07-25_Title--1721921400000" -> { stem: "2024-07-25_Title", ms: 1721921400000 }; legacy keys have no ms. */
export function splitFileKey(fileKey: string): { stem: string; ms?: number } {
  const match = /^(.*)--(\d{13})$/.exec(fileKey);
  return match ? { stem: match[1]!, ms: Number(match[2]) } : { stem: fileKey };
}
