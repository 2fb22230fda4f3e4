// `status`: what an operator woken by a failed night wants first, per site: the last good run,
// failed runs in a row, work still owed (an index invocation, failing episodes and those that
// need attention), feeds that moved, and the newest episode's age with a warning when a feed has
// been silent far longer than usual; then the schedule and whether a good run happened recently.
// Read-only: the run history, the per-site state and the local manifests. Exit 1 on a warning.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommonFlags } from './command-line.ts';
import { formatTable } from './sites.ts';
import { nextScheduledRun } from './schedule.ts';
import { LOCK_NAME, describeHolder, processExists, type LockHolder } from '../platform/lock.ts';
import { EXIT } from '../platform/types.ts';
import { readHistory, type HistoryEntry } from '../run/history.ts';
import { manifestPath, readManifest, type ManifestEpisode } from '../site/manifest.ts';
import { discoverSites, selectSites } from '../site/site-config.ts';
import { attentionAfter, readSiteState, type SiteState } from '../site/site-state.ts';

const DAY = 86_400_000;
/** A nightly job: no good run for this long is worth a warning. */
export const EXPECTED_INTERVAL_MS = 36 * 3_600_000;
export interface FeedSilence {
  podcastId: string;
  newestAt: string;
  ageDays: number;
  usualIntervalDays?: number;
  silent: boolean;
}

export interface SiteStatus {
  site: string;
  lastGoodRun?: string;
  failedRunsInARow: number;
  pendingIndex?: string;
  failingEpisodes: number;
  needsAttention: { episode: string; kind: string; failures: number; lastError: string }[];
  movedFeeds: { podcastId: string; to: string; how: string }[];
  feeds: FeedSilence[];
  stateProblem?: string;
  warnings: string[];
}

/** How long a podcast has been silent against its own rhythm (the median gap of its last 10 episodes). */
export function feedSilence(podcastId: string, episodes: readonly Pick<ManifestEpisode, 'publishedAt'>[], now = Date.now()): FeedSilence | undefined {
  const times = episodes.map((e) => Date.parse(e.publishedAt)).filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
  if (times.length === 0) return undefined;
  const newest = times.at(-1)!;
  const gaps = times.slice(-11).slice(1).map((t, i) => t - times.slice(-11)[i]!).sort((a, b) => a - b);
  const usual = gaps.length > 0 ? gaps[Math.floor(gaps.length / 2)]! : undefined;
  const age = now - newest;
  // Silent: three usual gaps without an episode, and never less than two weeks (weekly shows skip a week).
  const silent = usual !== undefined ? age > Math.max(3 * usual, 14 * DAY) : age > 60 * DAY;
  return { podcastId, newestAt: new Date(newest).toISOString(), ageDays: Math.floor(age / DAY), ...(usual !== undefined ? { usualIntervalDays: Math.round((usual / DAY) * 10) / 10 } : {}), silent };
}

export function siteStatus(site: string, history: readonly HistoryEntry[], state: SiteState, episodes: readonly ManifestEpisode[], now = Date.now()): SiteStatus {
  const mine = history.filter((h) => !h.dryRun && h.sites[site]);
  const good = mine.filter((h) => h.sites[site]!.status !== 'failed');
  let failedInARow = 0;
  for (const h of [...mine].reverse()) {
    if (h.sites[site]!.status !== 'failed') break;
    failedInARow++;
  }
  const needsAttention = Object.entries(state.failing)
    .filter(([, f]) => f.failures >= attentionAfter())
    .map(([episode, f]) => ({ episode, kind: f.kind, failures: f.failures, lastError: f.lastError }));
  const byPodcast = new Map<string, ManifestEpisode[]>();
  for (const e of episodes) byPodcast.set(e.podcastId, [...(byPodcast.get(e.podcastId) ?? []), e]);
  const feeds = [...byPodcast].map(([id, list]) => feedSilence(id, list, now)).filter((f): f is FeedSilence => f !== undefined);
  const warnings: string[] = [];
  const lastGood = good.at(-1)?.finishedAt;
  if (!lastGood || now - Date.parse(lastGood) > EXPECTED_INTERVAL_MS) warnings.push(lastGood ? `no good run since ${lastGood}` : 'no good run recorded');
  // The last failed run's first error for this site, when the history kept it (the first five of a run).
  const lastError = failedInARow > 0 ? mine.at(-1)!.errors.find((e) => e.startsWith(`[${site}] `))?.slice(site.length + 3) : undefined;
  if (failedInARow > 0) warnings.push(`${failedInARow} failed run${failedInARow === 1 ? '' : 's'} in a row${lastError ? `, last: ${lastError}` : ''}`);
  for (const n of needsAttention) warnings.push(`${n.episode}: ${n.kind} failed ${n.failures} runs in a row (${n.lastError})`);
  for (const f of feeds.filter((f) => f.silent)) warnings.push(`${f.podcastId}: no new episode for ${f.ageDays} days${f.usualIntervalDays ? ` (usually every ${f.usualIntervalDays})` : ''}: the feed may have moved or ended`);
  return {
    site,
    ...(lastGood ? { lastGoodRun: lastGood } : {}),
    failedRunsInARow: failedInARow,
    ...(state.pendingIndex ? { pendingIndex: `since ${state.pendingIndex.since} (${state.pendingIndex.reason})` } : {}),
    failingEpisodes: Object.keys(state.failing).length,
    needsAttention,
    movedFeeds: Object.entries(state.movedFeeds).map(([podcastId, m]) => ({ podcastId, to: m.to, how: m.how })),
    feeds,
    warnings,
  };
}

