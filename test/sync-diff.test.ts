// The decision core of sync as tables: ignore rules, compareFile / needsTransfer (every
// outcome and its reason), the listing merge, the hash cache and content types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { StoredFile } from '../tasks/steps/contract.ts';
import type { S3Key } from '../tasks/platform/types.ts';
import { ignoreReason } from '../tasks/engines/sync/ignore.ts';
import { afterDownloads, compareFile, diffListings, needsHash, needsTransfer, planTransfers, countByFolder, type LocalFile } from '../tasks/engines/sync/diff.ts';
import { HashCache, md5File } from '../tasks/engines/sync/hash-cache.ts';
import { md5FromEtag, cleanEtag } from '../tasks/engines/sync/listing.ts';
import { contentTypeFor } from '../tasks/engines/sync/object-upload.ts';
import { scanLocal } from '../tasks/engines/sync/scan.ts';
import { errorCode, describeError } from '../tasks/aws/errors.ts';
import { isTransientError } from '../tasks/platform/retry.ts';
import { tempDir } from './helpers/temp.ts';

const FOLDERS = ['audio', 'transcripts', 'search-entries', 'search-index', 'episode-manifest', 'rss'];

test('ignore rules are the same for every key, local or bucket', () => {
  const table: [string, ReturnType<typeof ignoreReason>][] = [
    ['audio/p/2024-07-25_Title--1721921400000.mp3', undefined],
    ['transcripts/p/2020-01-01_legacy-title.srt', undefined],
    ['episode-manifest/full-episode-manifest.json', undefined],
    ['search-index/deep/nested/file.bin', undefined],
    ['audio/p/', 'directory-marker'],
    ['audio/', 'directory-marker'],
    ['audio/p/.DS_Store', 'dot-file'],
    ['audio/.hidden/x.mp3', 'dot-file'],
    ['audio/p/.x.mp3.1234-abcd.partial', 'dot-file'],
    ['audio/p/x.mp3.partial', 'temporary'],
    ['audio/p/x.mp3.tmp', 'temporary'],
    ['audio/p/x.mp3.part', 'temporary'],
    ['audio/p/x.mp3.download', 'temporary'],
    ['audio/../../etc/passwd', 'unsafe'],
    ['audio//x.mp3', 'unsafe'],
    ['/audio/x.mp3', 'unsafe'],
    ['audio/./x.mp3', 'unsafe'],
    ['audio/a\\b.mp3', 'unsafe'],
    ['audio/a\nb.mp3', 'unsafe'],
    ['other/x.mp3', 'outside-sync-folders'],
    ['audio', 'outside-sync-folders'],
    ['README.md', 'outside-sync-folders'],
  ];
  for (const [key, expected] of table) assert.equal(ignoreReason(key, FOLDERS), expected, JSON.stringify(key));
  assert.equal(ignoreReason('rss/feed.xml', ['audio']), 'outside-sync-folders', '--sync-folders narrows what is synced');
});

const T0 = new Date('2026-01-01T00:00:00.000Z');
const later = (s: number) => new Date(T0.getTime() + s * 1000);
const MD5_A = 'a'.repeat(32);
const MD5_B = 'b'.repeat(32);
function local(key: string, size: number, modified: Date, extra: Partial<LocalFile> = {}): LocalFile {
  return { key: key as S3Key, size, modified, mtimeMs: modified.getTime(), path: `/x/${key}`, ...extra };
}
function remote(key: string, size: number, modified: Date, etag?: string): StoredFile {
  return { key: key as S3Key, size, modified, etag, md5: md5FromEtag(etag) };
}

