// SRT cues to search entries (ARCHITECTURE.md "File layout"): the one rule the indexer applies, kept pure so it
// can be table-tested. Cues are accumulated into chunks; a chunk is closed at the last cue,
// when it lasts 15 s, or when it lasts 7 s and the cue ends a sentence.
import { parseSrt, type Cue } from '../../site/srt.ts';

export interface SearchEntry {
  /** `<sequentialId>_<startMs>`: unique within a site. */
  id: string;
  text: string;
  sequentialEpisodeIdAsString: string;
  startTimeMs: number;
  endTimeMs: number;
  /** The episode's publication time, epoch milliseconds. */
  episodePublishedUnixTimestamp: number;
}

export interface EpisodeRef {
  sequentialId: number;
  /** Epoch milliseconds of the episode's publication. */
  publishedAtMs: number;
}

/** A chunk this long is closed whatever its last cue says. */
export const MAX_CHUNK_MS = 15_000;
/** From this long on, a chunk is closed at the first cue that ends a sentence. */
export const SENTENCE_CHUNK_MS = 7_000;

const SENTENCE_END = /[.!?]$/;

/** One cue's text as searched: lines joined by a space, whitespace collapsed. */
function cueText(cue: Cue): string {
  return cue.text.split('\n').map((line) => line.trim()).filter(Boolean).join(' ').replace(/\s+/g, ' ');
}

/** Chunk parsed cues into search entries for one episode. */
export function cuesToSearchEntries(cues: readonly Cue[], episode: EpisodeRef): SearchEntry[] {
  const kept = cues
    .map((cue) => ({ startMs: Math.round(cue.startMs), endMs: Math.round(cue.endMs), text: cueText(cue) }))
    .filter((cue) => cue.text !== '');
  const entries: SearchEntry[] = [];
  let chunk: { startMs: number; endMs: number; texts: string[] } | undefined;
  kept.forEach((cue, index) => {
    chunk ??= { startMs: cue.startMs, endMs: cue.endMs, texts: [] };
    chunk.endMs = cue.endMs;
    chunk.texts.push(cue.text);
    const lasted = chunk.endMs - chunk.startMs;
    const isLast = index === kept.length - 1;
    if (isLast || lasted >= MAX_CHUNK_MS || (lasted >= SENTENCE_CHUNK_MS && SENTENCE_END.test(cue.text))) {
      entries.push({
        id: `${episode.sequentialId}_${chunk.startMs}`,
        text: chunk.texts.join(' '),
        sequentialEpisodeIdAsString: String(episode.sequentialId),
        startTimeMs: chunk.startMs,
        endTimeMs: chunk.endMs,
        episodePublishedUnixTimestamp: episode.publishedAtMs,
      });
      chunk = undefined;
    }
  });
  return entries;
}

/** Parse SRT bytes or text and chunk them. Throws SrtError (naming `name`) on an unreadable file. */
export function srtToSearchEntries(srt: string | Uint8Array, episode: EpisodeRef, name?: string): SearchEntry[] {
  return cuesToSearchEntries(parseSrt(srt, name), episode);
}
