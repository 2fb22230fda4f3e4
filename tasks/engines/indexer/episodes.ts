// What both indexers (the Lambda function in indexer.ts and the local build in local/) agree on:
// which keys are transcripts and search entries, how a transcript finds its episode in the
// manifest, and the one conversion of an SRT into its search entries (search-entries.ts).
import { srtToSearchEntries, type SearchEntry } from './search-entries.ts';
import { MANIFEST_KEY } from '../../site/manifest.ts';

export const TRANSCRIPT_KEY = /^transcripts\/([^/]+)\/([^/]+)\.srt$/;
export const ENTRIES_KEY = /^search-entries\/([^/]+)\/([^/]+)\.json$/;

export interface ManifestEpisode {
  sequentialId: number;
  podcastId?: string;
  fileKey: string;
  publishedAt: string;
}

/** A transcript or entries key's podcast and file key; undefined for other keys (and dot-files). */
export function episodeOfKey(key: string, pattern: RegExp): { podcastId: string; fileKey: string } | undefined {
  const match = pattern.exec(key);
  if (!match || match[2]!.startsWith('.')) return undefined;
  return { podcastId: match[1]!, fileKey: match[2]! };
}

export function entriesKeyFor(podcastId: string, fileKey: string): string {
  return `search-entries/${podcastId}/${fileKey}.json`;
}

/** The manifest's episodes by podcast and file key. */
export class EpisodeLookup {
  private constructor(private readonly byKey: Map<string, ManifestEpisode>) {}

  /** From the manifest's text; `{ ok: false }` names what is wrong with it. */
  static parse(text: string): { ok: true; lookup: EpisodeLookup } | { ok: false; reason: string } {
    let parsed: { episodes?: unknown };
    try {
      parsed = JSON.parse(text) as { episodes?: unknown };
    } catch (error) {
      return { ok: false, reason: `${MANIFEST_KEY} is not valid JSON: ${(error as Error).message}` };
    }
    if (!Array.isArray(parsed?.episodes)) return { ok: false, reason: `${MANIFEST_KEY} has no "episodes" array` };
    // Two podcasts of a site may share a file key (legacy keys have no timestamp): match on both.
    // Old entries without a podcastId are found by file key alone.
    const byKey = new Map<string, ManifestEpisode>();
    for (const episode of parsed.episodes as ManifestEpisode[]) {
      if (!episode || typeof episode.fileKey !== 'string' || typeof episode.sequentialId !== 'number') continue;
      byKey.set(episode.podcastId === undefined ? episode.fileKey : `${episode.podcastId}/${episode.fileKey}`, episode);
    }
    return { ok: true, lookup: new EpisodeLookup(byKey) };
  }

  find(podcastId: string, fileKey: string): ManifestEpisode | undefined {
    return this.byKey.get(`${podcastId}/${fileKey}`) ?? this.byKey.get(fileKey);
  }
}

/** One transcript's search entries, or why it has none (no episode, unreadable date). Throws SrtError on a broken SRT. */
export function transcriptEntries(
  srt: string | Uint8Array,
  lookup: EpisodeLookup,
  episode: { podcastId: string; fileKey: string },
  key: string,
): { ok: true; entries: SearchEntry[] } | { ok: false; reason: string } {
  const found = lookup.find(episode.podcastId, episode.fileKey);
  if (!found) return { ok: false, reason: `no episode with fileKey "${episode.fileKey}" of podcast "${episode.podcastId}" in ${MANIFEST_KEY}` };
  const publishedAtMs = Date.parse(found.publishedAt);
  if (!Number.isFinite(publishedAtMs)) return { ok: false, reason: `episode ${episode.fileKey} has an unreadable publishedAt "${found.publishedAt}"` };
  return { ok: true, entries: srtToSearchEntries(srt, { sequentialId: found.sequentialId, publishedAtMs }, key) };
}
