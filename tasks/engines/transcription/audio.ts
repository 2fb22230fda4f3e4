// ffmpeg's part: how long an episode is, and its audio as 16 kHz mono 16-bit PCM (what
// whisper.cpp wants) with the silences found on the way (one decoding pass). Chunks are cut
// from the PCM by sample index, so a chunk's offset is exact to the sample.
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ffmpegPath } from './toolchain/ffmpeg.ts';
import { parseSilences, type Chunk, type Silence } from './chunks.ts';
import { ProcessError, runProcess, stderrTail } from '../../platform/process.ts';

export const SAMPLE_RATE = 16_000;
const BYTES_PER_MS = (SAMPLE_RATE * 2) / 1000; // mono s16le: 32 bytes per millisecond

export function ffprobePath(): string {
  const ffmpeg = ffmpegPath();
  return ffmpeg.includes('/') ? path.join(path.dirname(ffmpeg), 'ffprobe') : 'ffprobe';
}

/** The last diagnostics of ffmpeg's log, `input` named by its file name (the episode's key is next to it). */
export function ffmpegTail(log: string, input?: string): string {
  return stderrTail(log, {
    lines: 3,
    maxChars: 600,
    // Diagnostics look like "[mp3float @ 0x...] overread..." or "<file>: Invalid data..."; the rest is stream info.
    keep: (l) => /error|invalid|overread|truncat|corrupt|missing|could not|no such|failed|not find|header/i.test(l) && !/silence_/.test(l),
    rewrite: (l) => {
      const line = l.replace(/ @ 0x[0-9a-f]+\]/, ']');
      return input ? line.replaceAll(input, path.basename(input)) : line;
    },
  });
}

/** Duration the container announces (seconds), or undefined when ffprobe cannot tell. */
export async function probeDurationMs(file: string, signal: AbortSignal): Promise<number | undefined> {
  const out = await runProcess(ffprobePath(), ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], { signal, timeoutMs: 60_000 });
  const seconds = Number(out.stdout.trim());
  return out.exitCode === 0 && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : undefined;
}

export interface DecodedAudio {
  pcmPath: string;
  /** Exact: PCM bytes / 32. */
  durationMs: number;
  silences: Silence[];
}

export interface DecodeOptions {
  signal: AbortSignal;
  /** What the container announced, to catch truncated files (they decode "successfully"). */
  expectedMs?: number;
  /** silencedetect: level and minimum length of a silence. */
  noiseDb?: number;
  minSilenceSeconds?: number;
  debug?: (message: string) => void;
}

/** Decode to `<dir>/audio.pcm` and find silences; corrupt or truncated audio is a ProcessError with ffmpeg's words. */
export async function decodeToPcm(input: string, dir: string, options: DecodeOptions): Promise<DecodedAudio> {
  const pcmPath = path.join(dir, 'audio.pcm');
  // Decoding runs at 100x real time or more; allow 1x plus a minute so a slow disk never trips it.
  const timeoutMs = 60_000 + (options.expectedMs ?? 3 * 3_600_000);
  const filter = `silencedetect=noise=${options.noiseDb ?? -35}dB:d=${options.minSilenceSeconds ?? 0.4}`;
  const args = ['-nostdin', '-hide_banner', '-nostats', '-v', 'info', '-i', input, '-vn', '-af', filter, '-ac', '1', '-ar', String(SAMPLE_RATE), '-c:a', 'pcm_s16le', '-f', 's16le', '-y', pcmPath];
  // Only silencedetect's lines are kept whole (the chunk cuts need them); the rest is a tail.
  const silenceLines: string[] = [];
  const out = await runProcess(ffmpegPath(), args, {
    signal: options.signal,
    timeoutMs,
    debug: options.debug,
    onStderrLine: (line) => {
      if (line.includes('silence_')) silenceLines.push(line);
    },
  });
  options.signal.throwIfAborted();
  const tail = ffmpegTail(out.stderr, input);
  const fail = (meaning: string, extra: { code?: string } = {}) =>
    new ProcessError({ command: 'ffmpeg', meaning, exitCode: out.exitCode, signal: out.signal, stderrTail: tail, ...extra });
  if (out.error) throw fail(`ffmpeg could not start: ${out.error.message}`);
  if (out.timedOut) throw fail(`ffmpeg was stopped (${out.signal}) after ${Math.round(timeoutMs / 1000)} s`);
  if (out.signal) throw fail(`ffmpeg was killed (${out.signal})`);
  if (out.exitCode !== 0) throw fail(`ffmpeg cannot decode the audio (exit ${out.exitCode})`);
  const handle = await open(pcmPath, 'r');
  const bytes = (await handle.stat()).size;
  await handle.close();
  const durationMs = Math.floor(bytes / BYTES_PER_MS);
  if (durationMs < 100) throw fail(`ffmpeg decoded no audio (${durationMs} ms)`);
  // A file cut short still decodes; its header still announces the full length.
  if (options.expectedMs !== undefined && options.expectedMs > 5_000 && durationMs < options.expectedMs * 0.9) {
    throw fail(
      `audio is truncated or corrupt: ffmpeg decoded ${(durationMs / 1000).toFixed(1)} s of the ${(options.expectedMs / 1000).toFixed(1)} s its header announces`,
      { code: 'truncated' },
    );
  }
  return { pcmPath, durationMs, silences: parseSilences(silenceLines.join('\n'), durationMs) };
}

/** A canonical 44-byte WAV header for mono 16-bit PCM at 16 kHz. */
function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(SAMPLE_RATE, 24);
  h.writeUInt32LE(SAMPLE_RATE * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Write `chunk` of the PCM as its own WAV file: sample-exact, no re-encoding. */
export async function writeChunkWav(pcmPath: string, chunk: Chunk, file: string): Promise<void> {
  const offset = chunk.startMs * BYTES_PER_MS;
  const length = (chunk.endMs - chunk.startMs) * BYTES_PER_MS;
  const handle = await open(pcmPath, 'r');
  try {
    const data = Buffer.alloc(length);
    const { bytesRead } = await handle.read(data, 0, length, offset);
    await writeFile(file, Buffer.concat([wavHeader(bytesRead), data.subarray(0, bytesRead)]));
  } finally {
    await handle.close();
  }
}
