// Unattended operation (issue 14): every run is recorded (history line, per-run log, pings in
// order), a run that refuses to start or is stopped by --max-runtime still tells the operator,
// failing episodes back off and then ask for attention, feeds that moved are followed, a first
// run over a long back catalogue can be capped, and `status` says it all. Real CLI, real S3
// (s3rver), real feed and ping servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { acquireLock } from '../tasks/platform/lock.ts';
import { startLocalLambda, type LambdaHandler } from '../tasks/demo/local/lambda-server.ts';
import { startFeedServer, type FeedServer } from './helpers/feed-server.ts';
import { rssXml, type Episode } from './helpers/rss-rig.ts';
import { runCli } from './helpers/cli.ts';
import { syncRig } from './helpers/sync-rig.ts';

interface Ping {
  path: string;
  method: string;
  body: string;
}

async function pingServer(t: TestContext): Promise<{ url: string; pings: Ping[] }> {
  const pings: Ping[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      pings.push({ path: req.url ?? '/', method: req.method ?? 'GET', body });
      res.end('OK');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/abc-123`, pings };
}

function serve(server: FeedServer, items: (Episode & { status?: number })[], path = '/feed.xml', extra = ''): void {
  for (const item of items) {
    const name = item.url;
    server.set(`/audio/${name}`, item.status ? { status: item.status, body: 'gone' } : { body: randomBytes(1200), etag: `"${name}"`, range: true });
  }
  const xml = rssXml('Show', items.map((i) => ({ ...i, url: server.url(`/audio/${i.url}`) })));
  server.set(path, { body: extra ? xml.replace('<channel>', `<channel>${extra}`) : xml });
}

const item = (n: number, status?: number): Episode & { status?: number } => ({
  title: `Episode ${n}`,
  guid: `ep-${n}`,
  pubDate: new Date(Date.UTC(2024, 0, n)).toUTCString(),
  url: `ep-${n}.mp3`,
  ...(status ? { status } : {}),
});

const podcastsAt = (url: string) => [{ id: 'show', title: 'Show', url, rssFeedFile: 'show.xml', status: 'active' }];
const RSS_RUN = ['--only=pre-sync,consistency,rss,upload'];

test('history and pings: a clean, a failed, a lock-refused and a max-runtime run, each recorded and pinged in order', async (t) => {
  const hc = await pingServer(t);
  const feed = await startFeedServer(t);
  serve(feed, [item(1)]);
  const rig = await syncRig(t, { siteId: 'hist', podcasts: podcastsAt(feed.url('/feed.xml')), proxy: { kinds: ['stall'], faultRate: 0 }, env: { INGEST_STALL_TIMEOUT_MS: '60000' } });
  const ping = [`--ping-url=${hc.url}`];

  const clean = await rig.run([...RSS_RUN, ...ping]);
  assert.equal(clean.code, 0, clean.stdout);
  // The summary says what the night brought, and where it ran.
  const json = clean.summary as unknown as { version: string; host: string; episodes: { added: { site: string; podcastId: string; title: string; fileKey: string }[] }; warnings: unknown[] };
  assert.match(json.version, /^\d+\.\d+\.\d+$/);
  assert.ok(json.host.length > 0);
  assert.deepEqual(json.episodes.added.map((e) => [e.site, e.podcastId, e.title]), [['hist', 'show', 'Episode 1']]);
  assert.match(json.episodes.added[0]!.fileKey, /^2024-01-01_Episode_1--\d{13}$/);
  assert.deepEqual(json.warnings, []);
  serve(feed, [item(1), item(2, 404)]);
  const failed = await rig.run([...RSS_RUN, ...ping]);
  assert.equal(failed.code, 1, failed.stdout);

  // A live holder of the lock: the run refuses, and still records and pings.
  const held = await acquireLock(rig.localRoot, 'a test holding the lock');
  assert.equal(held.status, 'acquired');
  const refused = await rig.run([...RSS_RUN, ...ping]);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /another run holds .*\.ingest\.lock: pid \d+/);
  assert.equal(refused.summary.exitCode, 3, '--summary-json describes this run, not the previous one');
  if (held.status === 'acquired') await held.release();

  // S3 stops answering; --max-runtime stops the run cleanly.
  rig.proxy!.configure({ faultRate: 1 });
  const startedAt = Date.now();
  const overtime = await rig.run([...RSS_RUN, ...ping, '--max-runtime=3s']);
  assert.equal(overtime.code, 130, overtime.stdout);
  assert.ok(Date.now() - startedAt < 20_000, 'stopped soon after the limit');
  assert.match(overtime.stdout, /the run exceeded --max-runtime \(3s\): stopping/);
  rig.proxy!.configure({ faultRate: 0 });

  const historyFile = path.join(rig.localRoot, '.runs', 'history.jsonl');
  const history = (await readFile(historyFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(history.map((h) => h.exitCode), [0, 1, 3, 130]);
  assert.match(history[2].refused, /another run holds/);
  assert.equal(history[1].sites.hist.status, 'failed');
  assert.equal(history[0].sites.hist.episodesAdded, 1);
  assert.deepEqual(
    hc.pings.map((p) => p.path),
    ['/ping/abc-123/start', '/ping/abc-123', '/ping/abc-123/start', '/ping/abc-123/1', '/ping/abc-123/start', '/ping/abc-123/3', '/ping/abc-123/start', '/ping/abc-123/130'],
  );
  assert.match(hc.pings[3]!.body, /"exitCode": 1/, 'the summary is the body');
  const logs = await readdir(path.join(rig.localRoot, '.runs', 'logs'));
  assert.equal(logs.length, 4, 'one log per run');

  // A run killed mid-append leaves a torn line: the next run's entry still lands on a line of its own.
  await appendFile(historyFile, '{"schema":"podcast-ingest/hist');
  const after = await rig.run(RSS_RUN);
  const lines = (await readFile(historyFile, 'utf8')).trim().split('\n');
  assert.equal(JSON.parse(lines.at(-1)!).exitCode, after.code, 'the entry after a torn line is readable');

  // A ping server that is down changes nothing but a warning.
  serve(feed, [item(1), item(2)]);
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const down = await rig.run([...RSS_RUN, `--ping-url=http://127.0.0.1:${port}/ping/x`]);
  assert.equal(down.code, 0, down.stdout);
  assert.match(down.stdout, new RegExp(`WARN .*health ping http://127\\.0\\.0\\.1:${port}/… failed`));
  const warnings = (down.summary as unknown as { warnings: { step: string; message: string }[] }).warnings;
  assert.ok(warnings.some((w) => /health ping .* failed/.test(w.message)), 'the summary JSON lists the warnings');
});

