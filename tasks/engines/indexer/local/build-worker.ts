// One index file, built in a process of its own (tasks/engines/indexer/local/index-build.ts
// starts it): the entry files named in the job are read one at a time and inserted, the database
// is encoded and written to the job's output path, which the parent renames into place. A fresh
// process per file sets the peak memory to that file's database and returns it all afterwards.
// Protocol: one JSON line per event on stdout ({progress}, then {done}); failures on stderr, exit 1.
import { readFile, writeFile } from 'node:fs/promises';
import type { SearchEntry } from '../search-entries.ts';
import { createSearchDb, encodeIndex, insertEntries } from './index-format.ts';

export interface BuildJob {
  /** Entry files, in insertion order. */
  files: string[];
  output: string;
}

export type WorkerEvent =
  | { progress: { entries: number; files: number } }
  | { done: { entries: number; bytes: number; peakRssBytes: number; insertMs: number; encodeMs: number } };

const PROGRESS_EVERY_MS = 250;

async function main(jobPath: string): Promise<void> {
  const job = JSON.parse(await readFile(jobPath, 'utf8')) as BuildJob;
  const say = (event: WorkerEvent) => process.stdout.write(JSON.stringify(event) + '\n');
  const started = Date.now();
  const db = createSearchDb();
  let entries = 0;
  let last = 0;
  for (const [i, file] of job.files.entries()) {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (!Array.isArray(parsed)) throw new Error(`${file}: not a JSON array of search entries`);
    await insertEntries(db, parsed as SearchEntry[]);
    entries += parsed.length;
    if (Date.now() - last >= PROGRESS_EVERY_MS) {
      last = Date.now();
      say({ progress: { entries, files: i + 1 } });
    }
  }
  const inserted = Date.now();
  const bytes = await encodeIndex(db);
  await writeFile(job.output, bytes);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  say({ done: { entries, bytes: bytes.length, peakRssBytes, insertMs: inserted - started, encodeMs: Date.now() - inserted } });
}

main(process.argv[2] ?? '').catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
