// Feed bytes to episodes: decode, guard (xml-guard.ts), parse with fast-xml-parser, then read
// RSS 2.0 (+ iTunes namespace) or Atom. Only items with an audio enclosure become episodes;
// the others are counted and, when they have no usable date, named in a warning.
import { XMLParser } from 'fast-xml-parser';
import { decodeFeedBytes } from './decode.ts';
import { checkXml } from './xml-guard.ts';
import { parseDuration, parseFeedDate } from './dates.ts';

import type { FeedEpisode } from '../../site/episode-identity.ts';

export type { FeedEpisode };

export interface ParsedFeed {
  format: 'rss' | 'atom';
  title: string;
  encoding: string;
  /** Every item, audio or not. */
  itemCount: number;
  episodes: FeedEpisode[];
  /** Items left out because they carry no audio enclosure (none, video, image...). */
  nonAudioItems: number;
  warnings: string[];
  /** `<itunes:new-feed-url>`: the publisher moved the feed there (an http(s) URL). */
  newFeedUrl?: string;
}

export type ParseOutcome = { ok: true; feed: ParsedFeed } | { ok: false; reason: string };

/** Feeds above this are refused before parsing (the largest real feed in the corpus is 1.9 MB). */
export const MAX_FEED_BYTES = 25 * 1024 * 1024;
const MAX_SUMMARY_CHARS = 4000;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  // xml-guard.ts has already refused DOCTYPE and every named entity but the predefined five,
  // so this decodes only &amp; &lt; &gt; &quot; &apos; and numeric references.
  processEntities: true,
  htmlEntities: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (name) => ['item', 'entry', 'enclosure', 'link', 'guid', 'id', 'title'].includes(name),
});

type Node = Record<string, unknown>;

export function parseFeed(bytes: Uint8Array, options: { httpCharset?: string } = {}): ParseOutcome {
  if (bytes.length > MAX_FEED_BYTES) return { ok: false, reason: `feed is ${bytes.length} bytes, above the ${MAX_FEED_BYTES}-byte cap` };
  const decoded = decodeFeedBytes(bytes, options.httpCharset);
  if (!decoded.ok) return decoded;
  // Some real feeds start with a newline before <?xml ...?>: tolerated, nothing else is.
  const text = decoded.text.replace(/^[\s\uFEFF]+/, '');
  if (text === '') return { ok: false, reason: 'empty document (only whitespace)' };
  const guarded = checkXml(text);
  if (!guarded.ok) return guarded;

  let doc: Node;
  try {
    doc = parser.parse(text) as Node;
  } catch (error) {
    return { ok: false, reason: `XML parser: ${(error as Error).message}` };
  }
  const rootName = Object.keys(doc).find((k) => !k.startsWith('?') && !k.startsWith('#'));
  if (rootName === undefined) return { ok: false, reason: 'not a feed: no root element' };
  const root = asNode(doc[rootName]) ?? {};
  const local = rootName.replace(/^.*:/, '');
  let feed: ParsedFeed;
  if (local === 'rss') feed = readRss(root, decoded.encoding);
  else if (local === 'feed') feed = readAtom(root, decoded.encoding);
  else if (local === 'RDF') feed = readRss({ channel: { ...asNode(root.channel), item: root.item } }, decoded.encoding);
  else {
    const hint = local.toLowerCase() === 'html' ? ' (an HTML page was served instead)' : '';
    return { ok: false, reason: `not a feed: the root element is <${rootName}>, expected <rss> or Atom <feed>${hint}` };
  }
  if (feed.itemCount > 0 && feed.episodes.length === 0 && feed.nonAudioItems === feed.itemCount) {
    feed.warnings.push(`none of the ${feed.itemCount} items has an audio enclosure`);
  }
  return { ok: true, feed };
}

function asNode(value: unknown): Node | undefined {
  if (Array.isArray(value)) value = value[0];
  return value !== null && typeof value === 'object' ? (value as Node) : undefined;
}

