// Failures of child processes (ffmpeg, whisper-cli): one error type, and one way to quote the
// end of a tool's stderr (each tool says which of its lines are worth quoting).
import { RunnerError, type ErrorClass } from './errors.ts';

export interface ProcessFailure {
  /** The tool, as the operator knows it: "ffmpeg", "whisper-cli". */
  command: string;
  /** What the failure means for the operator: "ffmpeg cannot decode the audio (exit 1)". */
  meaning: string;
  exitCode?: number | null;
  signal?: string | null;
  /** The end of stderr, from stderrTail(); quoted after the meaning. */
  stderrTail?: string;
  /** Shown as the error's code; by default the signal or "exit <code>". */
  code?: string;
  /** By default processErrorClass(). */
  errorClass?: ErrorClass;
}

/**
 * A killed process (our time limit, the OOM killer) says nothing about its input and the next
 * attempt may finish: retryable. A nonzero exit, or output that fails our checks, judged this input: permanent.
 */
export function processErrorClass(failure: { signal?: string | null }): ErrorClass {
  return failure.signal ? 'retryable' : 'permanent';
}

export class ProcessError extends RunnerError {
  override name = 'ProcessError';
  readonly command: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderrTail: string;
  readonly meaning: string;
  constructor(failure: ProcessFailure) {
    const tail = failure.stderrTail ?? '';
    const signal = failure.signal ?? undefined;
    const exitCode = failure.exitCode ?? undefined;
    super(tail ? `${failure.meaning}: ${tail}` : failure.meaning, {
      errorClass: failure.errorClass ?? processErrorClass(failure),
      code: failure.code ?? signal ?? (exitCode !== undefined && exitCode !== 0 ? `exit ${exitCode}` : undefined),
    });
    this.command = failure.command;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrTail = tail;
    this.meaning = failure.meaning;
  }
}

export interface TailOptions {
  /** Lines kept, the last ones. */
  lines: number;
  /** Characters at most, after joining. */
  maxChars: number;
  /** Which (trimmed, non-empty) lines are worth quoting. */
  keep?: (line: string) => boolean;
  /** Rewrite a kept line (shorten paths, drop addresses); repeats after rewriting are quoted once. */
  rewrite?: (line: string) => string;
}

/** The last meaningful lines of a tool's output, joined with " | ": what an operator needs to see. */
export function stderrTail(text: string, options: TailOptions): string {
  const kept = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && (options.keep?.(line) ?? true))
    .map((line) => options.rewrite?.(line) ?? line);
  return [...new Set(kept)].slice(-options.lines).join(' | ').slice(0, options.maxChars);
}
