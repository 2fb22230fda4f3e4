// Never lose an episode (issue 10): the episode manifest is merged, never overwritten; no step
// acts on a partial picture; nothing good is replaced by something worse. Each scenario runs the
// real CLI against a real S3 server (s3rver) with the fault placed by a proxy, and feeds and
// audio served by a real HTTP server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { startLocalS3 } from '../tasks/demo/local/s3-server.ts';
import { MANIFEST_KEY } from '../tasks/site/manifest.ts';
import { startFeedServer, type FeedServer } from './helpers/feed-server.ts';
import { rssXml } from './helpers/rss-rig.ts';
import { syncRig, md5, type SyncRig } from './helpers/sync-rig.ts';
import { tempDir } from './helpers/temp.ts';

/** pre-sync, consistency, rss and upload: everything but transcription and indexing. */
const STEPS = '--only=pre-sync,consistency,rss,upload';
const PODCAST = 'replyall';

interface FeedItem {
  title: string;
  guid: string;
  pubDate: string;
}

const ITEMS: FeedItem[] = [
  { title: '#168 The Oldest', guid: 'ep-168', pubDate: '2024-01-01T10:00:00Z' },
  { title: '#169 The Middle', guid: 'ep-169', pubDate: '2024-02-01T10:00:00Z' },
  { title: '#170 A Song of Impotent Rage', guid: 'ep-170', pubDate: '2024-03-01T10:00:00Z' },
  { title: '#171 Newest', guid: 'ep-171', pubDate: '2024-04-01T10:00:00Z' },
];

/** Serve `items` as the feed at /feed.xml, each with its audio. */
function serveFeed(server: FeedServer, items: FeedItem[]): void {
  for (const item of items) server.set(`/audio/${item.guid}.mp3`, { body: randomBytes(1500), etag: `"${item.guid}"`, range: true });
  server.set('/feed.xml', { body: rssXml('Reply All', items.map((i) => ({ ...i, url: server.url(`/audio/${i.guid}.mp3`) }))) });
}

function podcasts(server: FeedServer) {
  return [{ id: PODCAST, title: 'Reply All', url: server.url('/feed.xml'), rssFeedFile: `${PODCAST}.xml`, status: 'active' }];
}

const audioRequests = (server: FeedServer) => server.requests.filter((r) => r.path.startsWith('/audio/')).length;

interface ManifestDoc {
  episodes: { fileKey: string; guid?: string; title: string; sequentialId: number }[];
}

async function bucketManifest(rig: SyncRig): Promise<{ text: string; doc?: ManifestDoc }> {
  const out = await rig.client.send(new GetObjectCommand({ Bucket: rig.bucket, Key: MANIFEST_KEY }));
  const text = await out.Body!.transformToString();
  try {
    return { text, doc: JSON.parse(text) as ManifestDoc };
  } catch {
    return { text };
  }
}

async function localManifest(rig: SyncRig): Promise<ManifestDoc> {
  return JSON.parse(await readFile(path.join(rig.siteDir, MANIFEST_KEY), 'utf8')) as ManifestDoc;
}

const guids = (doc: ManifestDoc) => doc.episodes.map((e) => e.guid).sort();

/** No episode twice (by GUID) and no file key twice. */
function assertNoDuplicates(doc: ManifestDoc, label: string): void {
  assert.equal(new Set(doc.episodes.map((e) => e.guid)).size, doc.episodes.length, `${label}: an episode is listed twice`);
  assert.equal(new Set(doc.episodes.map((e) => e.fileKey)).size, doc.episodes.length, `${label}: a file key is listed twice`);
}

async function keysUnder(rig: SyncRig, folder: string): Promise<string[]> {
  return [...(await rig.bucketFiles()).keys()].filter((k) => k.startsWith(`${folder}/`)).sort();
}