export async function statusCommand(flags: CommonFlags): Promise<number> {
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  const history = await readHistory(flags.localRoot);
  const statuses: SiteStatus[] = [];
  for (const site of sites) {
    const read = await readSiteState(flags.localRoot, site.id);
    const manifest = await readManifest(manifestPath(site.localDir));
    const status = siteStatus(site.id, history, read.state, manifest.kind === 'ok' ? manifest.manifest.episodes : []);
    if (read.kind === 'rebuilt') status.warnings.push(`state file is ${read.reason}: the next run starts it afresh`);
    statuses.push(status);
  }
  const lock = await lockStatus(flags.localRoot);
  const lastRun = history.at(-1);
  const run = {
    lastRun: lastRun ? { runId: lastRun.runId, finishedAt: lastRun.finishedAt, exitCode: lastRun.exitCode, ...(lastRun.refused ? { refused: lastRun.refused } : {}) } : undefined,
    lock,
    schedule: await scheduleLine(),
  };
  const warnings = [
    ...statuses.flatMap((s) => s.warnings.map((w) => `[${s.site}] ${w}`)),
    ...problems.map((p) => `[${p.site}] ${p.message}`),
    ...(lock?.stuck ? [`[run] ${lock.text}`] : []),
    ...(run.schedule.includes('BROKEN') ? [`[schedule] ${run.schedule}`] : []),
  ];
  if (flags.json) {
    process.stdout.write(JSON.stringify({ run, sites: statuses, problems, warnings }, null, 2) + '\n');
    return warnings.length > 0 ? EXIT.failed : EXIT.ok;
  }
  const rows = statuses.map((s) => [
    s.site,
    s.lastGoodRun ?? 'never',
    String(s.failedRunsInARow),
    s.pendingIndex ? 'index' : '-',
    `${s.failingEpisodes}${s.needsAttention.length > 0 ? ` (${s.needsAttention.length} need attention)` : ''}`,
    s.feeds.map((f) => `${f.podcastId} ${f.ageDays}d${f.silent ? ' SILENT' : ''}`).join(', ') || '-',
  ]);
  process.stdout.write(formatTable([['site', 'last good run', 'failed in a row', 'pending', 'failing episodes', 'newest episode'], ...rows]));
  process.stdout.write(`\nlast run: ${lastRun ? `${lastRun.runId}, exit ${lastRun.exitCode}, finished ${lastRun.finishedAt}${lastRun.refused ? ` (${lastRun.refused})` : ''}` : 'none recorded'}\n`);
  process.stdout.write(`schedule: ${run.schedule}\n`);
  if (lock) process.stdout.write(`lock: ${lock.text}\n`);
  for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
  return warnings.length > 0 ? EXIT.failed : EXIT.ok;
}

async function lockStatus(localRoot: string): Promise<{ text: string; stuck: boolean } | undefined> {
  let holder: LockHolder;
  try {
    holder = JSON.parse(await readFile(path.join(localRoot, LOCK_NAME), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
  const alive = processExists(holder.pid);
  const stuck = alive && holder.deadline !== undefined && Date.parse(holder.deadline) < Date.now();
  return { text: `${alive ? 'held by' : 'left by a dead run,'} ${describeHolder(holder)}`, stuck };
}

/** The schedule's line: what is installed and when it runs next (tasks/commands/schedule.ts). */
async function scheduleLine(): Promise<string> {
  const next = await nextScheduledRun().catch(() => undefined);
  if (!next) return 'not installed (node scripts/ingest.mjs schedule install)';
  return `${next.kind} at ${next.at}, next run ${next.nextRun.toISOString()}${next.broken.length > 0 ? `; BROKEN: ${next.broken.join('; ')}` : ''}`;
}
