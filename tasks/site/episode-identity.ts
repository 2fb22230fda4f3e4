// Episode identity (ARCHITECTURE.md "File layout"): the GUID when present and unique in the feed; otherwise the
// enclosure URL without tracker prefixes and query; otherwise date + title. Enclosure URLs
// are compared after normalisation, so a changed tracker prefix or `?updated=` token is the
// same episode.
import { utcDate } from './file-key.ts';

/** One audio item of a feed, as the feed states it. */
export interface FeedEpisode {
  /** The item's GUID (RSS) or id (Atom), trimmed; undefined when absent or empty. */
  guid?: string;
  title: string;
  publishedAt: Date;
  enclosureUrl: string;
  enclosureType: string;
  enclosureLength?: number;
  durationInSeconds?: number;
  summary?: string;
}

export type Identity =
  | { kind: 'guid'; value: string }
  | { kind: 'url'; value: string }
  | { kind: 'date-title'; value: string };

export interface IdentifiedEpisode extends FeedEpisode {
  identity: Identity;
  /** Normalised enclosure URL (host + path, no scheme, no tracker prefixes, no query). */
  normalizedUrl: string;
  /** Whether the GUID is present and unique in its feed (so it may be matched on). */
  uniqueGuid: boolean;
  /** Whether the normalised URL is unique in its feed. */
  uniqueUrl: boolean;
}

export function identityKey(identity: Identity): string {
  return `${identity.kind}:${identity.value}`;
}

/**
 * Measurement and redirect services that prefix the real URL's host and path. Each entry is
 * the prefix as `host/path-prefix/`, where `*` stands for one path segment (a show or
 * campaign id). Applied repeatedly: real enclosures chain up to four of them.
 */
const TRACKER_PREFIXES: RegExp[] = [
  /^(?:www\.|dts\.)?podtrac\.com\/pts\/redirect\.[a-z0-9]+\//i,
  /^(?:www\.|dts\.)?podtrac\.com\/redirect\.[a-z0-9]+\//i,
  /^play\.podtrac\.com\/[^/]+\//i,
  /^(?:chtbl\.com|chrt\.fm)\/track\/[^/]+\//i,
  /^pdst\.fm\/e\//i,
  /^op3\.dev\/e(?:,[^/]*)?\//i,
  /^(?:verifi\.)?(?:pscrb\.fm|podscribe\.com)\/rss\/p\//i,
  /^arttrk\.com\/p\/[^/]+\//i,
  /^mgln\.ai\/e\/[^/]+\//i,
  /^(?:prfx\.byspotify\.com|prefix\.up\.audio)\/e\/(?:[^/]+\/)?/i,
  /^claritaspod\.com\/measure\//i,
  /^clrtpod\.com\/m\//i,
  /^media\.blubrry\.com\/[^/]+\//i,
  /^(?:pfx\.vpixl\.com|growx\.podkite\.com)\/[^/]+\//i,
  /^injector\.simplecastaudio\.com\/[^/]+\/[^/]+\/[^/]+\//i,
];

/**
 * Host + path of the audio behind any tracker prefixes, without scheme, query or fragment,
 * host lowercased. Unparseable input is returned trimmed so it still compares.
 */
export function normalizeEnclosureUrl(raw: string): string {
  let rest = raw.trim();
  // Podtrac's legacy form carries the real URL as the query: redirect.mp3?http://host/path
  const embedded = /^https?:\/\/(?:www\.)?podtrac\.com\/pts\/redirect\.[a-z0-9]+\?(https?:\/\/.+)$/i.exec(rest);
  if (embedded) rest = embedded[1]!;
  // anchor.fm play redirects carry the percent-encoded real URL as the last path segment.
  const anchor = /^https?:\/\/anchor\.fm\/s\/[^/]+\/podcast\/play\/\d+\/(https?%3A%2F%2F[^?#]+)/i.exec(rest);
  if (anchor) rest = safeDecode(anchor[1]!);
  rest = rest.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/[?#].*$/s, '');
  for (let changed = true, rounds = 0; changed && rounds < 8; rounds++) {
    changed = false;
    for (const prefix of TRACKER_PREFIXES) {
      const m = prefix.exec(rest);
      if (m && rest.length > m[0].length) {
        rest = rest.slice(m[0].length).replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
        changed = true;
      }
    }
  }
  const slash = rest.indexOf('/');
  const host = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase().replace(/:(80|443)$/, '');
  const path = slash < 0 ? '' : rest.slice(slash);
  return host + path;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The date + title identity value: UTC calendar date and whitespace-collapsed title. */
export function dateTitleKey(publishedAt: Date, title: string): string {
  return `${utcDate(publishedAt)}|${title.trim().replace(/\s+/g, ' ')}`;
}

export interface IdentifyResult {
  episodes: IdentifiedEpisode[];
  /** Items that repeat an earlier item's identity (the same episode listed twice). */
  duplicates: IdentifiedEpisode[];
}

/** Give every episode of one feed its identity; later repeats of an identity are set aside. */
export function identifyEpisodes(feedEpisodes: FeedEpisode[]): IdentifyResult {
  const guidCount = countBy(feedEpisodes.map((e) => e.guid).filter((g): g is string => g !== undefined));
  const urls = feedEpisodes.map((e) => normalizeEnclosureUrl(e.enclosureUrl));
  const urlCount = countBy(urls);
  const seen = new Set<string>();
  const result: IdentifyResult = { episodes: [], duplicates: [] };
  feedEpisodes.forEach((episode, index) => {
    const normalizedUrl = urls[index]!;
    const uniqueGuid = episode.guid !== undefined && guidCount.get(episode.guid) === 1;
    const uniqueUrl = normalizedUrl !== '' && urlCount.get(normalizedUrl) === 1;
    const identity: Identity = uniqueGuid
      ? { kind: 'guid', value: episode.guid! }
      : uniqueUrl
        ? { kind: 'url', value: normalizedUrl }
        : { kind: 'date-title', value: dateTitleKey(episode.publishedAt, episode.title) };
    const identified: IdentifiedEpisode = { ...episode, identity, normalizedUrl, uniqueGuid, uniqueUrl };
    const key = identityKey(identity);
    if (seen.has(key)) result.duplicates.push(identified);
    else {
      seen.add(key);
      result.episodes.push(identified);
    }
  });
  return result;
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
