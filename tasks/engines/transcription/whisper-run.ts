// One whisper-cli run over one chunk WAV: `-osrt -of <base>` writes <base>.srt, `-pp` prints
// "progress = NN%" lines that we turn into progress callbacks. Only the last 64 K of its output
// is kept (nothing reaches the terminal); only that tail is ever reported.
import { readFile } from 'node:fs/promises';
import { parseSrt, type Cue } from '../../site/srt.ts';
import { ProcessError, runProcess, stderrTail } from '../../platform/process.ts';

export interface WhisperRunOptions {
  cli: string;
  model: string;
  wavPath: string;
  /** Output base: whisper writes `${outBase}.srt`. */
  outBase: string;
  threads: number;
  prompt?: string;
  /** Random-weight models: no temperature fallback (otherwise up to 15 retries per window). */
  noFallback: boolean;
  durationMs: number;
  signal: AbortSignal;
  /** Fraction (0..1) of this chunk done. */
  onProgress?: (fraction: number) => void;
  debug?: (message: string) => void;
}

/** Allowed wall time: a minute to load the model plus 20x the audio (WHISPER_TIMEOUT_FACTOR), so slow machines and big models still fit. */
export function whisperTimeoutMs(durationMs: number): number {
  const factor = Number(process.env.WHISPER_TIMEOUT_FACTOR) || 20;
  return 60_000 + Math.ceil(durationMs * factor);
}

export function whisperArgs(o: Omit<WhisperRunOptions, 'signal' | 'onProgress' | 'durationMs' | 'cli' | 'debug'>): string[] {
  const args = ['-m', o.model, '-f', o.wavPath, '-t', String(o.threads), '-mc', '0', '-osrt', '-of', o.outBase, '-pp'];
  if (o.prompt) args.push('--prompt', o.prompt);
  if (o.noFallback) args.push('-nf');
  return args;
}

/** The end of whisper-cli's stderr without its progress lines. */
export function whisperTail(text: string): string {
  return stderrTail(text, { lines: 6, maxChars: 800, keep: (l) => !l.startsWith('whisper_print_progress_callback') });
}

/**
 * whisper.cpp's threads are OpenMP threads, which by default spin while waiting. When anything
 * else wants the CPU (another whisper job, ffmpeg, another site's work) spinning threads steal
 * each other's time: measured here under load, a 60 s clip took 47.8 s with spinning and 4.1 s
 * with OMP_WAIT_POLICY=passive. An operator's own OMP_WAIT_POLICY wins.
 */
export function whisperEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, OMP_WAIT_POLICY: env.OMP_WAIT_POLICY ?? 'passive' };
}

export async function runWhisper(o: WhisperRunOptions): Promise<Cue[]> {
  const timeoutMs = whisperTimeoutMs(o.durationMs);
  const out = await runProcess(o.cli, whisperArgs(o), {
    signal: o.signal,
    timeoutMs,
    env: whisperEnv(),
    debug: o.debug,
    onStderrLine: (line) => {
      const percent = /progress\s*=\s*(\d+)%/.exec(line)?.[1];
      // whisper.cpp's seek can pass the end, so its percentage can exceed 100.
      if (percent !== undefined) o.onProgress?.(Math.min(1, Number(percent) / 100));
    },
  });
  o.signal.throwIfAborted();
  const fail = (meaning: string) =>
    new ProcessError({ command: 'whisper-cli', meaning, exitCode: out.exitCode, signal: out.signal, stderrTail: whisperTail(out.stderr) });
  if (out.error) throw fail(`whisper-cli could not start: ${out.error.message}`);
  if (out.timedOut) throw fail(`whisper-cli was stopped (${out.signal}) after its ${Math.round(timeoutMs / 1000)} s limit`);
  if (out.signal) throw fail(`whisper-cli was killed (${out.signal})`);
  if (out.exitCode !== 0) throw fail(`whisper-cli failed (exit ${out.exitCode})`);
  let bytes: Buffer;
  try {
    bytes = await readFile(`${o.outBase}.srt`);
  } catch {
    throw fail(`whisper-cli exited 0 but wrote no ${o.outBase}.srt`);
  }
  o.onProgress?.(1);
  return bytes.length === 0 ? [] : parseSrt(bytes, `${o.outBase}.srt`);
}
