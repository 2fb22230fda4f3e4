// The rss step on real local servers: feeds and audio served over HTTP, the step run directly
// with a hand-built StepContext (the bucket is not involved).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { createRssStep } from '../tasks/steps/rss.ts';
import { FIXTURES } from './helpers/fixtures.ts';
import { startFeedServer, type FeedServer } from './helpers/feed-server.ts';
import { makeSite, rssXml, stepContext, type Episode } from './helpers/rss-rig.ts';
import { tempDir } from './helpers/temp.ts';

const BAD = path.join(FIXTURES, 'bad');
const step = createRssStep({ fetch: { attempts: 2, backoffMs: 20 }, download: { attempts: 3, backoffMs: 20 } });

function serveAudio(server: FeedServer, name: string, size = 3000): Buffer {
  const body = randomBytes(size);
  server.set(`/audio/${name}`, { body, etag: `"${name}"`, range: true });
  return body;
}

test('one good feed and every bad file as feeds of one site: the good one is ingested, each bad one named', async (t) => {
  const server = await startFeedServer(t);
  const audio = ['one.mp3', 'two.mp3'].map((n) => serveAudio(server, n));
  server.set('/good.xml', {
    body: rssXml('Good', [
      { title: 'Episode One', guid: 'g1', pubDate: 'Mon, 01 Jan 2024 10:00:00 PST', url: server.url('/audio/one.mp3?u=1'), duration: '10:00' },
      { title: 'Episode Two', pubDate: '2024-02-01T10:00:00Z', url: server.url('/audio/two.mp3') },
      { title: 'A video', guid: 'g3', pubDate: '2024-03-01T10:00:00Z', url: server.url('/video.mp4'), type: 'video/mp4' },
    ]),
    etag: '"good-1"',
  });
  const badFiles = readdirSync(BAD).filter((f) => f !== 'INDEX.md' && f !== 'windows-1251-declared.xml');
  const bad = badFiles.map((file, i) => {
    server.set(`/bad/${file}`, { body: readFileSync(path.join(BAD, file)) });
    return { id: `bad-${i}`, url: server.url(`/bad/${file}`) };
  });
  const dir = await tempDir(t);
  const { site, localRoot } = await makeSite(dir, 'mixed', [{ id: 'good', url: server.url('/good.xml') }, ...bad]);
  const { ctx } = stepContext(site, localRoot);

  const result = await step(ctx, {});
  assert.equal(result.status, 'failed');
  assert.equal(result.status === 'failed' && result.fatal, false);
  assert.deepEqual(result.counts, { episodesAdded: 2, audioDownloaded: 2, audioBytes: 6000 });
  assert.equal(result.errors.length, bad.length);
  for (const [i, b] of bad.entries()) {
    const error = result.errors.find((e) => e.subject === b.url);
    assert.ok(error, `an error names ${b.id}`);
    assert.match(error.message, new RegExp(`feed of "${b.id}" at ${b.url.replace(/[.?]/g, '\\$&')}: .{10,}`), badFiles[i]);
  }

  const manifest = JSON.parse(await readFile(path.join(site.localDir, 'episode-manifest/full-episode-manifest.json'), 'utf8'));
  assert.deepEqual(
    manifest.episodes.map((e: Record<string, unknown>) => [e.sequentialId, e.title, e.publishedAt, e.durationInSeconds, e.guid]),
    [
      [1, 'Episode One', '2024-01-01T18:00:00.000Z', 600, 'g1'],
      [2, 'Episode Two', '2024-02-01T10:00:00.000Z', undefined, undefined],
    ],
  );
  for (const [i, e] of manifest.episodes.entries()) {
    assert.match(e.fileKey, /^2024-0[12]-01_Episode_(One|Two)--\d{13}$/);
    assert.ok((await readFile(path.join(site.localDir, 'audio/good', `${e.fileKey}.mp3`))).equals(audio[i]!));
  }
  // Snapshots only for the feed that parsed; the bad ones never replace anything.
  assert.deepEqual(await readdir(path.join(site.localDir, 'rss')), ['good.xml']);
  assert.deepEqual(
    [...(result.output?.created ?? [])].sort(),
    [
      'episode-manifest/full-episode-manifest.json',
      `audio/good/${manifest.episodes[0].fileKey}.mp3`,
      `audio/good/${manifest.episodes[1].fileKey}.mp3`,
      'rss/good.xml',
    ].sort(),
  );
  // Nothing was requested but the feeds and the audio (no entity or DTD was ever fetched).
  const allowed = new Set(['/good.xml', '/audio/one.mp3', '/audio/two.mp3', ...badFiles.map((f) => `/bad/${f}`)]);
  for (const r of server.requests) assert.ok(allowed.has(r.path.split('?')[0]!), `unexpected request ${r.path}`);
  assert.equal(server.requestsTo('/video.mp4').length, 0);
});

