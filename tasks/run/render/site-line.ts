// One line per finished site, for the tree and the compact summary: what changed, or why it failed.
import chalk from 'chalk';
import { formatBytes } from '../../platform/format.ts';
import type { SiteRecord, StepRecord } from '../../platform/types.ts';

/**
 * A finished site's line leads with what changed (episodes, transcripts, files moved), or, for a
 * failed site, with the first error's reason: what the operator reads first.
 */
export function siteTitle(site: SiteRecord): string {
  const errors = site.steps.flatMap((s) => s.errors);
  if (site.steps.length === 0) return chalk.red(`${site.site}: configuration error (see the summary)`);
  const changes = describeChanges(site);
  if (site.status === 'failed') {
    const failed = site.steps.find((s) => s.status === 'failed')!;
    const reason = errors[0] ? shortReason(errors[0]) : failed.message;
    const more = errors.length > 1 ? ` (+${errors.length - 1} more error${errors.length === 2 ? '' : 's'})` : '';
    return chalk.red(`${site.site}: ${failed.step}: ${reason}${more}`) + (changes ? ` · ${changes}` : '');
  }
  if (site.status === 'skipped') return `${site.site}: not run (${site.steps[0]?.message ?? 'skipped'})`;
  return `${site.site}: ${changes || 'up-to-date'}`;
}

/** "2 new episodes (61 MB of audio), 2 transcribed, 6 uploaded (62 MB)": only what changed. */
export function describeChanges(site: SiteRecord): string {
  const sum = (pick: (s: StepRecord) => number | undefined) => site.steps.reduce((n, s) => n + (pick(s) ?? 0), 0);
  const files = (pick: (s: StepRecord) => Record<string, { files: number; bytes: number }> | undefined) =>
    site.steps.reduce((acc, s) => Object.values(pick(s) ?? {}).reduce((a, c) => ({ files: a.files + c.files, bytes: a.bytes + c.bytes }), acc), { files: 0, bytes: 0 });
  const parts: string[] = [];
  const added = sum((s) => s.counts.episodesAdded);
  const transcribed = sum((s) => s.counts.transcriptsMade);
  const audio = sum((s) => s.counts.audioDownloaded);
  const audioBytes = formatBytes(sum((s) => s.counts.audioBytes));
  const up = files((s) => s.counts.uploaded);
  const down = files((s) => s.counts.downloaded);
  // Short phrases, most telling first: a narrow terminal cuts from the end.
  if (added) parts.push(`${added} new episode${added === 1 ? '' : 's'}${audio === added ? ` (${audioBytes} of audio)` : ''}`);
  if (audio && audio !== added) parts.push(`${audio} audio downloaded (${audioBytes})`);
  if (transcribed) parts.push(`${transcribed} transcribed`);
  if (up.files) parts.push(`${up.files} uploaded (${formatBytes(up.bytes)})`);
  if (down.files) parts.push(`${down.files} downloaded (${formatBytes(down.bytes)})`);
  if (sum((s) => s.counts.invocations)) parts.push('indexed');
  return parts.join(', ');
}

/**
 * The reason a narrow line can keep: the code first (HTTP 404, AccessDenied), then the message
 * without the trailing "(<url>)" that repeats what it already said.
 */
export function shortReason(error: { message: string; code?: string }): string {
  const message = error.message.replace(/\s*\((https?:\/\/[^)]*)\)\s*$/, '');
  return error.code && !message.slice(0, 40).includes(error.code) ? `[${error.code}] ${message}` : message;
}