test('compareFile and needsTransfer: every case, with its reason', () => {
  const k = 'transcripts/p/a.srt';
  type Row = [string, LocalFile | undefined, StoredFile | undefined, string, string | undefined, boolean, boolean, RegExp];
  // name, local, remote, kind, conflict reason, downloads?, uploads?, reason pattern (download side)
  const rows: Row[] = [
    ['only local', local(k, 5, T0), undefined, 'local-only', undefined, false, true, /only local/],
    ['only in the bucket', undefined, remote(k, 5, T0, MD5_A), 's3-only', undefined, true, false, /missing locally/],
    ['same size and MD5', local(k, 5, T0, { md5: MD5_A }), remote(k, 5, later(9), MD5_A), 'consistent', undefined, false, false, /same size and MD5/],
    ['same size, unhashed, multipart ETag', local(k, 5, T0), remote(k, 5, T0, `${MD5_A}-3`), 'consistent', undefined, false, false, /same size\)/],
    ['ETag remembered for this version', local(k, 5, T0, { knownEtag: `${MD5_B}-2` }), remote(k, 5, T0, `${MD5_B}-2`), 'consistent', undefined, false, false, /same size and ETag/],
    ['size differs, bucket newer', local(k, 5, T0), remote(k, 6, later(60), MD5_A), 'conflict', 'size', true, false, /size 5 B locally, 6 B in the bucket; bucket newer\): bucket wins/],
    ['size differs, local newer', local(k, 5, later(60)), remote(k, 6, T0, MD5_A), 'conflict', 'size', false, true, /local newer\): local wins, left for upload/],
    ['same size, MD5 differs, bucket newer', local(k, 5, T0, { md5: MD5_B }), remote(k, 5, later(1), MD5_A), 'conflict', 'checksum', true, false, /same size, MD5 bbbbbbbb… locally, aaaaaaaa… in the bucket; bucket newer/],
    ['same size, MD5 differs, local newer', local(k, 5, later(2), { md5: MD5_B }), remote(k, 5, T0, MD5_A), 'conflict', 'checksum', false, true, /local newer/],
    ['same size, MD5 differs, same second: bucket wins', local(k, 5, new Date(T0.getTime() + 900), { md5: MD5_B }), remote(k, 5, T0, MD5_A), 'conflict', 'checksum', true, false, /same modification time/],
    ['multipart ETag changed since the last transfer', local(k, 5, T0, { knownEtag: `${MD5_A}-2` }), remote(k, 5, later(5), `${MD5_B}-2`), 'conflict', 'checksum', true, false, /ETag changed/],
  ];
  for (const [name, l, r, kind, reason, downloads, uploads, pattern] of rows) {
    const c = compareFile(l, r);
    assert.equal(c.kind, kind, name);
    if (c.kind === 'conflict') assert.equal(c.reason, reason, name);
    const down = needsTransfer(c, 'download');
    const up = needsTransfer(c, 'upload');
    assert.equal(down.transfer, downloads, `${name}: download`);
    assert.equal(up.transfer, uploads, `${name}: upload`);
    assert.match(down.reason, pattern, `${name}: ${down.reason}`);
    assert.ok(up.reason.length > 0);
  }
});

test('needsHash: only same-size pairs whose bucket ETag is an MD5 the cache cannot vouch for', () => {
  const k = 'audio/p/a.mp3';
  assert.equal(needsHash(local(k, 5, T0), remote(k, 5, T0, MD5_A)), true);
  assert.equal(needsHash(local(k, 5, T0), remote(k, 6, T0, MD5_A)), false, 'size already decides');
  assert.equal(needsHash(local(k, 5, T0, { md5: MD5_A }), remote(k, 5, T0, MD5_A)), false, 'cached');
  assert.equal(needsHash(local(k, 5, T0), remote(k, 5, T0, `${MD5_A}-2`)), false, 'multipart: hashing cannot help');
  assert.equal(needsHash(local(k, 5, T0, { knownEtag: MD5_A }), remote(k, 5, T0, MD5_A)), false, 'ETag remembered');
});

