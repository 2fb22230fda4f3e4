// The run summary: built from step records (values, never scraped from logs), printed
// after every run in both output modes and optionally written as JSON.
import chalk from 'chalk';
import { formatBytes, formatDuration, wrapWords } from '../platform/format.ts';
import { redact } from '../platform/secrets.ts';
import { describeStepError, type RunSummary, type SiteRecord, type StepCounts, type StepRecord, type StepStatus, type TransferCount } from '../platform/types.ts';
import { siteTitle } from './render/site-line.ts';

function transfers(verb: string, byFolder: Record<string, TransferCount> | undefined): string[] {
  if (!byFolder) return [];
  return Object.entries(byFolder)
    .filter(([, c]) => c.files > 0)
    .map(([folder, c]) => {
      const backlog = c.backlogFiles ? `, ${c.backlogFiles} backlog` : '';
      return `${verb} ${folder} ${c.files} (${formatBytes(c.bytes)}${backlog})`;
    });
}

/** "3 episodes added, uploaded audio 3 (2.1 MB, 1 backlog)" — only non-zero counts. */
export function describeCounts(counts: StepCounts): string {
  const parts: string[] = [];
  const n = (value: number | undefined, label: string) => {
    if (value) parts.push(`${value} ${label}`);
  };
  n(counts.episodesAdded, 'episodes added');
  if (counts.audioDownloaded) parts.push(`${counts.audioDownloaded} audio downloaded (${formatBytes(counts.audioBytes ?? 0)})`);
  n(counts.transcriptsMade, 'transcripts made');
  parts.push(...transfers('downloaded', counts.downloaded));
  parts.push(...transfers('uploaded', counts.uploaded));
  if (counts.consistent !== undefined || counts.localOnly !== undefined) {
    parts.push(
      `consistent ${counts.consistent ?? 0}, local-only ${counts.localOnly ?? 0}, s3-only ${counts.s3Only ?? 0}, conflicts ${counts.conflicts ?? 0}`,
    );
  }
  n(counts.searchEntries, 'search entries');
  if (counts.shardsRebuilt || counts.indexBytes) {
    const shards = counts.shardsRebuilt ?? 0;
    parts.push(`${shards} shard${shards === 1 ? '' : 's'} rebuilt (${formatBytes(counts.indexBytes ?? 0)} of index written)`);
  }
  n(counts.invocations, 'indexing invocations');
  return parts.join(', ');
}

const colour: Record<StepStatus, (s: string) => string> = {
  ok: chalk.green,
  'up-to-date': chalk.cyan,
  skipped: chalk.gray,
  failed: chalk.red,
};

/** One summary line per site and step, plus the error list; `line` decides the framing. */
export interface SummaryLine {
  site: string;
  step: string;
  level: 'info' | 'error';
  text: string;
}

export function summaryLines(summary: RunSummary, options: { full?: boolean } = { full: true }): SummaryLine[] {
  const lines: SummaryLine[] = [];
  for (const site of summary.sites) {
    if (!options.full && site.status !== 'failed') {
      // Compact: one line per site that did not fail ("summary" step: it is the site's whole night).
      const title = siteTitle(site).replace(`${site.site}: `, '');
      lines.push({ site: site.site, step: 'site', level: 'info', text: title === site.status ? title : `${site.status}: ${title}` });
      continue;
    }
    for (const step of site.steps) {
      // Compact: a failed step's errors follow below; its own line would say the same again.
      if (!options.full && (step.status !== 'failed' || step.errors.length > 0)) continue;
      const counts = describeCounts(step.counts);
      const text = `${step.status} ${formatDuration(step.durationMs)} ${step.message}${counts && !step.message.includes(counts) ? ` (${counts})` : ''}`;
      lines.push({ site: site.site, step: step.step, level: step.status === 'failed' ? 'error' : 'info', text });
    }
  }
  summary.errors.forEach((error, i) => {
    lines.push({
      site: error.site,
      step: error.step,
      level: 'error',
      text: `error ${i + 1}/${summary.errors.length}: ${describeStepError(error)}`,
    });
  });
  lines.push({ site: 'all', step: 'summary', level: summary.exitCode === 0 ? 'info' : 'error', text: closingLine(summary) });
  return lines;
}

