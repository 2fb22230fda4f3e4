// Proof of the whole run under faults (issue 15): one run meets every fault at once. The S3
// endpoint fails a share of requests (500, 503, resets, stalls, bodies cut off) through the
// fault proxy; one feed never answers and one answers an HTML page; the indexing endpoint
// throttles one site (429) and fails another (500); one episode's audio is corrupt; one site's
// config is broken; one site's role is refused by STS (AccessDenied). Every healthy part
// completes, every fault is named exactly once in the summary with its site and step, and the
// run exits 1. Once the faults are removed, the next run finishes clean (exit 0): the site whose
// invocation failed is indexed although it uploads nothing, and verify finds nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { startWorld, startStsServer, toneClips, podcastOf, type SiteSpec } from './helpers/world.ts';
import { ALL_FAULTS } from './helpers/fault-proxy.ts';

interface SummaryError {
  site: string;
  step: string;
  subject?: string;
  message: string;
  code?: string;
}
interface Summary {
  exitCode: number;
  sites: { site: string; status: string; steps: { step: string; status: string; message: string }[] }[];
  errors: SummaryError[];
}

const lambdaError = (res: http.ServerResponse, status: number, type: string, message: string) => {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': type }).end(JSON.stringify({ message }));
  return true;
};

test('a fault matrix in one run: healthy parts complete, each fault named once; without the faults the next run is clean', async (t) => {
  const clips = await toneClips(path.join(os.tmpdir(), 'podcast-ingest-crash-clips'), 5, 8);
  const sts = await startStsServer();
  t.after(() => sts.stop());
  const ROLE = 'arn:aws:iam::123456789012:role/browse-dot-show-automation-role';
  const sites: SiteSpec[] = [
    { id: 'steady', episodes: 2 },
    { id: 'feeds', episodes: 1, extraPodcasts: [{ id: 'silent', feedPath: '/feeds/silent.xml' }, { id: 'html', feedPath: '/feeds/html.xml' }] },
    { id: 'corrupt', episodes: 2 },
    { id: 'broken', episodes: 1, rawConfig: '{ "id": "broken", "includedPodcasts": [ { "id": "broken-pod", ' },
    { id: 'denied', episodes: 1, automation: { roleArn: ROLE, stsEndpoint: sts.endpoint } },
    { id: 'unindexed', episodes: 1 },
  ];
  const world = await startWorld(t, {
    sites,
    clips,
    // Every kind once first, then one request in ten.
    proxy: { faultRate: 0.1, seed: 15, firstFaults: [...ALL_FAULTS] },
    env: { INGEST_STALL_TIMEOUT_MS: '1500' },
  });

  // The faults outside S3.
  world.feeds.override.set('/feeds/silent.xml', (req) => void req.resume()); // accepted, never answered
  world.feeds.override.set('/feeds/html.xml', (_req, res) => {
    const page = '<!DOCTYPE html>\n<html><head><title>Podcast moved</title></head><body><h1>This show has a new home</h1></body></html>\n';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(page) }).end(page);
  });
  world.feeds.set('/audio/corrupt/ep-2.mp3', randomBytes(40_000), 'audio/mpeg');
  let steadyThrottled = 0;
  world.gate.answer = (fn, res) => {
    if (fn === 'srt-indexing-steady' && steadyThrottled < 2) {
      steadyThrottled++;
      return lambdaError(res, 429, 'TooManyRequestsException', 'Rate exceeded');
    }
    if (fn === 'srt-indexing-unindexed') return lambdaError(res, 500, 'ServiceException', 'the indexing service is failing');
    return false;
  };

  const summaryFile = path.join(world.root, 'faults.json');
  const started = Date.now();
  const faulty = await world.run(['--wait-for-index'], summaryFile);
  const faultySeconds = (Date.now() - started) / 1000;
  const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as Summary;
  const summaryLines = faulty.stdout.split('\n').filter((l) => /\[summary|error \d+\/\d+/.test(l));
  console.log(`fault matrix run: exit ${faulty.code} in ${faultySeconds.toFixed(1)} s; S3 faults injected: ${JSON.stringify(world.proxy.faults)}`);
  console.log(summaryLines.join('\n'));
  console.log(`summary errors:\n${JSON.stringify(summary.errors, null, 2)}`);
  const context = `\n${faulty.stdout}\n${faulty.stderr}`;

  assert.equal(faulty.code, 1, context);
  assert.equal(summary.exitCode, 1);
  // A machine-wide warning (the test model has random weights) is said once for the run, not once per site.
  assert.equal(faulty.stdout.match(/RANDOM-WEIGHT model/g)?.length, 1, context);
  for (const kind of ALL_FAULTS) assert.ok(world.proxy.faults[kind] >= 1, `the S3 fault ${kind} occurred`);

  // Every fault named once, with its site and step; the S3 faults were transient and retried.
  const named = summary.errors.map((e) => `${e.site} ${e.step} ${e.subject ?? ''}`.trim()).sort();
  // The subject (the file, feed, episode or function) or, where there is none, the message names it.
  const expected: [site: string, step: string, subject: RegExp, message: RegExp][] = [
    ['broken', 'config', /broken[/\\]site\.config\.json/, /not valid JSON/],
    ['corrupt', 'transcribe', /^audio\/corrupt-pod\/2024-03-02_corrupt_episode_2_\S+--\d{13}\.mp3 /, /./],
    ['denied', 'pre-sync', /./, /AccessDenied|not authorized to perform: sts:AssumeRole/],
    ['unindexed', 'index', /srt-indexing-unindexed/, /ServiceException|indexing service is failing/],
    ['feeds', 'rss', /\/feeds\/html\.xml /, /HTML/i],
    ['feeds', 'rss', /\/feeds\/silent\.xml /, /no data|time|response/i],
  ];
  assert.equal(summary.errors.length, expected.length, `exactly these faults, each once: ${named.join('; ')}${context}`);
  const left = [...summary.errors];
  for (const [site, step, subject, message] of expected) {
    const i = left.findIndex((e) => e.site === site && e.step === step && subject.test(`${e.subject ?? ''} ${e.message}`) && message.test(`${e.message} ${e.code ?? ''}`));
    assert.ok(i >= 0, `no error for ${site} ${step} ${subject} ${message} among ${JSON.stringify(left, null, 2)}`);
    left.splice(i, 1);
  }
  // Each error is listed once in the plain summary too (a line per error).
  for (const e of summary.errors) {
    const lines = faulty.stdout.split('\n').filter((l) => /error \d+\/\d+/.test(l) && l.includes(`[${e.site}]`) && l.includes(e.message.slice(0, 40)));
    assert.equal(lines.length, 1, `${e.site} ${e.step}: ${lines.length} summary lines${context}`);
  }

  // The healthy parts completed: every step of `steady`; the other sites' healthy episodes.
  const stepsOf = (id: string) => Object.fromEntries(summary.sites.find((s) => s.site === id)!.steps.map((s) => [s.step, s.status]));
  assert.deepEqual(stepsOf('steady'), { 'pre-sync': 'up-to-date', consistency: 'up-to-date', rss: 'ok', transcribe: 'ok', upload: 'ok', index: 'ok' }, context);
  assert.equal(steadyThrottled, 2, 'steady was throttled twice, then indexed');
  assert.deepEqual(stepsOf('denied'), { 'pre-sync': 'failed', consistency: 'skipped', rss: 'skipped', transcribe: 'skipped', upload: 'skipped', index: 'skipped' });
  assert.ok(sts.calls.length >= 1 && sts.calls.every((c) => c.Action === 'AssumeRole' && c.RoleArn === ROLE), JSON.stringify(sts.calls));
  const inBucket = async (id: string) => [...(await world.bucketFiles(id)).keys()].map((k) => k.replace(/--\d{13}/, '--<ms>'));
  const steady = await inBucket('steady');
  for (const n of [1, 2]) {
    assert.ok(steady.includes(`transcripts/steady-pod/2024-03-0${n}_steady_episode_${n}_tones_silence--<ms>.srt`), steady.join('\n'));
    assert.ok(steady.includes(`search-entries/steady-pod/2024-03-0${n}_steady_episode_${n}_tones_silence--<ms>.json`), steady.join('\n'));
  }
  assert.ok((await inBucket('feeds')).includes(`search-entries/${podcastOf('feeds')}/2024-03-01_feeds_episode_1_tones_silence--<ms>.json`), 'feeds indexed its good podcast');
  const unindexed = await inBucket('unindexed');
  assert.ok(unindexed.includes('transcripts/unindexed-pod/2024-03-01_unindexed_episode_1_tones_silence--<ms>.srt'), unindexed.join('\n'));
  assert.ok(!unindexed.some((k) => k.startsWith('search-entries/')), 'its invocation failed');
  const corrupt = await inBucket('corrupt');
  assert.ok(corrupt.includes('transcripts/corrupt-pod/2024-03-01_corrupt_episode_1_tones_silence--<ms>.srt'), corrupt.join('\n'));
  assert.ok(corrupt.includes('search-entries/corrupt-pod/2024-03-01_corrupt_episode_1_tones_silence--<ms>.json'), 'corrupt indexed its good episode');
  assert.ok(corrupt.includes('episode-manifest/full-episode-manifest.json'));

  // The faults removed: S3 answers, the feeds are feeds, the function works, the corrupt file is
  // replaced at its source and removed where the runner had put it, the config fixed, the role allowed.
  world.proxy.configure({ faultRate: 0 });
  world.feeds.override.clear();
  world.serveFeed('/feeds/silent.xml', 'silent', 1, 3);
  world.serveFeed('/feeds/html.xml', 'html', 1, 4);
  world.feeds.set('/audio/corrupt/ep-2.mp3', clips[0]!, 'audio/mpeg');
  const badKey = [...(await world.bucketFiles('corrupt')).keys()].find((k) => k.startsWith('audio/corrupt-pod/2024-03-02_'));
  if (badKey) await world.client.send(new DeleteObjectCommand({ Bucket: world.bucketOf('corrupt'), Key: badKey }));
  const localAudio = path.join(world.siteDir('corrupt'), 'audio', 'corrupt-pod');
  for (const name of await import('node:fs/promises').then((fs) => fs.readdir(localAudio))) {
    if (name.includes('episode_2')) await rm(path.join(localAudio, name));
  }
  world.gate.answer = undefined;
  await world.writeSiteConfig({ id: 'broken', episodes: 1 });
  sts.allow = true;

  const cleanFile = path.join(world.root, 'clean.json');
  const clean = await world.run(['--wait-for-index'], cleanFile);
  const cleanSummary = JSON.parse(await readFile(cleanFile, 'utf8')) as Summary;
  console.log(`rerun without faults: exit ${clean.code}\n${clean.stdout.split('\n').filter((l) => /\[summary/.test(l)).join('\n')}`);
  assert.equal(clean.code, 0, `${clean.stdout}\n${clean.stderr}`);
  assert.deepEqual(cleanSummary.errors, []);
  // steady had nothing left to do; every other site finished what its fault had stopped, the
  // unindexed site with the invocation it owed (nothing else to upload).
  assert.deepEqual(cleanSummary.sites.map((s) => [s.site, s.status]).sort(), [['broken', 'ok'], ['corrupt', 'ok'], ['denied', 'ok'], ['feeds', 'ok'], ['steady', 'up-to-date'], ['unindexed', 'ok']]);
  const unindexedSteps = cleanSummary.sites.find((s) => s.site === 'unindexed')!.steps;
  assert.deepEqual(unindexedSteps.filter((s) => s.status === 'ok').map((s) => s.step), ['index'], JSON.stringify(unindexedSteps));
  for (const id of ['broken', 'corrupt', 'denied', 'feeds', 'unindexed']) {
    const keys = await inBucket(id);
    const transcripts = keys.filter((k) => k.startsWith('transcripts/')).map((k) => k.replace('transcripts/', 'search-entries/').replace(/\.srt$/, '.json'));
    assert.ok(transcripts.length > 0 && transcripts.every((k) => keys.includes(k)), `${id}: every transcript indexed:\n${keys.join('\n')}`);
  }
  const verify = await world.cli(['verify', '--json']);
  assert.equal(verify.code, 0, verify.stdout);
});