test('diffListings merges unsorted listings into four sorted sets; planTransfers picks each direction', () => {
  const localFiles = [
    local('transcripts/p/b.srt', 3, T0),
    local('audio/p/a.mp3', 10, T0, { md5: MD5_A }),
    local('rss/feed.xml', 7, later(100)),
    local('episode-manifest/full-episode-manifest.json', 9, T0),
  ];
  const remoteFiles = [
    remote('rss/feed.xml', 8, T0, MD5_B),
    remote('audio/p/a.mp3', 10, T0, MD5_A),
    remote('episode-manifest/full-episode-manifest.json', 11, later(100), MD5_B),
    remote('audio/p/z.mp3', 4, T0, MD5_B),
  ];
  const diff = diffListings(localFiles, remoteFiles);
  assert.deepEqual(diff.localOnly.map((f) => f.key), ['transcripts/p/b.srt']);
  assert.deepEqual(diff.s3Only.map((f) => f.key), ['audio/p/z.mp3']);
  assert.deepEqual(diff.consistent.map((f) => f.local.key), ['audio/p/a.mp3']);
  assert.deepEqual(diff.conflicts.map((c) => [c.key, c.reason, c.newer]), [
    ['episode-manifest/full-episode-manifest.json', 'size', 'bucket'],
    ['rss/feed.xml', 'size', 'local'],
  ]);
  // The manifest is merged (tasks/engines/manifest/manifest-sync.ts), never transferred as a file that wins.
  assert.deepEqual(planTransfers(diff, 'download').map((t) => t.key), ['audio/p/z.mp3']);
  assert.deepEqual(planTransfers(diff, 'upload').map((t) => [t.key, t.size]), [['rss/feed.xml', 7], ['transcripts/p/b.srt', 3]]);
  const byFolder = countByFolder(diff, FOLDERS);
  assert.deepEqual(byFolder.audio, { localOnly: 0, s3Only: 1, consistent: 1, conflicts: 0 });
  assert.deepEqual(byFolder['search-index'], { localOnly: 0, s3Only: 0, consistent: 0, conflicts: 0 });
});

test('ETags: plain MD5s are recognised, multipart ones are not', () => {
  assert.equal(cleanEtag('"ABCDEF0123456789ABCDEF0123456789"'), 'abcdef0123456789abcdef0123456789');
  assert.equal(md5FromEtag(cleanEtag('"abcdef0123456789abcdef0123456789"')), 'abcdef0123456789abcdef0123456789');
  assert.equal(md5FromEtag('abcdef0123456789abcdef0123456789-12'), undefined);
  assert.equal(md5FromEtag(undefined), undefined);
});

test('content types by extension', () => {
  assert.equal(contentTypeFor('audio/p/a.mp3'), 'audio/mpeg');
  assert.equal(contentTypeFor('transcripts/p/a.srt'), 'application/x-subrip');
  assert.equal(contentTypeFor('search-entries/p/a.JSON'), 'application/json');
  assert.equal(contentTypeFor('rss/feed.xml'), 'application/xml');
  assert.equal(contentTypeFor('search-index/x.bin'), 'application/octet-stream');
});

test('AWS error codes are carried into messages', () => {
  const noBucket = Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } });
  assert.equal(errorCode(noBucket), 'NoSuchBucket');
  assert.equal(describeError(noBucket), 'The specified bucket does not exist (NoSuchBucket)');
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  assert.equal(describeError(refused), 'connect ECONNREFUSED 127.0.0.1:9');
  assert.equal(errorCode(refused), 'ECONNREFUSED');
  const unknown = Object.assign(new Error('UnknownError'), { name: 'Unknown', $metadata: { httpStatusCode: 503 } });
  assert.equal(describeError(unknown), 'request failed (HTTP 503)');
});

