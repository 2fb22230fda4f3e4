// One episode, start to finish: decode, cut into chunks, whisper each chunk, merge, check,
// correct spelling, write the SRT atomically. Everything temporary lives in one folder under the
// work root that is removed when the episode ends, however it ends (after the child processes
// are gone); a run killed outright leaves it to the next run's sweep (sweepLocalRoot).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { trackTemporary, untrackTemporary, writeFileAtomic } from '../../platform/atomic.ts';
import { formatSrt } from '../../site/srt.ts';
import { decodeToPcm, writeChunkWav } from './audio.ts';
import { planChunks } from './chunks.ts';
import { mergeChunkTranscripts, normalizeCues, validateCues, type ChunkTranscript } from './merge.ts';
import type { TranscriptionItem } from './plan.ts';
import { applySpelling, type SpellingRule } from './spelling.ts';
import { runWhisper } from './whisper-run.ts';

export interface EpisodeSettings {
  cli: string;
  model: string;
  randomWeights: boolean;
  threads: number;
  prompt?: string;
  chunkMs: number;
  spelling: readonly SpellingRule[];
  signal: AbortSignal;
  /** Where the episode's work folder goes: `workRootFor(localRoot, site)`, on the local root's disk (the decoded audio is 115 MB per hour). */
  workRoot: string;
  /** Audio milliseconds of this episode done so far (called often; cheap). */
  onProgress: (doneMs: number, totalMs: number) => void;
  /** Detail for --verbose (chunk boundaries). */
  debug?: (message: string) => void;
}

export type EpisodeOutcome =
  | { kind: 'written'; cues: number; durationMs: number; chunks: number; replacements: number }
  | { kind: 'failed'; message: string; code?: string };

/** `expectedMs`: the container's announced duration (the step probes every file up front). */
export async function transcribeEpisode(item: TranscriptionItem, s: EpisodeSettings, expectedMs: number | undefined): Promise<EpisodeOutcome> {
  await mkdir(s.workRoot, { recursive: true });
  const dir = await mkdtemp(path.join(s.workRoot, `whisper-${process.pid}-`));
  // Each episode removes its own work folder; the registry covers a forced exit.
  trackTemporary(dir);
  try {
    const audio = await decodeToPcm(item.audioPath, dir, { signal: s.signal, expectedMs, debug: s.debug });
    const chunks = planChunks(audio.durationMs, audio.silences, { chunkMs: s.chunkMs });
    s.debug?.(`${item.audioKey}: ${audio.durationMs} ms, chunks ${chunks.map((c) => `${c.startMs}-${c.endMs}/${c.cut}`).join(' ')}`);
    const parts: ChunkTranscript[] = [];
    let doneMs = 0;
    for (const [i, chunk] of chunks.entries()) {
      const wavPath = path.join(dir, `chunk-${i}.wav`);
      await writeChunkWav(audio.pcmPath, chunk, wavPath);
      const ownMs = chunk.ownEndMs - chunk.ownStartMs;
      const cues = await runWhisper({
        cli: s.cli,
        model: s.model,
        wavPath,
        outBase: path.join(dir, `chunk-${i}`),
        threads: s.threads,
        prompt: s.prompt,
        noFallback: s.randomWeights,
        durationMs: chunk.endMs - chunk.startMs,
        signal: s.signal,
        debug: s.debug,
        onProgress: (fraction) => s.onProgress(doneMs + fraction * ownMs, audio.durationMs),
      });
      await rm(wavPath, { force: true });
      parts.push({ chunk, cues });
      doneMs += ownMs;
    }
    const merged = normalizeCues(mergeChunkTranscripts(parts), audio.durationMs);
    const problem = validateCues(merged, audio.durationMs);
    if (problem) return { kind: 'failed', message: `transcript failed validation: ${problem}`, code: 'invalid-srt' };
    const corrected = applySpelling(merged, s.spelling);
    // The step runs this whole episode behind its dry-run gate, so this write is real.
    await writeFileAtomic(item.srtPath, formatSrt(corrected.cues));
    return { kind: 'written', cues: corrected.cues.length, durationMs: audio.durationMs, chunks: chunks.length, replacements: corrected.replacements };
  } catch (error) {
    if (s.signal.aborted) throw error;
    const code = (error as { code?: unknown }).code;
    return { kind: 'failed', message: error instanceof Error ? error.message : String(error), code: typeof code === 'string' ? code : undefined };
  } finally {
    await rm(dir, { recursive: true, force: true });
    untrackTemporary(dir);
  }
}

