// Where to cut long audio. Whisper is given chunks of about `chunkMs`, cut in the middle of a
// silence near each boundary so that no word is split. Where no silence lies near a boundary
// (music, crosstalk), the cut is hard and the two chunks overlap by `overlapMs` on each side
// of it; merge.ts then keeps each cue once and drops the words the two chunks both heard.
// Times are whole milliseconds = whole samples at 16 kHz, so offsets stay exact.

export interface Silence {
  startMs: number;
  endMs: number;
}

export interface Chunk {
  /** Audio of this chunk, in ms from the start of the episode. */
  startMs: number;
  endMs: number;
  /**
   * The span this chunk is responsible for. Equal to the audio span except around hard cuts,
   * where the audio reaches `overlapMs` beyond the seam.
   */
  ownStartMs: number;
  ownEndMs: number;
  /** How the chunk's end was chosen. */
  cut: 'silence' | 'hard' | 'end';
}

export interface ChunkOptions {
  chunkMs: number;
  /** How far from the ideal boundary a silence may be (default: a fifth of chunkMs, at most 60 s). */
  searchMs?: number;
  /** Overlap on each side of a hard cut (default 2 s). */
  overlapMs?: number;
}

/** Split [0, totalMs) into chunks; audio shorter than 1.25 chunks stays one chunk. */
export function planChunks(totalMs: number, silences: readonly Silence[], options: ChunkOptions): Chunk[] {
  const chunkMs = Math.max(1000, Math.round(options.chunkMs));
  const searchMs = Math.round(options.searchMs ?? Math.min(60_000, chunkMs / 5));
  const overlapMs = Math.round(options.overlapMs ?? 2000);
  const total = Math.round(totalMs);
  const chunks: Chunk[] = [];
  let ownStart = 0;
  let audioStart = 0;
  while (total - ownStart > chunkMs * 1.25) {
    const target = ownStart + chunkMs;
    const seam = silenceNear(silences, target, searchMs, ownStart + chunkMs / 2);
    if (seam !== undefined) {
      chunks.push({ startMs: audioStart, endMs: seam, ownStartMs: ownStart, ownEndMs: seam, cut: 'silence' });
      ownStart = audioStart = seam;
    } else {
      chunks.push({ startMs: audioStart, endMs: Math.min(total, target + overlapMs), ownStartMs: ownStart, ownEndMs: target, cut: 'hard' });
      ownStart = target;
      audioStart = target - overlapMs;
    }
  }
  chunks.push({ startMs: audioStart, endMs: total, ownStartMs: ownStart, ownEndMs: total, cut: 'end' });
  return chunks;
}

/** The middle of the silence closest to `target` within ±searchMs, never before `notBefore`. */
function silenceNear(silences: readonly Silence[], target: number, searchMs: number, notBefore: number): number | undefined {
  let best: number | undefined;
  for (const s of silences) {
    const middle = Math.round((s.startMs + s.endMs) / 2);
    if (middle <= notBefore || Math.abs(middle - target) > searchMs) continue;
    if (best === undefined || Math.abs(middle - target) < Math.abs(best - target)) best = middle;
  }
  return best;
}

/** Parse ffmpeg silencedetect lines ("silence_start: 12.3", "silence_end: 14.1 | ..."). */
export function parseSilences(ffmpegLog: string, totalMs?: number): Silence[] {
  const silences: Silence[] = [];
  let start: number | undefined;
  for (const line of ffmpegLog.split('\n')) {
    const started = /silence_start:\s*(-?[\d.]+)/.exec(line);
    if (started) start = Math.max(0, Math.round(Number(started[1]) * 1000));
    const ended = /silence_end:\s*([\d.]+)/.exec(line);
    if (ended && start !== undefined) {
      silences.push({ startMs: start, endMs: Math.round(Number(ended[1]) * 1000) });
      start = undefined;
    }
  }
  // A silence running to the end of the file has no silence_end line.
  if (start !== undefined && totalMs !== undefined && totalMs > start) silences.push({ startMs: start, endMs: Math.round(totalMs) });
  return silences;
}
