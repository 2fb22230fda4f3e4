// The sync engine end to end: the real CLI against a real S3 server (s3rver), issue 3's
// tests 1-3 and 6 plus the failure modes: no bucket, a file that cannot be written, dry run,
// and the read-only consistency command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { runCli } from './helpers/cli.ts';
import { siteConfig, writeSite } from './helpers/sites.ts';
import { bytes, md5, sameFiles, syncRig, type Summary } from './helpers/sync-rig.ts';
import { fileDigests } from './helpers/data.ts';

const MB = 1024 * 1024;

function step(summary: Summary, name: string, site = 'alpha') {
  const found = summary.sites.find((s) => s.site === site)?.steps.find((s) => s.step === name);
  assert.ok(found, `no ${name} step for ${site}`);
  return found;
}

const SYNCED = {
  'audio/p/2024-07-25_Ep_One--1721921400000.mp3': bytes(300_000, 1),
  'audio/p/2020-01-01_legacy-title.mp3': bytes(20_000, 2),
  'transcripts/p/2024-07-25_Ep_One--1721921400000.srt': '1\n00:00:00,000 --> 00:00:01,000\nhello\n',
  'search-entries/p/2024-07-25_Ep_One--1721921400000.json': '[]',
  'search-index/index.msp': bytes(5_000, 3),
  'episode-manifest/full-episode-manifest.json': '{ "episodes": [] }\n',
  'rss/feed.xml': '<rss/>',
};
const IGNORED = {
  'audio/p/': '',
  'audio/p/.DS_Store': 'junk',
  'transcripts/p/x.srt.partial': 'half',
  'transcripts/p/.x.srt.123-ab.partial': 'half',
  'rss/feed.xml.tmp': 'tmp',
  'other/readme.txt': 'not a synced folder',
};

test('1. clean slate: an empty local folder gets every object; nothing is uploaded; mtimes are LastModified', async (t) => {
  const rig = await syncRig(t);
  for (const [key, body] of Object.entries({ ...SYNCED, ...IGNORED })) await rig.put(key, body);
  const before = rig.s3.requests.length;
  const r = await rig.run();
  assert.equal(r.code, 0, r.stdout + r.stderr);

  const local = await rig.localFiles();
  assert.deepEqual([...local.keys()].sort(), Object.keys(SYNCED).sort(), 'synced keys only: no dot-files, partials or markers');
  for (const [key, body] of Object.entries(SYNCED)) assert.equal(local.get(key), md5(body), key);
  const requests = rig.objectRequests(before);
  assert.equal(requests.filter((q) => q.method === 'GET').length, Object.keys(SYNCED).length, 'one GET per synced object');
  assert.equal(requests.filter((q) => q.method !== 'GET').length, 0, 'nothing uploaded');

  const listing = await rig.client.send(new ListObjectsV2Command({ Bucket: rig.bucket }));
  for (const object of listing.Contents ?? []) {
    if (!(object.Key! in SYNCED)) continue;
    const info = await stat(path.join(rig.siteDir, object.Key!));
    assert.equal(Math.floor(info.mtimeMs / 1000), Math.floor(object.LastModified!.getTime() / 1000), `${object.Key} mtime`);
  }
  const pre = step(r.summary, 'pre-sync');
  assert.equal(pre.status, 'ok');
  assert.deepEqual(pre.counts.downloaded, {
    audio: { files: 2, bytes: 320_000 },
    transcripts: { files: 1, bytes: Buffer.byteLength(SYNCED['transcripts/p/2024-07-25_Ep_One--1721921400000.srt']) },
    'search-entries': { files: 1, bytes: 2 },
    'search-index': { files: 1, bytes: 5_000 },
    'episode-manifest': { files: 1, bytes: Buffer.byteLength(SYNCED['episode-manifest/full-episode-manifest.json']) },
    rss: { files: 1, bytes: 6 },
  });
  assert.equal(step(r.summary, 'consistency').status, 'up-to-date');
  assert.equal(step(r.summary, 'upload').status, 'up-to-date');
  assert.match(r.stdout, /\[alpha\] \[pre-sync\] ok: downloaded 7 files/);
});

