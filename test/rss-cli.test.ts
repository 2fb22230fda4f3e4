// The rss step and the feed command through the real CLI: a broken feed makes the run exit 1
// naming it; a run SIGKILLed in the middle of a download resumes and verifies on the next run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { runCli, startCli } from './helpers/cli.ts';
import { FIXTURES } from './helpers/fixtures.ts';
import { startFeedServer } from './helpers/feed-server.ts';
import { makeSite, rssXml } from './helpers/rss-rig.ts';
import { tempDir } from './helpers/temp.ts';

const BAD = path.join(FIXTURES, 'bad');
/** Sync folders without episode-manifest: rss works from the local manifest, no bucket needed. */
const LOCAL_MANIFEST = '--sync-folders=audio,transcripts,rss';

test('run --only=rss: a good and a hostile feed; the good one is ingested, the run exits 1 naming the bad one', async (t) => {
  const server = await startFeedServer(t);
  server.set('/audio/a.mp3', { body: randomBytes(2000), etag: '"a"', range: true });
  server.set('/good.xml', { body: rssXml('Good', [{ title: 'Only', guid: 'only', pubDate: '2024-05-05T05:05:05Z', url: server.url('/audio/a.mp3') }]) });
  server.set('/xxe.xml', { body: await readFile(path.join(BAD, 'defusedxml-external-entity-http.xml')) });
  const dir = await tempDir(t);
  const { sitesRoot, localRoot, site } = await makeSite(dir, 'clisite', [
    { id: 'good', url: server.url('/good.xml') },
    { id: 'hostile', url: server.url('/xxe.xml') },
  ]);
  // No bucket here: the manifest is this machine's alone (not a synced folder).
  const result = await runCli(['run', '--only=rss', LOCAL_MANIFEST, `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--renderer=plain'], { timeoutMs: 60_000 });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /hostile.*xxe\.xml.*DOCTYPE declaration refused/);
  const audio = await readdir(path.join(site.localDir, 'audio/good'));
  assert.equal(audio.length, 1);
  assert.match(audio[0]!, /^2024-05-05_Only--\d{13}\.mp3$/);
  assert.deepEqual(server.requests.map((r) => r.path).sort(), ['/audio/a.mp3', '/good.xml', '/xxe.xml']);
});

test('SIGKILL during a download, then a rerun: the file is complete, resumed with Range and verified', async (t) => {
  const server = await startFeedServer(t);
  const audio = randomBytes(1_500_000);
  // Trickled: about 3 s for the whole body, so the kill lands mid-download.
  server.set('/audio/long.mp3', { body: audio, etag: '"long-v1"', range: true, trickle: { chunkBytes: 25_000, intervalMs: 50 } });
  server.set('/feed.xml', { body: rssXml('Long', [{ title: 'Long one', guid: 'long', pubDate: '2024-06-01T00:00:00Z', url: server.url('/audio/long.mp3') }]), etag: '"f1"' });
  const dir = await tempDir(t);
  const { sitesRoot, localRoot, site } = await makeSite(dir, 'killsite', [{ id: 'pod', url: server.url('/feed.xml') }]);
  const args = ['run', '--only=rss', LOCAL_MANIFEST, `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--renderer=plain'];
  const audioDir = path.join(site.localDir, 'audio/pod');

  const cli = startCli(args, { timeoutMs: 60_000 });
  // Wait until a good part of the body is on disk, then kill the whole process group.
  let resumeFile = '';
  for (let i = 0; i < 400 && !resumeFile; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const names = await readdir(audioDir).catch(() => [] as string[]);
    const candidate = names.find((n) => n.endsWith('.mp3.resume'));
    if (candidate && (await stat(path.join(audioDir, candidate))).size > 300_000) resumeFile = candidate;
  }
  assert.ok(resumeFile, `a resume file appeared; output: ${cli.output()}`);
  process.kill(-cli.child.pid!, 'SIGKILL');
  const killed = await cli.result;
  assert.equal(killed.signal, 'SIGKILL');
  const names = await readdir(audioDir);
  assert.ok(!names.some((n) => n.endsWith('.mp3') && !n.startsWith('.')), `no complete-looking file after the kill: ${names}`);
  const partialSize = (await stat(path.join(audioDir, resumeFile))).size;
  assert.ok(partialSize < audio.length);

  // The rerun (the lock left by the killed run is stale) finishes the same file.
  server.set('/audio/long.mp3', { body: audio, etag: '"long-v1"', range: true, trickle: { chunkBytes: 200_000, intervalMs: 10 } });
  const rerun = await runCli(args, { timeoutMs: 60_000 });
  assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
  const final = (await readdir(audioDir)).filter((n) => !n.startsWith('.'));
  assert.equal(final.length, 1);
  assert.equal(`.${final[0]}.resume`, resumeFile, 'the same file key: one key per episode');
  assert.ok((await readFile(path.join(audioDir, final[0]!))).equals(audio), 'complete and byte-identical');
  assert.deepEqual((await readdir(audioDir)).filter((n) => n.startsWith('.')), [], 'resume files removed');
  const last = server.requestsTo('/audio/long.mp3').at(-1)!;
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(String(last.headers.range))?.[1]);
  assert.ok(resumedAt >= partialSize && resumedAt > 0, `resumed with ${last.headers.range} (partial was ${partialSize})`);
  assert.equal(last.headers['if-range'], '"long-v1"');
  assert.match(rerun.stdout, /resumed at \d+/);
});

test('feed command: prints every audio episode with identity and file key; a broken feed exits 1', async (t) => {
  const feeds = path.join(FIXTURES, 'feeds');
  const json = await runCli(['feed', path.join(feeds, 'mookstudy-nihon-no-rekishi.xml'), '--json', '--at=1700000000000']);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.episodes.length, 8);
  assert.equal(parsed.items, 10);
  const first = parsed.episodes[0];
  assert.deepEqual(Object.keys(first), ['identity', 'title', 'publishedAt', 'enclosureUrl', 'durationInSeconds', 'fileKey']);
  assert.match(first.identity, /^guid:/);
  assert.equal(first.publishedAt, '2022-10-31T22:00:04.000Z');
  assert.match(first.fileKey, /^2022-10-31_174_Voicy_2022_11_1--1700000000000$/);

  const server = await startFeedServer(t);
  server.set('/moved', { redirect: { status: 301, location: '/feed.xml' } });
  server.set('/feed.xml', { body: await readFile(path.join(feeds, 'ndr-info-2024-03-13.xml')), gzip: true });
  const text = await runCli(['feed', server.url('/moved'), '--at=1700000000000']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /2 audio episodes/);
  assert.match(text.stdout, /file key {2}2024-03-13_.*--1700000000000/);

  const bad = await runCli(['feed', path.join(BAD, 'no-agenda-undefined-entity.xml')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /undefined entity "&gtgt;"/);
});
