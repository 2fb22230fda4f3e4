// The run history (ARCHITECTURE.md "Durable state"): one JSON line per run in
// `<localRoot>/.runs/history.jsonl`, including runs that stopped before any site (a broken
// machine, a held lock), and one log file per run in `<localRoot>/.runs/logs/`, the oldest
// removed beyond the last N. `status` reads both.
import { appendFile, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeStepError, type RunSummary, type StepStatus } from '../platform/types.ts';

export const HISTORY_SCHEMA = 'podcast-ingest/history@1';
/** Per-run log files kept (INGEST_KEEP_LOGS overrides). */
export const DEFAULT_KEPT_LOGS = 30;

export interface HistoryEntry {
  schema: typeof HISTORY_SCHEMA;
  runId: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  dryRun: boolean;
  /** Why the run stopped before any site, when it did (lock held, preflight). */
  refused?: string;
  sites: Record<string, { status: StepStatus; errors: number; episodesAdded: number; transcriptsMade: number; uploaded: number }>;
  /** The first few errors, one line each. */
  errors: string[];
}

export function runsDir(localRoot: string): string {
  return path.join(localRoot, '.runs');
}

export function historyPath(localRoot: string): string {
  return path.join(runsDir(localRoot), 'history.jsonl');
}

export function logsDir(localRoot: string): string {
  return path.join(runsDir(localRoot), 'logs');
}

export function historyEntry(summary: RunSummary, refused?: string): HistoryEntry {
  const sites: HistoryEntry['sites'] = {};
  for (const site of summary.sites) {
    const sum = (pick: (s: (typeof site.steps)[number]) => number) => site.steps.reduce((n, s) => n + pick(s), 0);
    sites[site.site] = {
      status: site.status,
      errors: sum((s) => s.errors.length),
      episodesAdded: sum((s) => s.counts.episodesAdded ?? 0),
      transcriptsMade: sum((s) => s.counts.transcriptsMade ?? 0),
      uploaded: sum((s) => Object.values(s.counts.uploaded ?? {}).reduce((n, c) => n + c.files, 0)),
    };
  }
  return {
    schema: HISTORY_SCHEMA,
    runId: summary.runId,
    startedAt: summary.startedAt,
    finishedAt: summary.finishedAt,
    exitCode: summary.exitCode,
    dryRun: summary.dryRun,
    ...(refused ? { refused } : {}),
    sites,
    errors: summary.errors.slice(0, 5).map((e) => `[${e.site}] [${e.step}] ${describeStepError(e)}`.slice(0, 300)),
  };
}

/** Append one line (a single write of a line under PIPE_BUF-sized appends is not torn by a concurrent reader). */
export async function appendHistory(localRoot: string, entry: HistoryEntry): Promise<void> {
  await mkdir(runsDir(localRoot), { recursive: true });
  // A run killed mid-append leaves a torn line without its newline: start on a fresh line, or
  // this entry would be glued to it and lost with it.
  const file = historyPath(localRoot);
  const torn = await readLastByte(file).then((b) => b !== undefined && b !== 0x0a);
  await appendFile(file, (torn ? '\n' : '') + JSON.stringify(entry) + '\n');
}

async function readLastByte(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { size } = await handle.stat();
    if (size === 0) return undefined;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - 1);
    return byte[0];
  } finally {
    await handle.close();
  }
}

/** Every readable entry, oldest first; a damaged line (a run killed while appending) is skipped. */
export async function readHistory(localRoot: string): Promise<HistoryEntry[]> {
  const text = await readFile(historyPath(localRoot), 'utf8').catch(() => '');
  const entries: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as HistoryEntry;
      if (entry.schema === HISTORY_SCHEMA && typeof entry.runId === 'string') entries.push(entry);
    } catch {
      // A torn last line of a killed run: the rest of the history still counts.
    }
  }
  return entries;
}

/** Keep the newest `keep` per-run logs. Returns how many were removed. */
export async function rotateLogs(localRoot: string, keep: number): Promise<number> {
  const dir = logsDir(localRoot);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.log'));
  if (names.length <= keep) return 0;
  const dated = await Promise.all(names.map(async (name) => ({ name, mtime: (await stat(path.join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
  // Run ids start with the start time, so names sort by time; mtime breaks ties.
  dated.sort((a, b) => a.name.localeCompare(b.name) || a.mtime - b.mtime);
  const old = dated.slice(0, dated.length - keep);
  await Promise.all(old.map((f) => rm(path.join(dir, f.name), { force: true })));
  return old.length;
}

export function keptLogs(): number {
  const n = Number(process.env.INGEST_KEEP_LOGS);
  return Number.isInteger(n) && n >= 1 ? n : DEFAULT_KEPT_LOGS;
}