test('2. local backlog: every synced file goes up, multipart included, with its content type and backlog counts', async (t) => {
  const rig = await syncRig(t);
  const big = bytes(20 * MB, 7); // above the multipart threshold
  const files: Record<string, string | Buffer> = { ...SYNCED, 'audio/p/2024-08-01_Big--1722470400000.mp3': big };
  for (const [key, body] of Object.entries(files)) await rig.writeLocal(key, body);
  for (const [key, body] of Object.entries(IGNORED)) if (!key.endsWith('/')) await rig.writeLocal(key, body);
  const before = rig.s3.requests.length;
  const r = await rig.run();
  assert.equal(r.code, 0, r.stdout + r.stderr);

  const bucket = await rig.bucketFiles();
  assert.deepEqual([...bucket.keys()].sort(), Object.keys(files).sort(), 'ignored files stay local');
  for (const [key, body] of Object.entries(files)) assert.equal(bucket.get(key), md5(body), key);
  const requests = rig.objectRequests(before);
  assert.ok(requests.some((q) => q.method === 'POST' && q.url.includes('uploads')), 'the big file went multipart');
  assert.equal(requests.filter((q) => q.method === 'GET').length, 0, 'nothing downloaded');
  const head = await rig.client.send(new HeadObjectCommand({ Bucket: rig.bucket, Key: 'audio/p/2024-08-01_Big--1722470400000.mp3' }));
  assert.equal(head.ContentType, 'audio/mpeg');
  const srt = await rig.client.send(new HeadObjectCommand({ Bucket: rig.bucket, Key: 'transcripts/p/2024-07-25_Ep_One--1721921400000.srt' }));
  assert.equal(srt.ContentType, 'application/x-subrip');

  const up = step(r.summary, 'upload');
  assert.equal(up.status, 'ok');
  const uploaded = up.counts.uploaded as Record<string, { files: number; bytes: number; backlogFiles: number }>;
  assert.deepEqual(uploaded.audio, { files: 3, bytes: 320_000 + 20 * MB, backlogFiles: 3 });
  assert.deepEqual(Object.keys(uploaded).sort(), ['audio', 'episode-manifest', 'rss', 'search-entries', 'search-index', 'transcripts']);
  assert.equal(Object.values(uploaded).reduce((n, c) => n + c.backlogFiles, 0), 8, 'nothing was made by this run: all backlog');
  assert.match(r.stdout, /\[alpha\] \[upload\] ok: uploaded 8 files \(20 MB, 8 from earlier runs\)/);
});