test('a rerun adds nothing, downloads nothing and writes nothing; a changed feed adds only its new episode', async (t) => {
  const server = await startFeedServer(t);
  serveAudio(server, 'a.mp3');
  serveAudio(server, 'b.mp3');
  const episodes: Episode[] = [
    { title: 'First', guid: 'first', pubDate: 'Tue, 02 Jan 2024 08:00:00 GMT', url: server.url('/audio/a.mp3?updated=1') },
    { title: 'Second', pubDate: 'Wed, 03 Jan 2024 08:00:00 GMT', url: server.url('/audio/b.mp3') },
  ];
  // One feed with an ETag, one with Last-Modified, one with no validator at all.
  server.set('/etag.xml', { body: rssXml('E', episodes.slice(0, 1)), etag: '"e1"' });
  server.set('/lm.xml', { body: rssXml('L', episodes.slice(1)), lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' });
  server.set('/plain.xml', { body: rssXml('P', []) });
  const dir = await tempDir(t);
  const { site, localRoot } = await makeSite(dir, 'rerun', [
    { id: 'etag', url: server.url('/etag.xml') },
    { id: 'lm', url: server.url('/lm.xml') },
    { id: 'plain', url: server.url('/plain.xml') },
    { id: 'retired', url: server.url('/retired.xml'), status: 'inactive' },
  ]);
  const first = await step(stepContext(site, localRoot).ctx, {});
  assert.equal(first.status, 'ok', JSON.stringify(first));
  assert.deepEqual(first.counts, { episodesAdded: 2, audioDownloaded: 2, audioBytes: 6000 });

  const files = ['rss/etag.xml', 'rss/lm.xml', 'rss/plain.xml', 'episode-manifest/full-episode-manifest.json'].map((f) => path.join(site.localDir, f));
  const mtimes = async () => Promise.all(files.map(async (f) => (await stat(f)).mtimeMs));
  const before = await mtimes();
  const manifestBefore = await readFile(files[3]!, 'utf8');
  const requestsBefore = server.requests.length;

  const rerun = stepContext(site, localRoot);
  const second = await step(rerun.ctx, {});
  assert.equal(second.status, 'up-to-date', JSON.stringify(second));
  assert.deepEqual(second.counts, { episodesAdded: 0, audioDownloaded: 0, audioBytes: 0 });
  assert.deepEqual(rerun.planned, [], 'no write and no download planned');
  assert.equal(second.output?.created.length, 0);
  assert.deepEqual(await mtimes(), before);
  assert.equal(await readFile(files[3]!, 'utf8'), manifestBefore);
  const rerunRequests = server.requests.slice(requestsBefore);
  assert.deepEqual(rerunRequests.map((r) => r.path).sort(), ['/etag.xml', '/lm.xml', '/plain.xml'], 'feeds only, no audio');
  assert.equal(rerunRequests.find((r) => r.path === '/etag.xml')!.headers['if-none-match'], '"e1"');
  assert.equal(rerunRequests.find((r) => r.path === '/lm.xml')!.headers['if-modified-since'], 'Mon, 01 Jan 2024 00:00:00 GMT');
  assert.equal(server.requestsTo('/retired.xml').length, 0, 'inactive podcasts are not fetched');

  // The feed changes: the known episode is retitled and its URL gets a tracker and a new
  // query; one new episode appears. Only the new one is added and downloaded.
  serveAudio(server, 'c.mp3');
  server.set('/etag.xml', {
    body: rssXml('E', [
      { title: 'First (remastered)', guid: 'first', pubDate: 'Tue, 02 Jan 2024 08:00:00 GMT', url: server.url('/audio/a.mp3?updated=2') },
      { title: 'Third', guid: 'third', pubDate: 'Thu, 04 Jan 2024 08:00:00 GMT', url: server.url('/audio/c.mp3') },
    ]),
    etag: '"e2"',
  });
  const third = stepContext(site, localRoot);
  const changed = await step(third.ctx, {});
  assert.equal(changed.status, 'ok');
  assert.deepEqual(changed.counts, { episodesAdded: 1, audioDownloaded: 1, audioBytes: 3000 });
  const manifest = JSON.parse(await readFile(files[3]!, 'utf8'));
  assert.deepEqual(
    manifest.episodes.map((e: { sequentialId: number; title: string }) => `${e.sequentialId} ${e.title}`),
    ['1 First', '2 Second', '3 Third'],
  );
  assert.equal(server.requestsTo('/audio/a.mp3').length, 1, 'the known episode is not downloaded again');
});

test('dry run: plans the writes and downloads, changes nothing on disk', async (t) => {
  const server = await startFeedServer(t);
  serveAudio(server, 'a.mp3');
  server.set('/f.xml', { body: rssXml('F', [{ title: 'A', guid: 'a', pubDate: '2024-01-01T00:00:00Z', url: server.url('/audio/a.mp3') }]) });
  const dir = await tempDir(t);
  const { site, localRoot } = await makeSite(dir, 'dry', [{ id: 'f', url: server.url('/f.xml') }]);
  const rig = stepContext(site, localRoot, { dryRun: true });
  const result = await step(rig.ctx, {});
  assert.equal(result.status, 'ok');
  assert.deepEqual(
    rig.planned.map((p) => p.replace(/--\d{13}/, '--<ms>')),
    ['write rss/f.xml', 'add-episode f/2024-01-01_A--<ms>', 'write episode-manifest/full-episode-manifest.json', 'download audio/f/2024-01-01_A--<ms>.mp3'],
  );
  await assert.rejects(readdir(localRoot), /ENOENT/);
  assert.equal(server.requestsTo('/audio/a.mp3').length, 0);
});

test('a corrupt manifest is never overwritten: the step fails naming it', async (t) => {
  const server = await startFeedServer(t);
  server.set('/f.xml', { body: rssXml('F', []) });
  const dir = await tempDir(t);
  const { site, localRoot } = await makeSite(dir, 'corrupt', [{ id: 'f', url: server.url('/f.xml') }]);
  const file = path.join(site.localDir, 'episode-manifest/full-episode-manifest.json');
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '{"episodes": [');
  const result = await step(stepContext(site, localRoot).ctx, {});
  assert.equal(result.status, 'failed');
  assert.match(result.errors[0]!.message, /not valid JSON/);
  assert.equal(result.errors[0]!.subject, 'episode-manifest/full-episode-manifest.json');
  assert.equal(await readFile(file, 'utf8'), '{"episodes": [');
});

test('a 304 re-reads the local snapshot: a manifest lost after the snapshot was written is rebuilt without a feed download', async (t) => {
  const server = await startFeedServer(t);
  serveAudio(server, 'a.mp3');
  server.set('/f.xml', { body: rssXml('F', [{ title: 'A', guid: 'a', pubDate: '2024-01-01T00:00:00Z', url: server.url('/audio/a.mp3') }]), etag: '"v1"' });
  const dir = await tempDir(t);
  const { site, localRoot } = await makeSite(dir, 'heal', [{ id: 'f', url: server.url('/f.xml') }]);
  assert.equal((await step(stepContext(site, localRoot).ctx, {})).status, 'ok');
  const { rm } = await import('node:fs/promises');
  // As if the run had been killed between the snapshot and the manifest.
  await rm(path.join(site.localDir, 'episode-manifest'), { recursive: true });
  await rm(path.join(site.localDir, 'audio'), { recursive: true });
  const result = await step(stepContext(site, localRoot).ctx, {});
  assert.equal(result.status, 'ok');
  assert.deepEqual(result.counts, { episodesAdded: 1, audioDownloaded: 1, audioBytes: 3000 });
  const feedRequests = server.requestsTo('/f.xml');
  assert.equal(feedRequests.length, 2);
  assert.equal(feedRequests[1]!.headers['if-none-match'], '"v1"', 'answered 304, snapshot parsed locally');

  // Resume files nothing will finish are removed: the metadata left by a run killed right
  // after the rename, and a partial download of an episode no longer in the manifest. (A
  // partial download of a manifest episode is resumed: test/rss-cli.test.ts kills a run for it.)
  const audioDir = path.join(site.localDir, 'audio/f');
  const [done] = await readdir(audioDir);
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(audioDir, `.${done}.resume.json`), '{}');
  await writeFile(path.join(audioDir, '.2030-01-01_Gone--1700000000000.mp3.resume'), 'partial');
  await writeFile(path.join(audioDir, '.2030-01-01_Gone--1700000000000.mp3.resume.json'), '{}');
  await writeFile(path.join(audioDir, 'notes.txt'), 'not ours');
  const again = await step(stepContext(site, localRoot).ctx, {});
  assert.equal(again.status, 'up-to-date');
  assert.deepEqual((await readdir(audioDir)).sort(), [done!, 'notes.txt']);
});