test('hash cache: keyed by key, size and mtime; saved atomically; unknown versions are misses', async (t) => {
  const dir = await tempDir(t);
  const siteDir = path.join(dir, 'sites', 'alpha');
  await mkdir(path.join(siteDir, 'audio', 'p'), { recursive: true });
  await writeFile(path.join(siteDir, 'audio', 'p', 'a.mp3'), 'hello');
  await writeFile(path.join(siteDir, 'audio', 'p', '.a.mp3.99-x.partial'), 'half');
  await writeFile(path.join(siteDir, 'audio', 'p', '.DS_Store'), 'x');
  const cacheFile = path.join(dir, '.cache', 'hashes-alpha.json');
  const cache = await HashCache.load(cacheFile);
  const [scanned] = await scanLocal(siteDir, FOLDERS, cache);
  assert.ok(scanned);
  assert.equal(scanned.key, 'audio/p/a.mp3', 'dot-files and partial files are not scanned');
  assert.equal(scanned.md5, undefined);
  const md5 = await md5File(scanned.path);
  assert.equal(md5, '5d41402abc4b2a76b9719d911017c592');
  cache.remember(scanned.key, { size: scanned.size, mtimeMs: scanned.mtimeMs, md5, etag: 'e-1' });
  await cache.save();
  assert.deepEqual(await readdir(path.dirname(cacheFile)), ['hashes-alpha.json'], 'no temporary left behind');
  const reloaded = await HashCache.load(cacheFile);
  const [again] = await scanLocal(siteDir, FOLDERS, reloaded);
  assert.equal(again!.md5, md5);
  assert.equal(again!.knownEtag, 'e-1');
  assert.equal(reloaded.lookup(scanned.key, scanned.size + 1, scanned.mtimeMs), undefined, 'another size is another version');
  assert.equal(reloaded.lookup(scanned.key, scanned.size, scanned.mtimeMs + 1), undefined, 'another mtime is another version');
  // A copy left by a killed process goes; one a live process (the consistency command beside a run) is writing stays.
  const dead = path.join(path.dirname(cacheFile), '.hashes-alpha.json.2147483646-dead0.partial');
  const live = path.join(path.dirname(cacheFile), `.hashes-alpha.json.${process.pid}-live0.partial`);
  await writeFile(dead, '{');
  await writeFile(live, '{');
  await HashCache.load(cacheFile);
  assert.deepEqual((await readdir(path.dirname(cacheFile))).sort(), [path.basename(live), 'hashes-alpha.json'].sort());
  // A damaged cache is an empty one, never an error.
  await writeFile(cacheFile, '{ not json');
  assert.equal((await HashCache.load(cacheFile)).size, 0);
  assert.match(await readFile(cacheFile, 'utf8'), /not json/);
});

test('hash cache: a version 1 cache still answers (nothing is hashed again) and is rewritten as version 2 rows', async (t) => {
  const dir = await tempDir(t);
  const cacheFile = path.join(dir, '.cache', 'hashes-alpha.json');
  await mkdir(path.dirname(cacheFile), { recursive: true });
  const md5 = '5d41402abc4b2a76b9719d911017c592';
  const v1 = {
    schema: 'podcast-ingest/hash-cache@1',
    files: {
      'audio/p/same.mp3': { size: 5, mtimeMs: 1000.5, md5, etag: md5 },
      'audio/p/multipart.mp3': { size: 9, mtimeMs: 2000, md5, etag: '0123456789abcdef0123456789abcdef-3' },
      'audio/p/hashed-only.mp3': { size: 7, mtimeMs: 3000, md5 },
      'audio/p/etag-only.mp3': { size: 8, mtimeMs: 4000, etag: 'e-4' },
    },
  };
  await writeFile(cacheFile, JSON.stringify(v1));
  const expected = Object.entries(v1.files);
  const answers = (cache: HashCache) => expected.map(([key, e]) => cache.lookup(key, e.size, e.mtimeMs));
  const loaded = await HashCache.load(cacheFile);
  assert.deepEqual(answers(loaded), expected.map(([, e]) => e));
  await loaded.save();
  const onDisk = JSON.parse(await readFile(cacheFile, 'utf8')) as { schema: string; files: unknown[] };
  assert.equal(onDisk.schema, 'podcast-ingest/hash-cache@2');
  assert.equal(onDisk.files.length, 4);
  assert.ok(onDisk.files.every(Array.isArray), 'one row per file');
  // The same answers from version 2, field for field (an ETag equal to the MD5 is stored once).
  assert.deepEqual(answers(await HashCache.load(cacheFile)), expected.map(([, e]) => e));
  assert.equal((await HashCache.load(cacheFile)).lastEtag('audio/p/hashed-only.mp3'), undefined);
  // Damaged rows (valid JSON all the same) are left out, never trusted, and never stop a run.
  const good = ['audio/p/good.mp3', 5, 1000, md5, 1];
  await writeFile(cacheFile, JSON.stringify({ schema: 'podcast-ingest/hash-cache@2', files: [[null, 5, 1000, md5, 1], [123, 5, 1000, md5, 1], 'junk', ['audio/p/no-size.mp3', '5', 1000, md5, 1], good] }));
  const damaged = await HashCache.load(cacheFile);
  assert.equal(damaged.size, 1);
  assert.deepEqual(damaged.lookup('audio/p/good.mp3', 5, 1000), { size: 5, mtimeMs: 1000, md5, etag: md5 });
  damaged.retainOnly(new Set(['audio/p/good.mp3']), ['audio']);
  assert.equal(damaged.size, 1);
});

