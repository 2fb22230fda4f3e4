// Fetching feeds and downloading audio against a real local HTTP server with scripted faults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import iconv from 'iconv-lite';
import { fetchFeed } from '../tasks/engines/feeds/fetch.ts';
import { downloadAudio, resumePaths } from '../tasks/engines/feeds/audio-download.ts';
import { startFeedServer } from './helpers/feed-server.ts';
import { tempDir } from './helpers/temp.ts';

const FEED = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>';
const fast = { backoffMs: 20, attempts: 4 };

test('feed fetch: redirect chain 301 -> 302 -> 307 -> 308, gzip, a real User-Agent', async (t) => {
  const server = await startFeedServer(t);
  server.set('/a', { redirect: { status: 301, location: '/b' } });
  server.set('/b', { redirect: { status: 302, location: server.url('/c') } });
  server.set('/c', { redirect: { status: 307, location: '/d' } });
  server.set('/d', { redirect: { status: 308, location: '/feed' } });
  server.set('/feed', { body: FEED, gzip: true, headers: { 'content-type': 'application/rss+xml; charset=utf-8' } });
  const outcome = await fetchFeed(server.url('/a'), fast);
  assert.equal(outcome.kind, 'fetched');
  if (outcome.kind !== 'fetched') return;
  assert.equal(outcome.bytes.toString(), FEED);
  assert.equal(outcome.url, server.url('/feed'));
  assert.equal(outcome.charset, 'utf-8');
  const last = server.requestsTo('/feed')[0]!;
  assert.match(String(last.headers['user-agent']), /^podcast-ingest\/\d/);
  assert.match(String(last.headers['accept-encoding']), /gzip/);
});

test('feed fetch: 429 and 503 honour Retry-After, then succeed', async (t) => {
  const server = await startFeedServer(t);
  server.set('/throttled', { body: FEED, failFirst: { count: 1, status: 429, retryAfter: '1' } });
  server.set('/busy', { body: FEED, failFirst: { count: 2, status: 503 } });
  const started = Date.now();
  const throttled = await fetchFeed(server.url('/throttled'), fast);
  assert.equal(throttled.kind, 'fetched');
  assert.ok(Date.now() - started >= 950, 'waited for Retry-After: 1');
  assert.equal(server.requestsTo('/throttled').length, 2);
  assert.equal((await fetchFeed(server.url('/busy'), fast)).kind, 'fetched');
  assert.equal(server.requestsTo('/busy').length, 3);
});

test('feed fetch: an attempt that outlives its time limit is retried, and a feed that never answers says so', async (t) => {
  const server = await startFeedServer(t);
  let calls = 0;
  // The first request hangs past the limit; the second answers.
  server.set('/slow-once', {
    handler: (_req, res) => {
      if (++calls === 1) return;
      res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(FEED);
    },
  });
  server.set('/never', { handler: () => undefined });
  const outcome = await fetchFeed(server.url('/slow-once'), { ...fast, totalTimeoutMs: 300 });
  assert.equal(outcome.kind, 'fetched');
  assert.equal(calls, 2);
  const never = await fetchFeed(server.url('/never'), { ...fast, attempts: 2, totalTimeoutMs: 200 });
  assert.equal(never.kind, 'failed');
  if (never.kind === 'failed') assert.match(never.reason, /no complete response within the time limit/);
  assert.equal(server.requestsTo('/never').length, 2);
});

