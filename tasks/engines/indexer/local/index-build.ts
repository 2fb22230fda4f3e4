// Starting build-worker.ts for one index file: a fresh Node process (TypeScript through tsx, as
// the local S3 server is started) per file, so the runner's own memory never holds a database
// and the peak is set by the largest file. The job (the entry files in order) goes in a
// temporary file beside the output; progress comes back as JSON lines.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rm, writeFile } from 'node:fs/promises';
import { temporaryPathFor, trackTemporary, untrackTemporary } from '../../../platform/atomic.ts';
import { ProcessError, runProcess, stderrTail } from '../../../platform/process.ts';
import type { BuildJob, WorkerEvent } from './build-worker.ts';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'build-worker.ts');
// Resolved from this file, not from the working directory (cron runs from anywhere).
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface BuiltFile {
  entries: number;
  bytes: number;
  peakRssBytes: number;
  insertMs: number;
  encodeMs: number;
}

/** Build the index of `files` (in this order) into `output`, a temporary path the caller renames into place. */
export async function buildIndexFile(
  files: readonly string[],
  output: string,
  options: { label: string; signal: AbortSignal; onProgress?: (entries: number) => void },
): Promise<BuiltFile> {
  const jobPath = temporaryPathFor(path.join(path.dirname(output), 'build-job.json'));
  const job: BuildJob = { files: [...files], output };
  trackTemporary(jobPath);
  await writeFile(jobPath, JSON.stringify(job));
  let done: BuiltFile | undefined;
  try {
    const outcome = await runProcess(process.execPath, ['--import', TSX_LOADER, WORKER, jobPath], {
      signal: options.signal,
      onStdoutLine: (line) => {
        let event: WorkerEvent;
        try {
          event = JSON.parse(line) as WorkerEvent;
        } catch {
          return;
        }
        if ('progress' in event) options.onProgress?.(event.progress.entries);
        else done = event.done;
      },
    });
    options.signal.throwIfAborted();
    if (outcome.exitCode !== 0 || !done) {
      const tail = stderrTail(outcome.stderr, { lines: 4, maxChars: 600 });
      const how = outcome.error ? `could not start (${outcome.error.message})` : outcome.signal ? `was killed (${outcome.signal})` : `failed (exit ${outcome.exitCode})`;
      throw new ProcessError({ command: 'index build', meaning: `building ${options.label} ${how}`, exitCode: outcome.exitCode, signal: outcome.signal, stderrTail: tail });
    }
    return done;
  } finally {
    await rm(jobPath, { force: true });
    untrackTemporary(jobPath);
  }
}
