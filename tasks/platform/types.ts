// Shared vocabulary of the runner: step names, outcomes, counts and errors.
// Steps return these as values; Taskfile.ts and the renderers only read them.
import type { PlannedAction } from './plan.ts';

/** A site id as validated by the config loader (`^[a-z0-9_-]+$`, at most 32 chars). */
export type SiteId = string & { readonly __brand: 'SiteId' };
/** A path relative to a site root, '/'-separated: identical to the object key in the bucket. */
export type S3Key = string & { readonly __brand: 'S3Key' };

export const STEP_NAMES = ['pre-sync', 'consistency', 'rss', 'transcribe', 'upload', 'index'] as const;
export type StepName = (typeof STEP_NAMES)[number];

export const SYNC_FOLDERS = [
  'audio',
  'transcripts',
  'search-entries',
  'search-index',
  'episode-manifest',
  'rss',
] as const;
export type SyncFolder = string; // validated against SYNC_FOLDERS by the CLI, kept open for custom folders

/**
 * Whether a scan of these folders reads all of a site's folder: then pre-sync's scan removes what
 * killed runs left there, and the run sweeps up front only the sites it will not read (run.ts).
 */
export function scanReadsWholeSite(syncFolders: readonly string[]): boolean {
  return SYNC_FOLDERS.every((folder) => syncFolders.includes(folder));
}

/** Files and bytes moved for one folder. `backlog` counts files that existed before this run. */
export interface TransferCount {
  files: number;
  bytes: number;
  /** Of `files`, those created by an earlier run (uploaded now because the bucket lacked them). */
  backlogFiles?: number;
}

/** Counts a step may report; every field optional so each step fills what it knows. */
export interface StepCounts {
  episodesAdded?: number;
  /** Of episodesAdded, those whose files already existed (a lost manifest rebuilt): nothing downloaded. */
  episodesAdopted?: number;
  audioDownloaded?: number;
  audioBytes?: number;
  transcriptsMade?: number;
  invocations?: number;
  downloaded?: Record<string, TransferCount>;
  uploaded?: Record<string, TransferCount>;
  localOnly?: number;
  s3Only?: number;
  consistent?: number;
  conflicts?: number;
  /** Search entries written this run (local indexing). */
  searchEntries?: number;
  /** Index shards built this run (local indexing). */
  shardsRebuilt?: number;
  /** Bytes of the index files written this run: shards and the single-file index. */
  indexBytes?: number;
}

/** One failure, with enough context to act on it without reading logs. */
export interface StepError {
  site: string;
  step: StepName | 'config' | 'runner';
  /** The file, episode, feed or object the error is about, when there is one. */
  subject?: string;
  message: string;
  /** AWS error code, exit code, HTTP status... */
  code?: string;
}

/**
 * An error as one line: its subject once (left out when the message already names it) and its
 * code when the message does not already say it (`HTTP 404 Not Found` needs no `[HTTP 404]`).
 */
export function describeStepError(e: Pick<StepError, 'subject' | 'message' | 'code'>): string {
  const subject = e.subject && !e.message.includes(e.subject) ? `${e.subject}: ` : '';
  const code = e.code && !e.message.includes(e.code) ? ` [${e.code}]` : '';
  return `${subject}${e.message}${code}`;
}

/** A step's final record in the summary, including the graph's own decisions. */
export type StepStatus = 'ok' | 'up-to-date' | 'skipped' | 'failed';
export interface StepRecord {
  step: StepName;
  status: StepStatus;
  message: string;
  durationMs: number;
  counts: StepCounts;
  errors: StepError[];
  /** The side effects the step made (in a dry run: would make), in order (tasks/platform/plan.ts). */
  actions: PlannedAction[];
}

export interface SiteRecord {
  site: string;
  status: StepStatus;
  steps: StepRecord[];
}

export interface RunSummary {
  schema: 'podcast-ingest/summary@1';
  runId: string;
  /** The runner's version and the machine it ran on. */
  version?: string;
  host?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  dryRun: boolean;
  interrupted: boolean;
  exitCode: number;
  sites: SiteRecord[];
  errors: StepError[];
  /** Every warning line of the run (site, step, message). */
  warnings?: { site: string; step: string; message: string }[];
  /** What the night brought, per site: episodes added (with titles) and transcribed. */
  episodes?: { added: { site: string; podcastId: string; fileKey: string; title: string }[]; transcribed: { site: string; key: string }[] };
}

/** Exit codes, as documented in the README and --help. */
export const EXIT = {
  ok: 0,
  /** At least one step failed (every error is in the summary). */
  failed: 1,
  /** A usage or configuration error. */
  usage: 2,
  /** Another run holds the lock. */
  locked: 3,
  /** A bug in the runner (an internal error). */
  internal: 70,
  /** Interrupted by SIGINT or SIGTERM. */
  interrupted: 130,
} as const;
