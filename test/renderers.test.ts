// The renderers only observe: fed the same events, they print the same thing. Golden outputs
// of the plain lines and the terminal summary for a run with downloads, throttled activity, a
// failed site and a site that never started; secrets never reach any output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunEvent } from '../tasks/run/events.ts';
import { plainRenderer } from '../tasks/run/render/plain.ts';
import { formatSummaryTable, summaryJson } from '../tasks/run/summary.ts';
import { registerSecret } from '../tasks/platform/secrets.ts';
import type { LogEvent } from '../tasks/platform/log.ts';
import type { RunSummary, SiteRecord } from '../tasks/platform/types.ts';
import { assertGolden } from './helpers/golden.ts';

process.env.TZ = 'UTC';
const T0 = Date.parse('2026-12-01T02:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);
const log = (ms: number, site: string, step: string, level: LogEvent['level'], message: string, kind: LogEvent['kind'] = 'log'): RunEvent => ({
  type: 'log',
  event: { time: at(ms), level, kind, site, step, message },
});

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const alpha: SiteRecord = {
  site: 'alpha',
  status: 'ok',
  steps: [
    { step: 'pre-sync', status: 'ok', message: 'downloaded 3 files (2.1 MB)', durationMs: 1200, counts: { downloaded: { audio: { files: 3, bytes: 2_200_000 } } }, errors: [], actions: [] },
    { step: 'consistency', status: 'up-to-date', message: 'all 12 files consistent', durationMs: 3, counts: { consistent: 12, localOnly: 0, s3Only: 0, conflicts: 0 }, errors: [], actions: [] },
    { step: 'rss', status: 'ok', message: '1 feed, 1 new episode, 1 audio file downloaded', durationMs: 4100, counts: { episodesAdded: 1, audioDownloaded: 1, audioBytes: 61_000_000 }, errors: [], actions: [] },
    { step: 'transcribe', status: 'ok', message: 'transcribed 1 of 1 episodes (52m00s of audio)', durationMs: 612_000, counts: { transcriptsMade: 1 }, errors: [], actions: [] },
    { step: 'upload', status: 'ok', message: 'uploaded 3 files (61 MB)', durationMs: 9000, counts: { uploaded: { audio: { files: 1, bytes: 61_000_000, backlogFiles: 0 }, transcripts: { files: 1, bytes: 40_000, backlogFiles: 0 }, 'episode-manifest': { files: 1, bytes: 5000, backlogFiles: 0 } } }, errors: [], actions: [] },
    { step: 'index', status: 'ok', message: 'invoked srt-indexing-alpha asynchronously (3 files uploaded)', durationMs: 300, counts: { invocations: 1 }, errors: [], actions: [] },
  ],
};
const beta: SiteRecord = {
  site: 'beta',
  status: 'failed',
  steps: [
    {
      step: 'pre-sync',
      status: 'failed',
      message: 'cannot list bucket beta-browse-dot-show: Access Denied (AccessDenied)',
      durationMs: 800,
      counts: {},
      errors: [{ site: 'beta', step: 'pre-sync', subject: 's3://beta-browse-dot-show', message: `cannot list bucket beta-browse-dot-show: Access Denied with key ${SECRET} (AccessDenied)`, code: 'AccessDenied' }],
      actions: [],
    },
    ...(['consistency', 'rss', 'transcribe', 'upload'] as const).map((step) => ({ step, status: 'skipped' as const, message: 'needs pre-sync, which failed', durationMs: 0, counts: {}, errors: [], actions: [] })),
    { step: 'index', status: 'skipped', message: 'needs upload, which was skipped', durationMs: 0, counts: {}, errors: [], actions: [] },
  ],
};
const gamma: SiteRecord = {
  site: 'gamma',
  status: 'skipped',
  steps: (['pre-sync', 'consistency', 'rss', 'transcribe', 'upload', 'index'] as const).map((step) => ({ step, status: 'skipped' as const, message: 'interrupted before this site started', durationMs: 0, counts: {}, errors: [], actions: [] })),
};
const summary: RunSummary = {
  schema: 'podcast-ingest/summary@1',
  runId: '20261201T020000-4242',
  startedAt: at(0).toISOString(),
  finishedAt: at(640_000).toISOString(),
  durationMs: 640_000,
  dryRun: false,
  interrupted: false,
  exitCode: 1,
  sites: [alpha, beta, gamma],
  errors: beta.steps[0]!.errors,
};

const EVENTS: RunEvent[] = [
  { type: 'run-started', time: at(0), runId: summary.runId, sites: ['alpha', 'beta', 'gamma'], steps: ['pre-sync', 'consistency', 'rss', 'transcribe', 'upload', 'index'], dryRun: false },
  log(5, 'all', 'run', 'info', 'run 20261201T020000-4242: 3 sites, steps pre-sync, consistency, rss, transcribe, upload, index'),
  { type: 'site-started', time: at(10), site: 'alpha' },
  log(11, 'alpha', 'pre-sync', 'info', 'listing s3://alpha-browse-dot-show', 'activity'),
  log(12, 'alpha', 'pre-sync', 'debug', 'listed 12 objects in s3://alpha-browse-dot-show'),
  // Activity is throttled per site and step: the second line (1 s later) is dropped, the third (11 s later) kept.
  log(100, 'alpha', 'pre-sync', 'info', 'downloading 0/3 files, 0 B of 2.1 MB', 'activity'),
  log(1_100, 'alpha', 'pre-sync', 'info', 'downloading 1/3 files, 700 KB of 2.1 MB', 'activity'),
  log(11_200, 'alpha', 'pre-sync', 'info', 'downloading 3/3 files, 2.1 MB of 2.1 MB', 'activity'),
  log(11_210, 'alpha', 'pre-sync', 'info', 'ok: downloaded 3 files (2.1 MB)'),
  log(11_300, 'beta', 'pre-sync', 'error', `failed: cannot list bucket beta-browse-dot-show: Access Denied with key ${SECRET} (AccessDenied)`),
  log(12_000, 'alpha', 'rss', 'info', 'replyall: new episode "#170 A Song of Impotent Rage" (2024-03-01_170_A_Song_of_Impotent_Rage--1796097690201)'),
  log(12_001, 'alpha', 'rss', 'warn', 'replyall: 1 item without an audio enclosure skipped'),
  log(630_000, 'all', 'run', 'warn', 'received SIGTERM: stopping (child processes killed, temporary files removed)'),
  { type: 'run-finished', time: at(640_000), summary },
];

function renderPlain(verbose: boolean): string {
  let out = '';
  const renderer = plainRenderer({ write: (text) => (out += text), verbose });
  for (const event of EVENTS) renderer.handle(event);
  return out;
}

test('plain lines: timestamped, site and step on every line, activity throttled, debug only with --verbose, the summary last', () => {
  registerSecret(SECRET);
  const plain = renderPlain(false);
  assertGolden('plain.txt', plain);
  assert.doesNotMatch(plain, /DEBUG/);
  for (const line of plain.trimEnd().split('\n')) assert.match(line, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00 (INFO |WARN |ERROR|DEBUG) \[[a-z]+\] \[[a-z:-]+\] \S/, line);
  const verbose = renderPlain(true);
  assert.match(verbose, /DEBUG \[alpha\] \[pre-sync\] listed 12 objects/);
  assert.equal(verbose.split('\n').length, plain.split('\n').length + 1);
});

test('terminal summary: compact by default (a line per site, steps only for failed sites), every step with --verbose', () => {
  registerSecret(SECRET);
  const compact = formatSummaryTable(summary, { columns: 100 });
  assertGolden('summary.txt', compact);
  assert.ok(compact.split('\n').length <= 14, 'fits a small terminal');
  for (const line of compact.split('\n')) assert.ok(line.length <= 100, line);
  assertGolden('summary-full.txt', formatSummaryTable(summary, { full: true }));
});

test('no secret reaches the plain lines, the summary table or the summary JSON', () => {
  registerSecret(SECRET);
  for (const [name, text] of [
    ['plain lines', renderPlain(true)],
    ['summary table', formatSummaryTable(summary)],
    ['summary JSON', summaryJson(summary)],
  ] as const) {
    assert.ok(!text.includes(SECRET), `${name} holds the secret`);
    assert.match(text, /Access Denied with key \*\*\*/, `${name} still says what failed`);
  }
});