test('3. mixed: differences both ways and conflicts of every kind are resolved newer-wins and reported', async (t) => {
  const rig = await syncRig(t);
  const old = new Date('2020-01-01T00:00:00Z');
  const future = new Date(Date.now() + 120_000);
  const bucketSide: Record<string, string> = {
    'audio/p/only-bucket.mp3': 'bucket audio',
    'rss/feed.xml': '<rss>same</rss>',
    'search-index/index.msp': 'bucket index', // size conflict, bucket newer
    'search-entries/p/a.json': '[1]', // size conflict, local newer
    'transcripts/p/a.srt': 'HELLO WORLD', // same size, bucket newer
    'transcripts/p/d.srt': 'xyz uvw', // same size, local newer
  };
  for (const [key, body] of Object.entries(bucketSide)) await rig.put(key, body);
  await rig.writeLocal('transcripts/p/only-local.srt', 'local transcript');
  await rig.writeLocal('rss/feed.xml', '<rss>same</rss>');
  await rig.writeLocal('search-index/index.msp', 'old', old);
  await rig.writeLocal('search-entries/p/a.json', '[1, 2, 3]', future);
  await rig.writeLocal('transcripts/p/a.srt', 'hello world', old);
  await rig.writeLocal('transcripts/p/d.srt', 'abc def', future);

  // The report before any run: read-only, every difference with its reason.
  const before = rig.s3.requests.length;
  const report = await runCli(['consistency', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`, '--json'], { env: rig.env });
  assert.equal(report.code, 0, report.stderr);
  const json = JSON.parse(report.stdout).sites[0];
  assert.deepEqual(json.localOnly.map((f: { key: string }) => f.key), ['transcripts/p/only-local.srt']);
  assert.deepEqual(json.s3Only.map((f: { key: string }) => f.key), ['audio/p/only-bucket.mp3']);
  assert.deepEqual(json.consistent, ['rss/feed.xml']);
  assert.deepEqual(
    json.conflicts.map((c: { key: string; reason: string; newer: string }) => [c.key, c.reason, c.newer]),
    [
      ['search-entries/p/a.json', 'size', 'local'],
      ['search-index/index.msp', 'size', 'bucket'],
      ['transcripts/p/a.srt', 'checksum', 'bucket'],
      ['transcripts/p/d.srt', 'checksum', 'local'],
    ],
  );
  assert.deepEqual(json.folders.transcripts, { localOnly: 1, s3Only: 0, consistent: 0, conflicts: 2 });
  const table = await runCli(['consistency', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`, '--verbose'], { env: rig.env });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^alpha\s+transcripts\s+1\s+0\s+0\s+2\s*$/m);
  assert.match(table.stdout, /conflict\s+transcripts\/p\/a\.srt\s+\(same size, MD5 .*bucket newer\)/);
  assert.equal(rig.objectRequests(before).length, 0, 'the report transfers nothing');

  // A dry run plans the same transfers and changes nothing.
  const dry = await rig.run(['--dry-run']);
  assert.equal(dry.code, 0, dry.stdout);
  assert.match(dry.stdout, /would download s3:\/\/alpha-browse-dot-show\/transcripts\/p\/a\.srt \(conflict \(no record of the last sync; same size, MD5/);
  assert.match(dry.stdout, /would upload s3:\/\/alpha-browse-dot-show\/transcripts\/p\/only-local\.srt \(missing in the bucket\)/);
  assert.equal(rig.objectRequests(before).length, 0, 'the dry run transfers nothing');

  const r = await rig.run();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const local = await rig.localFiles();
  const bucket = await rig.bucketFiles();
  assert.deepEqual(sameFiles(local, bucket), { onlyLocal: [], onlyBucket: [], different: [] });
  assert.equal(local.get('search-index/index.msp'), md5('bucket index'), 'bucket newer: downloaded');
  assert.equal(local.get('transcripts/p/a.srt'), md5('HELLO WORLD'), 'same-size change, bucket newer: downloaded');
  assert.equal(bucket.get('search-entries/p/a.json'), md5('[1, 2, 3]'), 'local newer: uploaded');
  assert.equal(bucket.get('transcripts/p/d.srt'), md5('abc def'), 'same-size change, local newer: uploaded');
  // Every conflict is reported once, with its reason, what was kept and where the other copy went.
  const escape = (text: string) => text.replace(/[./()]/g, '\\$&');
  const resolved = (step: string, key: string, why: string, side: 'local' | 'bucket') =>
    new RegExp(
      `WARN .*\\[${step}\\] ${escape(key)}: conflict \\(no record of the last sync; ${why}\\): ${side === 'local' ? 'bucket' : 'local'} wins; ` +
        `the ${side === 'local' ? 'local' : "bucket's"} copy is kept as \\.conflicts/alpha/${escape(key)}\\.${side}-\\d{8}T\\d{9}Z`,
    );
  assert.match(r.stdout, resolved('pre-sync', 'search-index/index.msp', 'size .*bucket newer', 'local'));
  assert.match(r.stdout, resolved('pre-sync', 'transcripts/p/a.srt', 'same size, MD5 .*bucket newer', 'local'));
  assert.match(r.stdout, resolved('upload', 'search-entries/p/a.json', 'size .*local newer', 'bucket'));
  assert.match(r.stdout, resolved('upload', 'transcripts/p/d.srt', 'same size, MD5 .*local newer', 'bucket'));
  assert.equal(r.stdout.match(/WARN .*conflict/g)?.length, 4, 'each conflict once');
  const conflicts = await fileDigests(path.join(rig.localRoot, '.conflicts', 'alpha'));
  assert.deepEqual([...conflicts.values()].sort(), [md5('hello world'), md5('old'), md5('[1]'), md5('xyz uvw')].sort(), 'the losing copies, byte for byte');
  assert.equal(step(r.summary, 'consistency').counts.conflicts, 2, 'after pre-sync, the two local-newer conflicts remain for upload');
  assert.deepEqual(step(r.summary, 'pre-sync').counts.downloaded, {
    audio: { files: 1, bytes: 12 },
    'search-index': { files: 1, bytes: 12 },
    transcripts: { files: 1, bytes: 11 },
  });
  assert.deepEqual(step(r.summary, 'upload').counts.uploaded, {
    'search-entries': { files: 1, bytes: 9, backlogFiles: 1 },
    transcripts: { files: 2, bytes: 23, backlogFiles: 2 },
  });

  const after = await runCli(['consistency', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`, '--json'], { env: rig.env });
  const clean = JSON.parse(after.stdout).sites[0];
  assert.equal(clean.consistent.length, 7);
  assert.equal(clean.conflicts.length + clean.localOnly.length + clean.s3Only.length, 0);
});

test('6. idempotence: a second run sends zero GET and zero PUT, with or without the hash cache', async (t) => {
  const rig = await syncRig(t);
  await rig.put('audio/p/from-bucket.mp3', bytes(17 * MB, 11));
  await rig.put('transcripts/p/from-bucket.srt', 'bucket');
  await rig.writeLocal('audio/p/from-local.mp3', bytes(18 * MB, 12)); // multipart upload
  await rig.writeLocal('transcripts/p/from-local.srt', 'local');
  const first = await rig.run();
  assert.equal(first.code, 0, first.stdout + first.stderr);

  for (const label of ['with the hash cache', 'after deleting the hash cache']) {
    const before = rig.s3.requests.length;
    const again = await rig.run();
    assert.equal(again.code, 0, again.stdout);
    const listings = rig.s3.requests.slice(before).filter((q) => q.url.includes('list-type=2'));
    assert.deepEqual(rig.objectRequests(before), [], `${label}: no object request at all`);
    assert.equal(listings.length, 6, `${label}: one listing per synced folder, taken once for the run`);
    for (const name of ['pre-sync', 'consistency', 'upload']) assert.equal(step(again.summary, name).status, 'up-to-date', `${label}: ${name}`);
    await rm(path.join(rig.localRoot, '.cache'), { recursive: true, force: true });
  }
});

test('a bucket that cannot be listed fails its site fatally with the AWS code; other sites go on', async (t) => {
  const rig = await syncRig(t);
  await rig.put('rss/feed.xml', '<rss/>');
  await writeSite(rig.sitesRoot, siteConfig('broken', { endpoint: rig.s3.endpoint, bucket: 'no-such-bucket' }));
  await writeSite(rig.sitesRoot, siteConfig('down', { endpoint: 'http://127.0.0.1:9' }));
  const r = await rig.run();
  assert.equal(r.code, 1);
  const pre = step(r.summary, 'pre-sync', 'broken');
  assert.equal(pre.status, 'failed');
  assert.match(pre.message, /cannot list bucket no-such-bucket: .*NoSuchBucket/);
  for (const name of ['consistency', 'upload']) {
    assert.equal(step(r.summary, name, 'broken').status, 'skipped');
    assert.match(step(r.summary, name, 'broken').message, /needs pre-sync/);
  }
  assert.match(step(r.summary, 'pre-sync', 'down').message, /ECONNREFUSED/);
  assert.equal(step(r.summary, 'pre-sync').status, 'ok', 'the healthy site synced');
  assert.ok(r.summary.errors.some((e) => e.site === 'broken' && e.code === 'NoSuchBucket' && e.subject === 's3://no-such-bucket'));

  const report = await runCli(['consistency', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`], { env: rig.env });
  assert.equal(report.code, 1);
  assert.match(report.stderr, /site "broken": cannot list bucket no-such-bucket: .*NoSuchBucket/);
  assert.match(report.stdout, /^alpha\s+rss\s+0\s+0\s+1\s+0\s*$/m);
  const unknown = await runCli(['consistency', `--sites-root=${rig.sitesRoot}`, '--sites=nope'], { env: rig.env });
  assert.equal(unknown.code, 2);
});

test('a file that cannot be written fails alone: one error, the others are downloaded and uploads still run', async (t) => {
  const rig = await syncRig(t);
  // "transcripts/p/x" cannot be both a file and a folder on disk.
  await rig.put('transcripts/p/x', 'a file');
  await rig.put('transcripts/p/x/y.srt', 'under it');
  await rig.put('rss/feed.xml', '<rss/>');
  await rig.writeLocal('audio/p/new.mp3', 'new audio');
  const r = await rig.run();
  assert.equal(r.code, 1);
  const pre = step(r.summary, 'pre-sync');
  assert.equal(pre.status, 'failed');
  assert.equal(pre.errors.length, 1, JSON.stringify(pre.errors));
  assert.match(pre.message, /downloaded 2 files .*; 1 failed/);
  assert.equal(step(r.summary, 'upload').status, 'ok', 'a per-file failure is not fatal');
  assert.ok((await rig.bucketFiles()).has('audio/p/new.mp3'));
  assert.ok((await rig.localFiles()).has('rss/feed.xml'));
});

test('a local folder that cannot be scanned fails its own site; the other sites finish and the summary is printed', async (t) => {
  const rig = await syncRig(t);
  await rig.put('rss/feed.xml', '<rss/>');
  await writeSite(rig.sitesRoot, siteConfig('unreadable', { endpoint: rig.s3.endpoint, bucket: rig.bucket }));
  // A plain file where the audio folder should be: the scan fails (ENOTDIR) while the bucket is being listed.
  await mkdir(path.join(rig.localRoot, 'sites', 'unreadable'), { recursive: true });
  await writeFile(path.join(rig.localRoot, 'sites', 'unreadable', 'audio'), 'not a folder');
  // What a killed run left beside it still goes: the failed scan falls back to sweeping what it can read.
  const leftover = path.join(rig.localRoot, 'sites', 'unreadable', 'transcripts', 'p', '.ep.srt.2147483646-abc1230.partial');
  await mkdir(path.dirname(leftover), { recursive: true });
  await writeFile(leftover, 'half');
  const r = await rig.run();
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.equal(step(r.summary, 'pre-sync', 'unreadable').status, 'failed');
  assert.match(step(r.summary, 'pre-sync', 'unreadable').message, /ENOTDIR/);
  await assert.rejects(stat(leftover), { code: 'ENOENT' }, 'the partial file of a killed run was removed');
  assert.match(r.stdout, /\[unreadable\] \[pre-sync\] removed 1 partial files left by an interrupted run/);
  assert.equal(step(r.summary, 'pre-sync').status, 'ok', 'the healthy site synced');
  assert.match(r.stdout, /\[all\] \[summary\] run .* failed in/);
});

test('partial files a killed run left in the site folders: pre-sync finds them in its scan and removes them before anything is written; a dry run and the read-only consistency command keep them', async (t) => {
  const rig = await syncRig(t);
  await rig.writeLocal('audio/p/ep.mp3', bytes(20_000, 1));
  // A download and a manifest rewrite of a run killed by SIGKILL (their writer's pid is long gone).
  const leftovers = ['audio/p/.ep-2.mp3.2147483646-abc1230.partial', 'episode-manifest/.full-episode-manifest.json.2147483646-abc1231.partial'];
  for (const key of leftovers) await rig.writeLocal(key, 'half written');
  const present = async () => (await Promise.all(leftovers.map((key) => stat(path.join(rig.siteDir, key)).then(() => key, () => undefined)))).filter(Boolean);

  const dry = await rig.run(['--dry-run']);
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  const consistency = await runCli(['consistency', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`], { env: rig.env });
  assert.equal(consistency.code, 0, consistency.stdout + consistency.stderr);
  assert.deepEqual(await present(), leftovers, 'a dry run and consistency remove nothing');

  const r = await rig.run();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(await present(), [], 'both removed');
  assert.match(r.stdout, /\[alpha\] \[pre-sync\] removed 2 partial files left by an interrupted run/);
  assert.ok(!(await rig.bucketFiles()).has('audio/p/.ep-2.mp3.2147483646-abc1230.partial'), 'never uploaded');
});