test('after pre-sync: downloaded keys become consistent, failed ones keep their place, local-wins conflicts stay', () => {
  const diff = diffListings(
    [local('audio/p/conflict-bucket.mp3', 5, T0), local('audio/p/conflict-local.mp3', 5, later(10)), local('audio/p/only-local.mp3', 1, T0)],
    [remote('audio/p/conflict-bucket.mp3', 6, later(5)), remote('audio/p/conflict-local.mp3', 6, T0), remote('audio/p/fetched.mp3', 2, T0), remote('audio/p/failed.mp3', 3, T0)],
  );
  const written = (key: string, size: number) => local(key, size, T0, { md5: MD5_A });
  const after = afterDownloads(diff, new Map([
    ['audio/p/fetched.mp3', written('audio/p/fetched.mp3', 2)],
    ['audio/p/conflict-bucket.mp3', written('audio/p/conflict-bucket.mp3', 6)],
  ]));
  assert.deepEqual(after.consistent.map((c) => [c.local.key, c.local.size, c.remote.size]), [
    ['audio/p/conflict-bucket.mp3', 6, 6],
    ['audio/p/fetched.mp3', 2, 2],
  ]);
  assert.deepEqual(after.s3Only.map((f) => f.key), ['audio/p/failed.mp3']);
  assert.deepEqual(after.conflicts.map((c) => c.key), ['audio/p/conflict-local.mp3']);
  assert.deepEqual(after.localOnly.map((f) => f.key), ['audio/p/only-local.mp3']);
  assert.deepEqual(planTransfers(after, 'upload').map((t) => t.key), ['audio/p/conflict-local.mp3', 'audio/p/only-local.mp3']);
  assert.deepEqual(planTransfers(after, 'download').map((t) => t.key), ['audio/p/failed.mp3']);
});

test('retry policy: throttling, 5xx, resets and a corrected clock skew are retried; refusals are not', () => {
  const sdkError = (name: string, status: number, extra: object = {}) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status, ...extra } });
  assert.equal(isTransientError(sdkError('SlowDown', 503)), true);
  assert.equal(isTransientError(sdkError('InternalError', 500)), true);
  assert.equal(isTransientError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), true);
  // The SDK corrected its clock offset from the server's Date: the next attempt is signed right.
  assert.equal(isTransientError(sdkError('RequestTimeTooSkewed', 403, { clockSkewCorrected: true })), true);
  assert.equal(isTransientError(sdkError('RequestTimeTooSkewed', 403)), false);
  assert.equal(isTransientError(sdkError('AccessDenied', 403)), false);
  assert.equal(isTransientError(sdkError('NoSuchBucket', 404)), false);
});
