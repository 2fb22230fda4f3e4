// The step contract (ARCHITECTURE.md "Steps"): a step is a plain async function of its
// context and the typed outputs of the steps it builds on, returning one StepResult whose
// `output` the scheduler hands to the steps after it. No state is shared any other way.
import type { SiteWork } from '../engines/site-work.ts';
import type { ManifestBasis } from '../engines/manifest/manifest-sync.ts';
import type { SyncDiff } from '../engines/sync/diff.ts';
import type { HashCache } from '../engines/sync/hash-cache.ts';
import type { StoredFile } from '../engines/sync/stored-file.ts';
import type { Limits } from '../platform/limiter.ts';
import type { PlannedAction } from '../platform/plan.ts';
import type { S3Key, StepCounts, StepError, StepName } from '../platform/types.ts';

export type { Limits, PlannedAction, StoredFile };

export interface RunOptions {
  runId: string;
  dryRun: boolean;
  verbose: boolean;
  /** Top-level folders that are synced (ARCHITECTURE.md "File layout"). */
  syncFolders: string[];
  localRoot: string;
  forceIndex: boolean;
  waitForIndex: boolean;
  /** --index: where to build the search index this run (else each site's automation.indexing). */
  index?: 'lambda' | 'local';
  /** --max-episodes-per-feed: the most new episodes one feed adds this run (newest first). */
  maxEpisodesPerFeed?: number;
}

/** A step's view of its site and run: SiteWork (what engines take) plus the run's options. */
export interface StepContext extends SiteWork {
  options: RunOptions;
}

/** What pre-sync hands on: the run's one listing, the comparison after its downloads, the manifest basis. */
export interface PreSyncOutput {
  listing: StoredFile[];
  /** Local against the listing once pre-sync's downloads are in place (in a dry run: as if they were). */
  comparison: SyncDiff;
  manifest: ManifestBasis;
  /** Local MD5s, loaded once and shared by the sync steps of this site. */
  hashCache: HashCache;
  /** Keys downloaded (in a dry run: that would be). */
  downloaded: S3Key[];
}

/** What rss hands on: the files it wrote (in a dry run: would write), and the manifest basis it used. */
export interface RssOutput {
  created: S3Key[];
  manifest: ManifestBasis;
}

export interface TranscribeOutput {
  created: S3Key[];
}

export interface UploadOutput {
  /** Keys uploaded (in a dry run: that would be). */
  uploaded: S3Key[];
}

/** Each step's output type. */
export interface StepOutputs {
  'pre-sync': PreSyncOutput;
  consistency: void;
  rss: RssOutput;
  transcribe: TranscribeOutput;
  upload: UploadOutput;
  index: void;
}

/**
 * What a step returns. `ok` did work, `up-to-date` had nothing to do, `failed` may still carry
 * counts and an output (partial success: other items went on); `fatal` says the step could not
 * produce its main result, so the steps that need it are skipped. Steps never return `skipped`:
 * skipping is the scheduler's decision.
 */
export type StepResult<O> =
  | { status: 'ok' | 'up-to-date'; message: string; counts: StepCounts; errors: StepError[]; output: O }
  | { status: 'failed'; message: string; counts: StepCounts; errors: StepError[]; fatal: boolean; output?: O };

/** The outputs of the steps that ran before (absent: excluded, skipped or failed without one). */
export type Done = Readonly<Partial<StepOutputs>>;

/** One step of the pipeline, as Taskfile.ts declares it. */
export interface StepDefinition<N extends StepName = StepName> {
  name: N;
  /** Skipped when one of these failed fatally or was skipped for that reason. */
  needs: StepName[];
  run: (ctx: StepContext, done: Done) => Promise<StepResult<StepOutputs[N]>>;
}

/** A typed pipeline entry (keeps each step's output type tied to its name). */
export function step<N extends StepName>(definition: StepDefinition<N>): StepDefinition {
  return definition as unknown as StepDefinition;
}

export function upToDate<O>(message: string, output: O, counts: StepCounts = {}): StepResult<O> {
  return { status: 'up-to-date', message, counts, errors: [], output };
}