function asArray(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

/** Text content of an element (string, or `#text` of an element with attributes). */
function text(value: unknown): string | undefined {
  if (Array.isArray(value)) return text(value[0]);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const node = asNode(value);
  if (node && '#text' in node) return text(node['#text']);
  return undefined;
}

function attr(value: unknown, name: string): string | undefined {
  const node = asNode(value);
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? v.trim() : undefined;
}

/** The first child whose local name is `name` in any of the given prefixes ('' = none). */
function child(node: Node, names: string[]): unknown {
  for (const n of names) if (node[n] !== undefined) return node[n];
  return undefined;
}

const AUDIO_EXTENSIONS = /\.(mp3|m4a|aac|ogg|oga|opus|wav|flac)$/i;

/** Audio means a MIME type `audio/*`; an untyped enclosure counts when its path looks like audio. */
function isAudio(type: string, url: string): boolean {
  if (type) return /^audio\//i.test(type);
  try {
    return AUDIO_EXTENSIONS.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

function clip(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (t === '') return undefined;
  return t.length > MAX_SUMMARY_CHARS ? `${t.slice(0, MAX_SUMMARY_CHARS)}…` : t;
}

/** Where RSS and Atom keep the same facts; one reader walks both. */
interface FeedShape {
  format: ParsedFeed['format'];
  /** "item" or "entry", for warnings about untitled ones. */
  noun: string;
  title: unknown;
  entries: unknown[];
  /** The first audio enclosure of an entry, if any. */
  enclosure(entry: Node): { url: string; type: string; length?: string } | undefined;
  guidField: string;
  dateFields: string[];
  summaryFields: string[];
}

function readRss(root: Node, encoding: string): ParsedFeed {
  const channel = asNode(root.channel) ?? {};
  const moved = text(channel['itunes:new-feed-url'])?.trim();
  const feed = readEntries(
    {
      format: 'rss',
      noun: 'item',
      title: channel.title,
      entries: asArray(channel.item ?? root.item),
      enclosure: (item) => {
        const found = asArray(item.enclosure).find((e) => {
          const url = attr(e, 'url') ?? '';
          return url !== '' && isAudio(attr(e, 'type') ?? '', url);
        });
        return found === undefined ? undefined : { url: attr(found, 'url')!, type: attr(found, 'type') ?? '', length: attr(found, 'length') };
      },
      guidField: 'guid',
      dateFields: ['pubDate', 'dc:date', 'pubdate', 'published', 'updated'],
      summaryFields: ['itunes:summary', 'description', 'itunes:subtitle', 'content:encoded'],
    },
    encoding,
  );
  if (moved && /^https?:\/\/\S+$/i.test(moved)) feed.newFeedUrl = moved;
  return feed;
}

function readAtom(root: Node, encoding: string): ParsedFeed {
  return readEntries(
    {
      format: 'atom',
      noun: 'entry',
      title: root.title,
      entries: asArray(root.entry),
      enclosure: (entry) => {
        const found = asArray(entry.link).find((l) => attr(l, 'rel') === 'enclosure' && isAudio(attr(l, 'type') ?? '', attr(l, 'href') ?? ''));
        const url = attr(found, 'href');
        return url ? { url, type: attr(found, 'type') ?? '', length: attr(found, 'length') } : undefined;
      },
      guidField: 'id',
      dateFields: ['published', 'updated', 'issued', 'modified'],
      summaryFields: ['summary', 'content', 'itunes:summary'],
    },
    encoding,
  );
}

function readEntries(shape: FeedShape, encoding: string): ParsedFeed {
  const feed: ParsedFeed = {
    format: shape.format,
    title: text(shape.title)?.trim() ?? '',
    encoding,
    itemCount: shape.entries.length,
    episodes: [],
    nonAudioItems: 0,
    warnings: [],
  };
  shape.entries.forEach((raw, index) => {
    const entry = asNode(raw) ?? {};
    const title = (text(entry.title) ?? '').trim();
    const label = title ? `"${title}"` : `${shape.noun} ${index + 1}`;
    const enclosure = shape.enclosure(entry);
    if (!enclosure) {
      feed.nonAudioItems++;
      return;
    }
    const rawDate = text(child(entry, shape.dateFields));
    const publishedAt = parseFeedDate(rawDate);
    if (!publishedAt) {
      feed.warnings.push(`skipped ${label}: no usable publication date (${rawDate === undefined ? 'none' : JSON.stringify(rawDate)})`);
      return;
    }
    const length = Number(enclosure.length);
    feed.episodes.push({
      guid: text(entry[shape.guidField])?.trim() || undefined,
      title,
      publishedAt,
      enclosureUrl: enclosure.url,
      enclosureType: enclosure.type,
      enclosureLength: Number.isFinite(length) && length > 0 ? length : undefined,
      durationInSeconds: parseDuration(text(child(entry, ['itunes:duration', 'duration']))),
      summary: clip(text(child(entry, shape.summaryFields))),
    });
  });
  return feed;
}