test('feed fetch: ETag and Last-Modified make an unchanged feed a 304', async (t) => {
  const server = await startFeedServer(t);
  server.set('/etag', { body: FEED, etag: '"v1"' });
  server.set('/lm', { body: FEED, lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' });
  const first = await fetchFeed(server.url('/etag'), fast);
  assert.equal(first.kind, 'fetched');
  if (first.kind !== 'fetched') return;
  assert.deepEqual(first.validators, { etag: '"v1"' });
  assert.equal((await fetchFeed(server.url('/etag'), { ...fast, validators: first.validators })).kind, 'not-modified');
  assert.equal(server.requestsTo('/etag')[1]!.headers['if-none-match'], '"v1"');
  const lm = await fetchFeed(server.url('/lm'), fast);
  assert.ok(lm.kind === 'fetched');
  assert.equal((await fetchFeed(server.url('/lm'), { ...fast, validators: lm.validators })).kind, 'not-modified');
});

test('feed fetch: clear failures (404, size cap, non-http redirect, dead server)', async (t) => {
  const server = await startFeedServer(t);
  server.set('/big', { body: 'x'.repeat(5000) });
  server.set('/to-file', { redirect: { status: 302, location: 'file:///etc/passwd' } });
  const missing = await fetchFeed(server.url('/nope'), fast);
  assert.ok(missing.kind === 'failed' && /HTTP 404 Not Found/.test(missing.reason) && missing.status === 404);
  assert.equal(server.requestsTo('/nope').length, 1, '404 is not retried');
  const big = await fetchFeed(server.url('/big'), { ...fast, maxBytes: 1000 });
  assert.ok(big.kind === 'failed' && /1000-byte cap/.test(big.reason));
  const redirect = await fetchFeed(server.url('/to-file'), fast);
  assert.ok(redirect.kind === 'failed' && /only http and https/.test(redirect.reason), JSON.stringify(redirect));
  const dead = await fetchFeed('http://127.0.0.1:1/feed.xml', { ...fast, attempts: 2 });
  assert.ok(dead.kind === 'failed' && /ECONNREFUSED/.test(dead.reason), JSON.stringify(dead));
});

test('feed fetch: the HTTP charset reaches the decoder', async (t) => {
  const server = await startFeedServer(t);
  server.set('/latin1', { body: iconv.encode('<rss><channel><title>Notícias</title></channel></rss>', 'latin1'), headers: { 'content-type': 'text/xml; charset=ISO-8859-1' } });
  const outcome = await fetchFeed(server.url('/latin1'), fast);
  assert.ok(outcome.kind === 'fetched');
  assert.equal(outcome.charset, 'ISO-8859-1');
});

test('download: connection dropped mid-body is resumed with Range + If-Range and verified', async (t) => {
  const server = await startFeedServer(t);
  const audio = randomBytes(200_000);
  server.set('/a.mp3', { body: audio, etag: '"a1"', range: true, dropAfterBytes: 70_000, dropTimes: 1 });
  const dir = await tempDir(t);
  const finalPath = path.join(dir, 'audio/pod/ep.mp3');
  const outcome = await downloadAudio({ url: server.url('/a.mp3'), finalPath, signal: new AbortController().signal, ...fast });
  assert.ok(outcome.kind === 'downloaded' && outcome.bytes === audio.length, JSON.stringify(outcome));
  // Whatever arrived before the drop is kept: the second request asks only for the rest.
  assert.ok(outcome.resumedFrom > 0 && outcome.resumedFrom <= 70_000, `resumed from ${outcome.resumedFrom}`);
  assert.ok((await readFile(finalPath)).equals(audio));
  const [first, second] = server.requestsTo('/a.mp3');
  assert.equal(first!.headers.range, undefined);
  assert.equal(second!.headers.range, `bytes=${outcome.resumedFrom}-`);
  assert.equal(second!.headers['if-range'], '"a1"');
  assert.deepEqual(await readdir(path.dirname(finalPath)), ['ep.mp3'], 'no resume files left');
});

test('download: a changed file on the server (If-Range fails) starts over', async (t) => {
  const server = await startFeedServer(t);
  const dir = await tempDir(t);
  const finalPath = path.join(dir, 'ep.mp3');
  const paths = resumePaths(finalPath);
  // A previous run left half of an older version.
  await writeFile(paths.data, randomBytes(1000));
  await writeFile(paths.meta, JSON.stringify({ url: server.url('/b.mp3'), etag: '"old"', total: 3000 }));
  const audio = randomBytes(5000);
  server.set('/b.mp3', { body: audio, etag: '"new"', range: true });
  const outcome = await downloadAudio({ url: server.url('/b.mp3'), finalPath, signal: new AbortController().signal, ...fast });
  assert.deepEqual(outcome, { kind: 'downloaded', bytes: 5000, resumedFrom: 0 });
  assert.ok((await readFile(finalPath)).equals(audio));
  assert.equal(server.requestsTo('/b.mp3')[0]!.headers['if-range'], '"old"');
});

test('download: a lying Content-Length never becomes a file; 404 and non-http fail clearly', async (t) => {
  const server = await startFeedServer(t);
  server.set('/liar.mp3', { body: randomBytes(1000), lieContentLength: 5000 });
  const dir = await tempDir(t);
  const signal = new AbortController().signal;
  const liar = await downloadAudio({ url: server.url('/liar.mp3'), finalPath: path.join(dir, 'liar.mp3'), signal, ...fast, attempts: 2 });
  assert.equal(liar.kind, 'failed');
  assert.match(liar.kind === 'failed' ? liar.reason : '', /connection closed before the body was complete|incomplete body/);
  assert.equal(server.requestsTo('/liar.mp3').length, 2, 'retried');
  assert.ok(!(await readdir(dir)).includes('liar.mp3'));

  const missing = await downloadAudio({ url: server.url('/missing.mp3'), finalPath: path.join(dir, 'missing.mp3'), signal, ...fast });
  assert.ok(missing.kind === 'failed' && missing.status === 404);
  const ftp = await downloadAudio({ url: 'ftp://example.com/a.mp3', finalPath: path.join(dir, 'ftp.mp3'), signal, ...fast });
  assert.ok(ftp.kind === 'failed' && /only http and https/.test(ftp.reason));
  server.set('/huge.mp3', { body: randomBytes(10_000) });
  const huge = await downloadAudio({ url: server.url('/huge.mp3'), finalPath: path.join(dir, 'huge.mp3'), signal, ...fast, maxBytes: 4096 });
  assert.ok(huge.kind === 'failed' && /4096-byte cap/.test(huge.reason));
  assert.deepEqual(await readdir(dir), [], 'no final or resume file for a failure');
});
