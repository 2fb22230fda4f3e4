// Chunk transcripts -> one episode transcript. Each chunk's cue times are relative to the
// chunk's first sample; adding the chunk's start (whole ms = whole samples) makes them exact.
// Around a hard cut (chunks.ts) both chunks heard the overlap: each cue is kept once, and the
// words the second chunk repeats at the seam are dropped.
import type { Cue } from '../../site/srt.ts';
import type { Chunk } from './chunks.ts';

export interface ChunkTranscript {
  chunk: Chunk;
  /** Cues as whisper wrote them, times relative to chunk.startMs. */
  cues: Cue[];
}

/** Cues from the overlap are kept only if they reach this far past what is already kept. */
const NEW_AUDIO_MS = 200;
const MAX_SEAM_WORDS = 30;

const normalizeWord = (word: string) => word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');

/** Drop the leading words of `next` that repeat the trailing words of `previous`. */
export function dropRepeatedWords(previous: string, next: string): string {
  const before = previous.split(/\s+/).filter(Boolean).map(normalizeWord);
  const after = next.split(/\s+/).filter(Boolean);
  const afterNorm = after.map(normalizeWord);
  for (let k = Math.min(MAX_SEAM_WORDS, before.length, after.length); k > 0; k--) {
    const tail = before.slice(before.length - k);
    if (tail.every((word, i) => word !== '' && word === afterNorm[i])) return after.slice(k).join(' ');
  }
  return next;
}

export function mergeChunkTranscripts(parts: readonly ChunkTranscript[]): Cue[] {
  const out: Cue[] = [];
  for (const { chunk, cues } of parts) {
    let firstOfChunk = true;
    for (const cue of cues) {
      const startMs = Math.min(cue.startMs + chunk.startMs, chunk.endMs);
      const endMs = Math.min(Math.max(cue.endMs + chunk.startMs, startMs), chunk.endMs);
      let text = cue.text;
      // Past a hard cut's seam: the next chunk transcribes this audio.
      if (chunk.cut === 'hard' && startMs >= chunk.ownEndMs) continue;
      const previous = out[out.length - 1];
      // In the overlap before this chunk's own span: keep only what brings new audio.
      if (startMs < chunk.ownStartMs && (!previous || endMs <= previous.endMs + NEW_AUDIO_MS)) continue;
      if (firstOfChunk && previous && chunk.startMs < chunk.ownStartMs) {
        text = dropRepeatedWords(previous.text, text);
        if (text.trim() === '') continue;
      }
      firstOfChunk = false;
      out.push({ startMs: Math.max(startMs, previous?.startMs ?? 0), endMs, text });
    }
  }
  return out;
}

/**
 * Make cues publishable: times clamped to the audio (random-weight models and hallucinating
 * real ones write cues past the end), starts never going back, empty cues dropped.
 */
export function normalizeCues(cues: readonly Cue[], durationMs: number): Cue[] {
  const out: Cue[] = [];
  let lastStart = 0;
  for (const cue of cues) {
    if (cue.text.trim() === '') continue;
    const startMs = Math.min(Math.max(Math.round(cue.startMs), lastStart), durationMs);
    const endMs = Math.min(Math.max(Math.round(cue.endMs), startMs), durationMs);
    out.push({ startMs, endMs, text: cue.text.trim() });
    lastStart = startMs;
  }
  return out;
}

/** The checks every written transcript passes; returns the first problem, if any. */
export function validateCues(cues: readonly Cue[], durationMs: number, toleranceMs = 1000): string | undefined {
  let lastStart = 0;
  for (const [i, cue] of cues.entries()) {
    if (!Number.isInteger(cue.startMs) || !Number.isInteger(cue.endMs)) return `cue ${i + 1}: times are not whole milliseconds`;
    if (cue.startMs < lastStart) return `cue ${i + 1} starts at ${cue.startMs} ms, before cue ${i} (${lastStart} ms)`;
    if (cue.endMs < cue.startMs) return `cue ${i + 1} ends (${cue.endMs} ms) before it starts (${cue.startMs} ms)`;
    if (cue.endMs > durationMs + toleranceMs) return `cue ${i + 1} ends at ${cue.endMs} ms, past the audio's ${durationMs} ms`;
    lastStart = cue.startMs;
  }
  return undefined;
}
