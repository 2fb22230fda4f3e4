// Child processes (ffmpeg, whisper-cli): how they are started (runProcess, below), one error
// type for their failures, and one way to quote the end of a tool's stderr (each tool says
// which of its lines are worth quoting).
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
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

// ---------------------------------------------------------------------------------------------
// Starting a child: no shell in between (bash -c sources ~/.bashrc when stdin is a socket and
// SHLVL is unset, as under cron), and on Linux a parent-death signal so that no child outlives
// the runner, even when only the runner's pid is SIGKILLed (the OOM killer).

export interface RunProcessOptions {
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Stopped with SIGTERM (SIGKILL 5 s later) after this long; `timedOut` then says so. */
  timeoutMs?: number;
  /** Characters of each stream kept, the last ones (what an error message quotes). Default 64 K. */
  tailChars?: number;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Where the fallback note goes when no parent-death signal can be set (macOS). */
  debug?: (message: string) => void;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The tails of the streams. */
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The program could not be started (ENOENT, EACCES); exitCode and signal are then null. */
  error?: Error;
}

/** An array of output chunks that keeps exactly its last `limit` characters (bytes, for Buffers). */
export class TailChunks<T extends string | Buffer = string> extends Array<T> {
  // Array methods that build new arrays (map, slice...) must build plain ones.
  static override get [Symbol.species]() {
    return Array;
  }
  private size = 0;
  limit = 64 * 1024;

  override push(...items: T[]): number {
    for (const item of items) {
      super.push(item);
      this.size += item.length;
      while (this.size > this.limit) {
        const first = this[0]!;
        const excess = this.size - this.limit;
        if (first.length <= excess) {
          this.shift();
          this.size -= first.length;
        } else {
          this[0] = (typeof first === 'string' ? first.slice(excess) : first.subarray(excess)) as T;
          this.size -= excess;
        }
      }
    }
    return this.length;
  }
}

/** Call `onLine` for each complete line of `stream` (LF, CRLF or CR); only a partial line is ever held. */
export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  stream.on('data', (data: Buffer | string) => {
    pending += typeof data === 'string' ? data : decoder.write(data);
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    pending += decoder.end();
    if (pending) onLine(pending);
    pending = '';
  });
}

const KILL_GRACE_MS = 5_000;
let deathSignalPrefix: Promise<string[]> | undefined;
let fallbackNoted = false;

/**
 * `setpriv --pdeathsig SIGKILL --` (util-linux >= 2.33) when it works here, else nothing. The
 * kernel sends the signal when the thread that forked the child exits: Node forks from its main
 * thread (child_process.spawn runs uv_spawn synchronously there), which lives as long as the process.
 */
function parentDeathPrefix(): Promise<string[]> {
  deathSignalPrefix ??= (async () => {
    if (process.platform !== 'linux') return [];
    const setpriv = findExecutable('setpriv', process.env.PATH) ?? ['/usr/bin/setpriv', '/bin/setpriv'].find(isExecutable);
    if (!setpriv) return [];
    const prefix = [setpriv, '--pdeathsig', 'SIGKILL', '--'];
    // Run it once for real: an old setpriv lacks the option, a sandbox may refuse the prctl.
    const works = await new Promise<boolean>((resolve) => {
      const probe = spawn(setpriv, [...prefix.slice(1), setpriv, '--version'], { stdio: 'ignore' });
      probe.on('error', () => resolve(false));
      probe.on('close', (code) => resolve(code === 0));
    });
    return works ? prefix : [];
  })();
  return deathSignalPrefix;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `command` as execvp would find it on `PATH` (a name with a slash is taken as it is). */
export function findExecutable(command: string, searchPath: string | undefined): string | undefined {
  if (command.includes('/')) return isExecutable(command) ? command : undefined;
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Run `command` with `args` as they are (no shell, no quoting), stdin closed. Resolves when the
 * child has exited and its output is read; never rejects for the child's sake (a failure to start
 * is `error`). Rejects only when `signal` is already aborted.
 */
export async function runProcess(command: string, args: readonly string[], options: RunProcessOptions = {}): Promise<ProcessOutcome> {
  options.signal?.throwIfAborted();
  const env = options.env ?? process.env;
  const stdoutTail = new TailChunks<string>();
  const stderrTail = new TailChunks<string>();
  stdoutTail.limit = stderrTail.limit = options.tailChars ?? 64 * 1024;
  const outcome = (extra: Partial<ProcessOutcome>): ProcessOutcome => ({
    exitCode: null,
    signal: null,
    stdout: stdoutTail.join(''),
    stderr: stderrTail.join(''),
    timedOut: false,
    ...extra,
  });

  // Resolved here so that a missing program is ENOENT whether or not setpriv goes first.
  const executable = findExecutable(command, env.PATH);
  if (!executable) return outcome({ error: Object.assign(new Error(`spawn ${command} ENOENT`), { code: 'ENOENT', path: command }) });
  const prefix = await parentDeathPrefix();
  if (prefix.length === 0 && options.debug && !fallbackNoted) {
    fallbackNoted = true;
    options.debug(`no parent-death signal here (${process.platform === 'linux' ? 'setpriv --pdeathsig unavailable' : process.platform}): a child may outlive a killed runner`);
  }
  options.signal?.throwIfAborted();

  const [file, ...fileArgs] = [...prefix, executable, ...args] as [string, ...string[]];
  const child = spawn(file, fileArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const [stream, tail, onLine] of [
    [child.stdout, stdoutTail, options.onStdoutLine],
    [child.stderr, stderrTail, options.onStderrLine],
  ] as const) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => tail.push(text));
    if (onLine) forEachLine(stream, onLine);
  }

  let exited = false;
  let timedOut = false;
  let escalation: NodeJS.Timeout | undefined;
  const stop = () => {
    if (exited) return;
    child.kill('SIGTERM');
    escalation ??= setTimeout(() => exited || child.kill('SIGKILL'), KILL_GRACE_MS);
  };
  const timer =
    options.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stop();
        }, options.timeoutMs)
      : undefined;
  options.signal?.addEventListener('abort', stop, { once: true });
  child.once('exit', () => {
    exited = true;
  });

  return new Promise<ProcessOutcome>((resolve) => {
    let spawnError: Error | undefined;
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = exited = true;
      clearTimeout(timer);
      clearTimeout(escalation);
      options.signal?.removeEventListener('abort', stop);
      // setpriv reports a program it could not execute (EACCES, a vanished file) as 126/127.
      const execFailed = prefix.length > 0 && (code === 126 || code === 127) && /^setpriv: failed to execute/m.test(stderrTail.join(''));
      const error = spawnError ?? (execFailed ? new Error(stderrTail.join('').trim()) : undefined);
      resolve(outcome({ exitCode: error ? null : code, signal, timedOut, ...(error ? { error } : {}) }));
    };
    child.once('error', (error) => {
      spawnError ??= error;
      // A child that never started has no 'close' to wait for.
      if (child.pid === undefined) finish(null, null);
    });
    // 'close' comes after 'exit' and after both streams ended: every line has been handed over.
    child.once('close', (code, signal) => finish(code, signal));
  });
}
