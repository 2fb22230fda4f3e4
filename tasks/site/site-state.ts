// What a site must remember from one run to the next (ARCHITECTURE.md "Durable state"): an index
// invocation still owed, episodes whose download or transcription keeps failing (with their
// backoff), feeds that moved. One JSON file per site under `<localRoot>/.runs/state/`, written
// atomically. A missing or unreadable file is rebuilt from what is on disk and in the bucket by
// its readers (it is never trusted blindly: every field is checked on load).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../platform/atomic.ts';

export type FailingKind = 'download' | 'transcribe';

export interface FailingEpisode {
  kind: FailingKind;
  /** Failures in a row. */
  failures: number;
  firstFailedAt: string;
  lastFailedAt: string;
  lastError: string;
  /** The run number from which it is tried again (backoff). */
  retryFromRun: number;
}

export interface SiteState {
  schema: 'podcast-ingest/site-state@1';
  site: string;
  /** Runs that reached this site so far (the clock of the backoff). */
  runs: number;
  /** An index invocation owed: set when a run uploads, cleared when the invocation succeeds. */
  pendingIndex?: { since: string; reason: string };
  /** Keyed by the episode's file key (`<podcastId>/<fileKey>`). */
  failing: Record<string, FailingEpisode>;
  /** Feeds that moved (`<itunes:new-feed-url>` or a permanent redirect), by podcast id. */
  movedFeeds: Record<string, { from: string; to: string; since: string; how: string }>;
}

export function siteStatePath(localRoot: string, siteId: string): string {
  return path.join(localRoot, '.runs', 'state', `${siteId}.json`);
}

export function emptySiteState(site: string): SiteState {
  return { schema: 'podcast-ingest/site-state@1', site, runs: 0, failing: {}, movedFeeds: {} };
}

export type StateRead = { kind: 'ok'; state: SiteState } | { kind: 'missing'; state: SiteState } | { kind: 'rebuilt'; state: SiteState; reason: string };

/** The site's state; a damaged file yields an empty state and the reason (the caller rebuilds what it can). */
export async function readSiteState(localRoot: string, siteId: string): Promise<StateRead> {
  let text: string;
  try {
    text = await readFile(siteStatePath(localRoot, siteId), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing', state: emptySiteState(siteId) };
    return { kind: 'rebuilt', state: emptySiteState(siteId), reason: `unreadable (${(error as Error).message})` };
  }
  try {
    const data = JSON.parse(text) as Partial<SiteState>;
    if (data.schema !== 'podcast-ingest/site-state@1' || data.site !== siteId) throw new Error('not a state file of this site');
    const state = emptySiteState(siteId);
    state.runs = Number.isInteger(data.runs) && data.runs! >= 0 ? data.runs! : 0;
    if (data.pendingIndex && typeof data.pendingIndex.since === 'string') state.pendingIndex = { since: data.pendingIndex.since, reason: String(data.pendingIndex.reason ?? '') };
    for (const [key, f] of Object.entries(data.failing ?? {})) {
      if ((f?.kind === 'download' || f?.kind === 'transcribe') && Number.isInteger(f.failures) && f.failures > 0) {
        state.failing[key] = {
          kind: f.kind,
          failures: f.failures,
          firstFailedAt: String(f.firstFailedAt),
          lastFailedAt: String(f.lastFailedAt),
          lastError: String(f.lastError ?? ''),
          retryFromRun: Number.isInteger(f.retryFromRun) ? f.retryFromRun : 0,
        };
      }
    }
    for (const [id, m] of Object.entries(data.movedFeeds ?? {})) {
      if (typeof m?.to === 'string' && /^https?:\/\//.test(m.to)) state.movedFeeds[id] = { from: String(m.from), to: m.to, since: String(m.since), how: String(m.how ?? '') };
    }
    return { kind: 'ok', state };
  } catch (error) {
    return { kind: 'rebuilt', state: emptySiteState(siteId), reason: `damaged (${(error as Error).message})` };
  }
}

export async function writeSiteState(localRoot: string, state: SiteState): Promise<void> {
  await writeFileAtomic(siteStatePath(localRoot, state.site), JSON.stringify(state, null, 2) + '\n');
}

/** Read, change, write: the steps of one site run in order, so there is one writer at a time. */
export async function updateSiteState(localRoot: string, siteId: string, change: (state: SiteState) => void): Promise<SiteState> {
  const { state } = await readSiteState(localRoot, siteId);
  const before = JSON.stringify(state);
  change(state);
  if (JSON.stringify(state) !== before) await writeSiteState(localRoot, state);
  return state;
}

/** Runs to skip after the n-th failure in a row: 0, 1, 3, 7 (then every 8th run). */
export function backoffRuns(failures: number): number {
  return Math.min(7, 2 ** Math.max(0, failures - 1) - 1);
}

/** Record one more failure of an episode; returns its record. */
export function recordFailure(state: SiteState, key: string, kind: FailingKind, error: string, now = new Date()): FailingEpisode {
  const previous = state.failing[key];
  const failures = (previous?.kind === kind ? previous.failures : 0) + 1;
  const record: FailingEpisode = {
    kind,
    failures,
    firstFailedAt: previous?.kind === kind ? previous.firstFailedAt : now.toISOString(),
    lastFailedAt: now.toISOString(),
    lastError: error.slice(0, 500),
    retryFromRun: state.runs + 1 + backoffRuns(failures),
  };
  state.failing[key] = record;
  return record;
}

/** Whether this run (state.runs) should try the episode again. */
export function dueForRetry(state: SiteState, key: string, kind: FailingKind): boolean {
  const f = state.failing[key];
  return !f || f.kind !== kind || state.runs >= f.retryFromRun;
}

/** Failures in a row after which an episode needs the operator, not more retries (INGEST_ATTENTION_AFTER, default 3). */
export function attentionAfter(): number {
  const n = Number(process.env.INGEST_ATTENTION_AFTER);
  return Number.isInteger(n) && n >= 1 ? n : 3;
}
