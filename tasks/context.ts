// What every step receives: its site, the run's options, one cancellation signal,
// a logger bound to site and step, the shared limiters, the dry-run gate and the
// state the steps of one site share (one bucket listing per run, files made this run).
import type { SiteConfig } from './site-config.ts';
import type { Logger } from './log.ts';
import type { Limiter } from './limiter.ts';
import type { S3Key, StepName, StepResult } from './types.ts';
import type { SiteClients } from './aws/clients.ts';
import type { HashCache } from './storage/hash-cache.ts';
import type { SyncDiff } from './storage/diff.ts';
import type { ManifestBasis } from './manifest-sync.ts';

export interface RunOptions {
  runId: string;
  dryRun: boolean;
  verbose: boolean;
  /** Top-level folders that are synced (DESIGN §3). */
  syncFolders: string[];
  localRoot: string;
  forceIndex: boolean;
  waitForIndex: boolean;
}

export interface Limits {
  /** CPU-heavy work (whisper); weight = threads used. Capacity = cores. */
  cpu: Limiter;
  /** Network transfers (S3 objects, episode downloads). */
  network: Limiter;
}

/** One planned side effect: the dry run prints these instead of doing them. */
export interface PlannedAction {
  kind: 'download' | 'upload' | 'write' | 'delete' | 'transcribe' | 'invoke';
  target: string;
  reason: string;
}

/** An object as listed from the bucket or scanned locally. */
export interface StoredFile {
  key: S3Key;
  size: number;
  /** Bucket LastModified, or local mtime. */
  modified: Date;
  /** Hex MD5 where known (single-part ETag, or hashed local file). */
  md5?: string;
  /** Raw ETag from the bucket (quotes removed). */
  etag?: string;
}

/** State shared by the steps of one site within one run. */
export interface SiteState {
  /** The bucket listing, taken once per run (pre-sync lists, consistency and upload reuse it). */
  bucketListing?: StoredFile[];
  /** Keys written locally by this run (rss, transcribe): the rest of an upload is backlog. */
  createdThisRun: Set<S3Key>;
  /** Keys uploaded by this run (the index step's trigger and payload). */
  uploadedKeys: S3Key[];
  results: Partial<Record<StepName, StepResult>>;
  /** The last comparison of the local tree with the listing, and the commit mark it holds at (tasks/atomic.ts). */
  comparison?: { listing: readonly StoredFile[]; diff: SyncDiff; mark: number };
  /** Local MD5s, loaded once per site run and shared by the sync steps (saved when changed). */
  hashCache?: HashCache;
  /** The bucket's manifest this run builds on (pre-sync establishes it; rss and upload need it). */
  manifest?: ManifestBasis;
  /** Steps that failed fatally or were skipped because of it: their dependents skip too. */
  unavailable: Set<StepName>;
}

export interface StepContext {
  site: SiteConfig;
  options: RunOptions;
  signal: AbortSignal;
  log: Logger;
  limits: Limits;
  state: SiteState;
  /** AWS clients for this site (its own role's credentials). Created lazily. */
  clients: SiteClients;
  /**
   * The one gate in front of every side effect. In a dry run it records and logs
   * the action and returns undefined; otherwise it runs `effect`.
   */
  effect<T>(action: PlannedAction, effect: () => Promise<T>): Promise<T | undefined>;
}

export type StepFunction = (ctx: StepContext) => Promise<StepResult>;

export function newSiteState(): SiteState {
  return { createdThisRun: new Set(), uploadedKeys: [], results: {}, unavailable: new Set() };
}