test('feed validators: a feed dropped from the config is forgotten, a paused one is kept', async (t) => {
  const server = await startFeedServer(t);
  for (const id of ['kept', 'paused', 'dropped']) server.set(`/${id}.xml`, { body: rssXml(id, []), etag: `"${id}-1"` });
  const dir = await tempDir(t);
  const all = ['kept', 'paused', 'dropped'].map((id) => ({ id, url: server.url(`/${id}.xml`) }));
  const first = await makeSite(dir, 'memo', all);
  await step(stepContext(first.site, first.localRoot).ctx, {});
  const cacheFile = path.join(first.localRoot, '.cache', 'feed-validators-memo.json');
  assert.deepEqual(Object.keys(JSON.parse(await readFile(cacheFile, 'utf8'))).sort(), all.map((p) => p.url).sort());

  const later = await makeSite(dir, 'memo', [all[0]!, { ...all[1]!, status: 'inactive' }]);
  await step(stepContext(later.site, later.localRoot).ctx, {});
  assert.deepEqual(Object.keys(JSON.parse(await readFile(cacheFile, 'utf8'))).sort(), [all[0]!.url, all[1]!.url].sort());
  assert.equal(server.requestsTo('/kept.xml')[1]!.headers['if-none-match'], '"kept-1"', 'the kept feed still asks conditionally');
});