export function closingLine(summary: RunSummary): string {
  const counts = { ok: 0, 'up-to-date': 0, skipped: 0, failed: 0 } satisfies Record<StepStatus, number>;
  for (const site of summary.sites) counts[site.status]++;
  const state = summary.interrupted ? 'interrupted' : summary.exitCode === 0 ? 'clean' : 'failed';
  // Only the counts that are not zero: the line must fit an 80-column terminal.
  const sites = (['ok', 'up-to-date', 'failed', 'skipped'] as const)
    .filter((s) => counts[s] > 0)
    .map((s) => `${counts[s]} ${s === 'skipped' ? 'not run' : s}`)
    .join(', ');
  const errors = summary.errors.length;
  return (
    `run ${summary.runId} ${state}${summary.dryRun ? ' (dry run)' : ''} in ${formatDuration(summary.durationMs)}: ` +
    `${summary.sites.length} site${summary.sites.length === 1 ? '' : 's'}${sites ? ` (${sites})` : ''}, ${errors} error${errors === 1 ? '' : 's'}, exit ${summary.exitCode}`
  );
}

/**
 * The terminal summary. Compact by default, so its top does not scroll away: one line per site
 * (what changed, or the failed step and its first error), steps only for failed sites, each
 * error once. `full`: every step of every site (--verbose; the log file and the JSON have it all).
 */
export function formatSummaryTable(summary: RunSummary, options: { full?: boolean; columns?: number } = {}): string {
  const out: string[] = ['', chalk.bold('Summary')];
  const stepWidth = 12;
  const fit = (line: string) => (options.columns && !options.full ? cut(line, options.columns) : line);
  const width = Math.max(4, ...summary.sites.map((s) => s.site.length));
  for (const site of summary.sites) {
    if (!options.full && site.status !== 'failed') {
      out.push(fit(`${colour[site.status](statusMark(site.status))} ${siteTitle(site).replace(`${site.site}: `, `${site.site.padEnd(width)}  `)}`));
      continue;
    }
    if (site.steps.length === 0) {
      // Its configuration never loaded: the error says why (in the error list below).
      out.push(fit(`${colour[site.status](statusMark(site.status))} ${site.site.padEnd(width)}  configuration error, see below`));
      continue;
    }
    out.push(`${colour[site.status](statusMark(site.status))} ${chalk.bold(site.site)}`);
    for (const step of site.steps) {
      if (!options.full && step.status !== 'failed') continue;
      const counts = describeCounts(step.counts);
      const detail = [step.message, counts && !step.message.includes(counts) ? counts : ''].filter(Boolean).join(' · ');
      out.push(
        fit(`    ${step.step.padEnd(stepWidth)} ${colour[step.status](step.status.padEnd(10))} ${formatDuration(step.durationMs).padStart(7)}  ${detail}`),
      );
    }
  }
  if (summary.errors.length > 0) {
    const shown = options.full ? summary.errors : summary.errors.slice(0, 10);
    out.push('', chalk.bold.red(`Errors (${summary.errors.length})`));
    // Wrapped, never cut: the reason is at the end of the line, and it is what the operator needs.
    shown.forEach((e, i) => {
      const text = `[${e.site}] [${e.step}] ${describeStepError(e)}`;
      const lead = `  ${i + 1}. `;
      out.push(options.columns ? wrapWords(text.split(' '), options.columns, lead, ' '.repeat(lead.length)) : lead + text);
    });
    if (shown.length < summary.errors.length) out.push(`  … ${summary.errors.length - shown.length} more (the log file and --summary-json have them all)`);
  }
  out.push('', summary.exitCode === 0 ? chalk.green(closingLine(summary)) : chalk.red(closingLine(summary)));
  return redact(out.join('\n') + '\n');
}

function statusMark(status: StepStatus): string {
  switch (status) {
    case 'ok':
      return '✔';
    case 'up-to-date':
      return '≡';
    case 'skipped':
      return '↓';
    case 'failed':
      return '✖';
  }
}

/** The --summary-json document: redacted like every other output. */
export function summaryJson(summary: RunSummary): string {
  return redact(JSON.stringify(summary, null, 2)) + '\n';
}

/** Cut a line to `width` visible characters (colour codes do not count). */
function cut(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/\x1b\[[0-9;]*m/g, '');
  return visible.length <= width ? text : visible.slice(0, Math.max(1, width - 1)) + '…';
}