test('per-run logs rotate (keep exactly N); --on-failure runs with the summary path; a clean run runs nothing', async (t) => {
  const feed = await startFeedServer(t);
  serve(feed, [item(1)]);
  const rig = await syncRig(t, { siteId: 'rot', podcasts: podcastsAt(feed.url('/feed.xml')), env: { INGEST_KEEP_LOGS: '2' } });
  const marker = path.join(rig.root, 'on-failure.txt');
  const hook = [`--on-failure=printf '%s' >${marker}`];
  for (let i = 0; i < 3; i++) assert.equal((await rig.run([...RSS_RUN, ...hook])).code, 0);
  assert.equal((await readdir(path.join(rig.localRoot, '.runs', 'logs'))).length, 2);
  await assert.rejects(readFile(marker), /ENOENT/, 'a clean run runs no hook');
  serve(feed, [item(1), item(2, 404)]);
  const failed = await rig.run([...RSS_RUN, ...hook]);
  assert.equal(failed.code, 1);
  const given = await readFile(marker, 'utf8');
  assert.equal(JSON.parse(await readFile(given, 'utf8')).exitCode, 1, 'the hook got the summary JSON path');
  // status says why the site failed, not only that it did.
  const status = await runCli(['status', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`], { env: rig.env });
  assert.match(status.stdout + status.stderr, /\[rot\] 1 failed run in a row, last: \[rss\] .*ep-2\.mp3.*404/);
});

test('an episode that keeps failing backs off, then is reported as needing attention; status says so', async (t) => {
  const feed = await startFeedServer(t);
  serve(feed, [item(1), item(2, 404)]);
  const rig = await syncRig(t, { siteId: 'back', podcasts: podcastsAt(feed.url('/feed.xml')), env: { INGEST_ATTENTION_AFTER: '3' } });
  const tries = () => feed.requests.filter((r) => r.path === '/audio/ep-2.mp3').length;
  const seen: number[] = [];
  const outputs: string[] = [];
  for (let night = 1; night <= 5; night++) {
    const r = await rig.run(RSS_RUN);
    outputs.push(r.stdout);
    seen.push(tries());
  }
  // Attempts: night 1 (fail 1), night 2 (fail 2), night 3 skipped (backoff 1), night 4 (fail 3), nights 5-7 skipped.
  const attempts = seen.map((n, i) => n - (seen[i - 1] ?? 0)).map((n) => (n > 0 ? 1 : 0));
  assert.deepEqual(attempts, [1, 1, 0, 1, 0]);
  assert.match(outputs[2]!, /1 episode download that kept failing left for a later run \(backoff\)/);
  assert.match(outputs[4]!, /WARN .*needs attention: its download failed 3 runs in a row/);
  const status = await runCli(['status', '--json', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`], { env: rig.env });
  assert.equal(status.code, 1, 'a warning is exit 1');
  const json = JSON.parse(status.stdout);
  assert.equal(json.sites[0].needsAttention.length, 1);
  assert.match(json.sites[0].needsAttention[0].episode, /^show\/2024-01-02_Episode_2--\d{13}$/);
  // Night 5 left the failing episode alone (backoff): a clean night, but the episode is reported.
  assert.ok(json.sites[0].lastGoodRun !== undefined);
  assert.equal(json.sites[0].failedRunsInARow, 0);
  assert.ok(json.warnings.some((w: string) => /needs|failed 3 runs in a row/.test(w)), JSON.stringify(json.warnings));

  // A damaged state file is not trusted: the next run says so and starts it afresh.
  await writeFile(path.join(rig.localRoot, '.runs', 'state', 'back.json'), '{"schema": "podcast-ingest/site-state@1", "site": "back", "failing": [}');
  const rebuilt = await rig.run(RSS_RUN);
  assert.match(rebuilt.stdout, /WARN .*\[back\] \[run\] the site's state file is damaged .*: starting it afresh/);
  assert.doesNotThrow(() => JSON.parse(readFileSync(path.join(rig.localRoot, '.runs', 'state', 'back.json'), 'utf8')));
});

test('a feed that moved (new-feed-url, then a permanent redirect) is followed from the next run on; the config is left alone', async (t) => {
  const feed = await startFeedServer(t);
  const moved = feed.url('/new-home.xml');
  serve(feed, [item(1)], '/feed.xml', `<itunes:new-feed-url>${moved}</itunes:new-feed-url>`);
  serve(feed, [item(1), item(2)], '/new-home.xml');
  const rig = await syncRig(t, { siteId: 'moved', podcasts: podcastsAt(feed.url('/feed.xml')) });
  const first = await rig.run(RSS_RUN);
  assert.equal(first.code, 0, first.stdout);
  assert.match(first.stdout, new RegExp(`WARN .*show: the feed moved to ${moved.replace(/[.?/]/g, '\\$&')} \\(<itunes:new-feed-url>\\)`));
  const second = await rig.run(RSS_RUN);
  assert.equal(second.code, 0, second.stdout);
  assert.doesNotMatch(second.stdout, /the feed moved/, 'reported once');
  assert.ok(feed.requests.some((r) => r.path === '/new-home.xml'), 'the new address was fetched');
  const config = JSON.parse(await readFile(path.join(rig.sitesRoot, 'moved', 'site.config.json'), 'utf8'));
  assert.equal(config.includedPodcasts[0].url, feed.url('/feed.xml'), 'site.config.json untouched');

  // The new home redirects permanently elsewhere: followed now, fetched directly next time.
  serve(feed, [item(1), item(2), item(3)], '/final.xml');
  feed.set('/new-home.xml', { redirect: { status: 301, location: '/final.xml' } });
  const third = await rig.run(RSS_RUN);
  assert.match(third.stdout, /the feed moved to .*\/final\.xml \(a permanent redirect/);
  const before = feed.requests.length;
  await rig.run(RSS_RUN);
  assert.deepEqual(feed.requests.slice(before).filter((r) => r.path.endsWith('.xml')).map((r) => r.path), ['/final.xml']);
});

test('--max-episodes-per-feed caps a first run over a long back catalogue, newest first; later runs bring the rest', async (t) => {
  const feed = await startFeedServer(t);
  serve(feed, [1, 2, 3, 4, 5].map((n) => item(n)));
  const rig = await syncRig(t, { siteId: 'cap', podcasts: podcastsAt(feed.url('/feed.xml')) });
  const titles = async () => JSON.parse(await readFile(path.join(rig.siteDir, 'episode-manifest', 'full-episode-manifest.json'), 'utf8')).episodes.map((e: { title: string }) => e.title);
  const first = await rig.run([...RSS_RUN, '--max-episodes-per-feed=2']);
  assert.equal(first.code, 0, first.stdout);
  assert.deepEqual(await titles(), ['Episode 4', 'Episode 5']);
  assert.match(first.stdout, /show: 3 more new episodes left for the next runs \(--max-episodes-per-feed=2\)/);
  await rig.run([...RSS_RUN, '--max-episodes-per-feed=2']);
  await rig.run([...RSS_RUN, '--max-episodes-per-feed=2']);
  assert.deepEqual(await titles(), ['Episode 1', 'Episode 2', 'Episode 3', 'Episode 4', 'Episode 5']);
});


test('an index invocation that failed stays owed: the next run, with nothing new, invokes once and clears it', async (t) => {
  const functions: Record<string, LambdaHandler> = {};
  const lambda = await startLocalLambda({ functions });
  t.after(() => lambda.stop());
  const feed = await startFeedServer(t);
  serve(feed, [item(1)]);
  const rig = await syncRig(t, { siteId: 'owed', podcasts: podcastsAt(feed.url('/feed.xml')), lambdaEndpoint: lambda.endpoint });
  const steps = ['--only=pre-sync,consistency,rss,upload,index'];
  const state = async () => JSON.parse(await readFile(path.join(rig.localRoot, '.runs', 'state', 'owed.json'), 'utf8'));

  // The function does not exist yet: the upload happens, the invocation fails.
  const first = await rig.run(steps);
  assert.equal(first.code, 1, first.stdout);
  assert.match(first.stdout, /ERROR \[owed\] \[index\] .*srt-indexing-owed not found/);
  assert.ok((await state()).pendingIndex, 'the invocation is owed');

  functions['srt-indexing-owed'] = async () => ({ ok: true });
  const invoked = lambda.invocations.length;
  const second = await rig.run(steps);
  assert.equal(second.code, 0, second.stdout);
  assert.equal(lambda.invocations.length - invoked, 1, 'invoked once, with nothing new uploaded');
  assert.match(second.stdout, /\[owed\] \[index\] ok: invoked srt-indexing-owed asynchronously \(owed since .*: \d+ files uploaded by run /);
  assert.equal((await state()).pendingIndex, undefined, 'cleared');

  const third = await rig.run(steps);
  assert.equal(third.code, 0);
  assert.equal(lambda.invocations.length - invoked, 1, 'nothing owed, nothing invoked');
});