test('a failed manifest download: nothing is added, nothing uploaded, the site fails naming the fault; the next run loses nothing', async (t) => {
  const feed = await startFeedServer(t);
  serveFeed(feed, ITEMS.slice(0, 3));
  const manifestGet = (r: { method: string; url: string }) => r.method === 'GET' && r.url.includes(MANIFEST_KEY) && !r.url.includes('list-type');
  const rig = await syncRig(t, { siteId: 'echo', podcasts: podcasts(feed), proxy: { eligible: manifestGet, kinds: ['http500'], faultRate: 0 } });
  const first = await rig.run([STEPS]);
  assert.equal(first.code, 0, first.stdout);
  const published = await bucketManifest(rig);
  assert.deepEqual(guids(published.doc!), ['ep-168', 'ep-169', 'ep-170']);
  const audio = await keysUnder(rig, 'audio');
  assert.equal(audio.length, 3);

  // Another machine (an empty local folder); the feed dropped its oldest item; every GET of the
  // bucket's manifest fails with a 500 for the whole run.
  await rm(rig.localRoot, { recursive: true, force: true });
  serveFeed(feed, ITEMS.slice(1, 3));
  const audioBefore = audioRequests(feed);
  rig.proxy!.configure({ faultRate: 1 });
  const failed = await rig.run([STEPS]);
  assert.equal(failed.code, 1, failed.stdout);
  assert.equal(audioRequests(feed), audioBefore, 'no audio downloaded from the feed');
  assert.equal((await bucketManifest(rig)).text, published.text, "the bucket's manifest is untouched");
  assert.deepEqual(await keysUnder(rig, 'audio'), audio, 'no audio under a second key');
  const rss = failed.summary.sites[0]!.steps.find((s) => s.step === 'rss')!;
  assert.equal(rss.status, 'failed');
  assert.equal(rss.counts.episodesAdded, 0);
  const fault = failed.summary.errors.find((e) => e.subject === MANIFEST_KEY);
  assert.ok(fault, `the summary names the manifest: ${JSON.stringify(failed.summary.errors)}`);
  assert.equal(fault.step, 'pre-sync');
  assert.equal(fault.code, 'InternalError');
  assert.match(fault.message, /cannot download the bucket's episode-manifest\/full-episode-manifest\.json: .*no episode is added and the manifest is not uploaded/);
  assert.ok(rig.proxy!.faults.http500 >= 2, 'the GET was retried');

  // The S3 hiccup is over: the dropped episode stays, nothing is downloaded twice.
  rig.proxy!.configure({ faultRate: 0 });
  const healed = await rig.run([STEPS]);
  assert.equal(healed.code, 0, healed.stdout);
  const local = await localManifest(rig);
  assert.deepEqual(guids(local), ['ep-168', 'ep-169', 'ep-170'], 'the episode the feed dropped is still there');
  assertNoDuplicates(local, 'local');
  assert.equal((await bucketManifest(rig)).text, published.text, 'nothing to publish: the bucket already had it all');
  assert.deepEqual(await keysUnder(rig, 'audio'), audio);
  assert.deepEqual((await readdir(path.join(rig.siteDir, 'audio', PODCAST))).sort(), audio.map((k) => path.basename(k)));
  assert.equal(audioRequests(feed), audioBefore);
  assert.doesNotMatch(healed.stdout, /WARN/, 'a clean night warns about nothing');
});

test('empty objects stored by a frozen server never replace good local copies; the good copies go back up', async (t) => {
  const feed = await startFeedServer(t);
  serveFeed(feed, ITEMS.slice(0, 2));
  const damaged = (r: { method: string; url: string }) => r.method === 'PUT' && (r.url.includes(MANIFEST_KEY) || r.url.includes('/transcripts/'));
  const rig = await syncRig(t, { siteId: 'alpha', podcasts: podcasts(feed), proxy: { eligible: damaged, kinds: ['empty-put'], faultRate: 0 } });
  assert.equal((await rig.run([STEPS])).code, 0);

  // This night brings an episode and a transcript; the server stores every PUT of them empty.
  serveFeed(feed, ITEMS.slice(0, 3));
  const [firstKey] = (await localManifest(rig)).episodes.map((e) => e.fileKey);
  const transcriptKey = `transcripts/${PODCAST}/${firstKey}.srt`;
  const transcript = '1\n00:00:00,000 --> 00:00:02,000\nHello from a real transcript.\n';
  await rig.writeLocal(transcriptKey, transcript);
  rig.proxy!.configure({ faultRate: 1 });
  const frozen = await rig.run([STEPS]);
  assert.equal(frozen.code, 1, frozen.stdout);
  const bucket = await rig.bucketFiles();
  assert.equal(bucket.get(MANIFEST_KEY), md5(''), 'precondition: the server stored an empty manifest');
  assert.equal(bucket.get(transcriptKey), md5(''), 'precondition: and an empty transcript');
  const goodManifest = await readFile(path.join(rig.siteDir, MANIFEST_KEY), 'utf8');
  assert.equal(JSON.parse(goodManifest).episodes.length, 3);

  rig.proxy!.configure({ faultRate: 0 });
  const next = await rig.run([STEPS]);
  assert.equal(await readFile(path.join(rig.siteDir, MANIFEST_KEY), 'utf8'), goodManifest, 'the local manifest was never replaced');
  assert.equal(await readFile(path.join(rig.siteDir, transcriptKey), 'utf8'), transcript, 'the local transcript was never replaced');
  assert.equal(next.code, 1, 'the damaged manifest in the bucket is reported');
  assert.match(next.stdout, /ERROR \[alpha\] \[pre-sync\] the bucket's copy of the manifest is damaged \(empty \(0 bytes\)\); kept the local copy, which upload puts back/);
  assert.ok(next.summary.errors.some((e) => e.subject === MANIFEST_KEY && e.step === 'pre-sync'), 'named in the summary');
  assert.match(next.stdout, new RegExp(`${transcriptKey.replace(/[./]/g, '\\$&')}: the bucket's copy is empty .*: local wins`));
  const after = await rig.bucketFiles();
  assert.equal(after.get(MANIFEST_KEY), md5(goodManifest), 'the good manifest is back in the bucket');
  assert.equal(after.get(transcriptKey), md5(transcript), 'the good transcript is back in the bucket');

  const before = rig.s3.requests.length;
  const calm = await rig.run([STEPS]);
  assert.equal(calm.code, 0, calm.stdout);
  assert.deepEqual(rig.objectRequests(before), [], 'the next night transfers nothing');
});

test('a bucket that lost its manifest: the existing audio and transcripts are adopted, nothing is downloaded again', async (t) => {
  const feed = await startFeedServer(t);
  serveFeed(feed, ITEMS.slice(0, 3));
  const rig = await syncRig(t, { siteId: 'gamma', podcasts: podcasts(feed) });
  assert.equal((await rig.run([STEPS])).code, 0);
  const original = await localManifest(rig);
  for (const e of original.episodes) await rig.writeLocal(`transcripts/${PODCAST}/${e.fileKey}.srt`, `1\n00:00:00,000 --> 00:00:01,000\n${e.title}\n`);
  assert.equal((await rig.run([STEPS])).code, 0);

  // The manifest is gone from the bucket, and this machine's folder is new; an unknown orphan sits beside.
  await rig.client.send(new DeleteObjectCommand({ Bucket: rig.bucket, Key: MANIFEST_KEY }));
  await rig.client.send(new PutObjectCommand({ Bucket: rig.bucket, Key: `transcripts/${PODCAST}/2023-05-05_Unknown_Episode--1700000000000.srt`, Body: 'x' }));
  await rm(rig.localRoot, { recursive: true, force: true });
  const audioBefore = audioRequests(feed);
  const rebuilt = await rig.run([STEPS]);
  assert.equal(rebuilt.code, 0, rebuilt.stdout);
  assert.equal(audioRequests(feed), audioBefore, 'no audio downloaded again');
  const rss = rebuilt.summary.sites[0]!.steps.find((s) => s.step === 'rss')!;
  assert.equal(rss.counts.episodesAdded, 3);
  assert.equal(rss.counts.episodesAdopted, 3);
  const manifest = (await bucketManifest(rig)).doc!;
  assert.deepEqual(
    manifest.episodes.map((e) => [e.guid, e.fileKey]),
    original.episodes.map((e) => [e.guid, e.fileKey]),
    'the rebuilt manifest names the existing files',
  );
  assert.equal((await keysUnder(rig, 'audio')).length, 3);
  assert.match(rebuilt.stdout, /WARN .*\[rss\] 1 episode file key on disk or in the bucket belongs? to no manifest episode and match(es)? no feed item: replyall\/2023-05-05_Unknown_Episode--1700000000000/);
});

test('a night with a new episode is a routine update: no conflict warning for the manifest or the feed snapshot', async (t) => {
  const feed = await startFeedServer(t);
  serveFeed(feed, ITEMS.slice(0, 2));
  const rig = await syncRig(t, { siteId: 'delta', podcasts: podcasts(feed) });
  assert.equal((await rig.run([STEPS])).code, 0);
  serveFeed(feed, ITEMS.slice(0, 3));
  const night = await rig.run([STEPS]);
  assert.equal(night.code, 0, night.stdout);
  assert.doesNotMatch(night.stdout, /WARN|conflict \(/, night.stdout);
  const upload = night.summary.sites[0]!.steps.find((s) => s.step === 'upload')!;
  assert.deepEqual(Object.keys(upload.counts.uploaded as object).sort(), ['audio', 'episode-manifest', 'rss']);
  assert.deepEqual(guids((await bucketManifest(rig)).doc!), ['ep-168', 'ep-169', 'ep-170']);
});

test('two machines update one site at once: the one that writes second merges, neither loses the other\'s episodes', async (t) => {
  const root = await tempDir(t, 'two-machines-');
  const s3 = await startLocalS3({ dir: path.join(root, 's3'), buckets: ['twin-browse-dot-show'], recordRequests: true });
  t.after(() => s3.stop());
  const feedA = await startFeedServer(t);
  const feedB = await startFeedServer(t);
  serveFeed(feedA, ITEMS.slice(0, 2));
  // Machine B holds its manifest PUT until machine A has published (a deterministic race).
  let releaseB!: () => void;
  const bReleased = new Promise<void>((resolve) => (releaseB = resolve));
  let bWaiting!: () => void;
  const bAtPut = new Promise<void>((resolve) => (bWaiting = resolve));
  let holding = false;
  const a = await syncRig(t, { siteId: 'twin', s3, podcasts: podcasts(feedA) });
  const b = await syncRig(t, {
    siteId: 'twin',
    s3,
    podcasts: podcasts(feedB),
    proxy: {
      hold: (r) => {
        if (!holding || r.method !== 'PUT' || !r.url.includes(MANIFEST_KEY)) return undefined;
        holding = false;
        bWaiting();
        return bReleased;
      },
    },
  });
  assert.equal((await a.run([STEPS])).code, 0);
  // Both machines start from the same two episodes; then each feed has one more of its own.
  serveFeed(feedB, ITEMS.slice(0, 2));
  assert.equal((await b.run([STEPS])).code, 0);
  serveFeed(feedA, [...ITEMS.slice(0, 2), ITEMS[2]!]);
  serveFeed(feedB, [...ITEMS.slice(0, 2), ITEMS[3]!]);
  holding = true;
  const runB = b.run([STEPS]);
  await bAtPut;
  const runA = await a.run([STEPS]);
  assert.equal(runA.code, 0, runA.stdout);
  releaseB();
  const resultB = await runB;
  assert.equal(resultB.code, 0, resultB.stdout);
  const final = (await bucketManifest(a)).doc!;
  assert.deepEqual(guids(final), ['ep-168', 'ep-169', 'ep-170', 'ep-171'], 'every episode of both machines');
  assert.match(resultB.stdout, /changed in the bucket while publishing \(another machine\): merging again/);
  assertNoDuplicates(final, 'bucket');
  assert.deepEqual(final.episodes.map((e) => e.sequentialId), [1, 2, 3, 4]);
  // Machine A learns B's episode on its next run; both copies and the bucket then agree.
  const again = await a.run([STEPS]);
  assert.equal(again.code, 0, again.stdout);
  assert.deepEqual(guids(await localManifest(a)), guids(final));
  assert.equal(md5(await readFile(path.join(a.siteDir, MANIFEST_KEY))), md5(await readFile(path.join(b.siteDir, MANIFEST_KEY))));
});

test('backups: each rewrite of the local manifest keeps the previous version (the last few), outside the synced folders', async (t) => {
  const feed = await startFeedServer(t);
  const rig = await syncRig(t, { siteId: 'bkp', podcasts: podcasts(feed) });
  for (let n = 1; n <= 4; n++) {
    serveFeed(feed, ITEMS.slice(0, n));
    assert.equal((await rig.run([STEPS])).code, 0);
  }
  const dir = path.join(rig.localRoot, '.backups', 'bkp', 'episode-manifest');
  const names = (await readdir(dir)).sort();
  assert.equal(names.length, 3, `one backup per rewrite after the first: ${names}`);
  const counts = await Promise.all(names.map(async (n) => (JSON.parse(await readFile(path.join(dir, n), 'utf8')) as ManifestDoc).episodes.length));
  assert.deepEqual(counts, [1, 2, 3]);
  assert.ok(![...(await rig.bucketFiles()).keys()].some((k) => k.includes('.backups') || k.includes('full-episode-manifest.2')), 'backups are never synced');

  // Both copies damaged and no good one anywhere but the backups: the newest backup comes back.
  await writeFile(path.join(rig.siteDir, MANIFEST_KEY), '{"episodes": [');
  await rig.client.send(new PutObjectCommand({ Bucket: rig.bucket, Key: MANIFEST_KEY, Body: '' }));
  await mkdir(dir, { recursive: true });
  const restored = await rig.run(['--only=pre-sync']);
  assert.equal(restored.code, 1);
  assert.match(restored.stdout, /no copy of the manifest parses: restored the backup full-episode-manifest\.\d{8}T\d{9}Z\.json/);
  assert.equal((await localManifest(rig)).episodes.length, 3);
});
