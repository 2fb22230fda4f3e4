// Upload verification against a bucket with server-side encryption. With SSE-KMS (and
// DSSE-KMS, SSE-C) S3's ETag is not the content's MD5, so uploads must rest on what the
// server checked itself (Content-MD5 for PutObject, the signed SHA-256 of each part for
// multipart); with no such encryption a wrong ETag is still a failed upload. The bucket is
// s3rver behind a real HTTP proxy (test/helpers/sse-proxy.ts) that answers as S3 does for
// an encrypted bucket.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS } from '../tasks/demo/local/s3-server.ts';
import { silentLogger } from '../tasks/platform/log.ts';
import { HashCache, hashCachePath } from '../tasks/engines/sync/hash-cache.ts';
import { MULTIPART_THRESHOLD, PART_SIZE, uploadFile } from '../tasks/engines/sync/object-upload.ts';
import type { S3Key } from '../tasks/platform/types.ts';
import { siteConfig, writeSite } from './helpers/sites.ts';
import { kmsStyleEtag, startSseProxy, type SseProxyOptions } from './helpers/sse-proxy.ts';
import { bytes, md5, sameFiles, syncRig, type SyncRig } from './helpers/sync-rig.ts';

const KMS = { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:us-east-1:111111111111:key/test' };
const BIG = MULTIPART_THRESHOLD + PART_SIZE / 2; // three parts: 8 MiB, 8 MiB, 4 MiB

/** A sync rig whose bucket is reached through the SSE proxy (the site's endpoint points at it). */
async function sseRig(t: TestContext, options: Omit<SseProxyOptions, 'target'>) {
  const rig = await syncRig(t);
  const proxy = await startSseProxy({ ...options, target: rig.s3.endpoint });
  t.after(() => proxy.stop());
  await writeSite(rig.sitesRoot, siteConfig(rig.siteId, { endpoint: proxy.endpoint }));
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: proxy.endpoint,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
  t.after(() => client.destroy());
  return { rig, proxy, client };
}

/** uploadFile for one local file of the rig, through `client`. */
async function upload(rig: SyncRig, client: S3Client, key: string, body: Buffer) {
  await rig.writeLocal(key, body);
  const file = path.join(rig.siteDir, key);
  const info = await stat(file);
  return uploadFile({
    s3: client,
    partsClient: () => client,
    bucket: rig.bucket,
    file: { key: key as S3Key, path: file, size: info.size, modified: info.mtime, mtimeMs: info.mtimeMs },
    signal: new AbortController().signal,
    log: silentLogger,
  });
}

test('SSE-KMS bucket: a run uploads small and multipart files, records the bucket\'s ETags, and the next run has nothing to do', async (t) => {
  const { rig, proxy } = await sseRig(t, { headers: KMS });
  const files: Record<string, Buffer | string> = {
    'transcripts/p/ep-1.srt': '1\n00:00:00,000 --> 00:00:01,000\nhello\n',
    'search-entries/p/ep-1.json': '[]',
    'audio/p/ep-1.mp3': bytes(300_000, 1),
    'audio/p/ep-2.mp3': bytes(BIG, 2), // multipart
  };
  for (const [key, body] of Object.entries(files)) await rig.writeLocal(key, body);

  const r = await rig.run();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const up = r.summary.sites[0]!.steps.find((s) => s.step === 'upload')!;
  assert.equal(up.status, 'ok', JSON.stringify(up));
  assert.match(r.stdout, /\[upload\] ok: uploaded 4 files/);

  // What is in the bucket (read from s3rver directly, bypassing the proxy) is what was sent.
  assert.deepEqual(sameFiles(await rig.localFiles(), await rig.bucketFiles()), { onlyLocal: [], onlyBucket: [], different: [] });
  // Every write was answered as an SSE-KMS bucket answers: the proxy rewrote each one.
  assert.equal(proxy.etags.size, 4);
  // The cache as the next run reads it: this exact local version, with its MD5 and the bucket's ETag.
  const cache = await HashCache.load(hashCachePath(rig.localRoot, rig.siteId));
  const entryOf = async (key: string) => {
    const info = await stat(path.join(rig.siteDir, key));
    return cache.lookup(key, info.size, info.mtimeMs);
  };
  for (const [key, body] of Object.entries(files)) {
    const entry = await entryOf(key);
    assert.equal(entry?.md5, md5(body), `${key}: local MD5 cached`);
    assert.equal(entry?.etag, proxy.etags.get(md5(body)), `${key}: the bucket's (non-MD5) ETag cached for this version`);
    assert.notEqual(entry?.etag, md5(body));
  }
  assert.match((await entryOf('audio/p/ep-2.mp3'))!.etag!, /^[0-9a-f]{32}-3$/);

  // The multipart check under KMS rests on the SDK signing each part with its SHA-256
  // (which S3 verifies): every UploadPart carried the digest of exactly its bytes.
  const big = files['audio/p/ep-2.mp3'] as Buffer;
  const partRequests = proxy.requests.filter((q) => q.method === 'PUT' && q.url.includes('ep-2.mp3') && q.url.includes('partNumber='));
  assert.equal(partRequests.length, 3);
  for (const q of partRequests) {
    const n = Number(new URL(q.url, 'http://x').searchParams.get('partNumber'));
    const part = big.subarray((n - 1) * PART_SIZE, n * PART_SIZE);
    assert.equal(q.headers['x-amz-content-sha256'], createHash('sha256').update(part).digest('hex'), `part ${n} signed with its SHA-256`);
    assert.equal(q.headers['content-md5'], undefined, 'lib-storage sends no Content-MD5 per part');
  }

  // The listing now shows the KMS ETags; the cache recognises them: nothing to upload again.
  const before = proxy.requests.length;
  const again = await rig.run();
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.summary.sites[0]!.steps.find((s) => s.step === 'upload')!.status, 'up-to-date');
  const objectRequests = proxy.requests.slice(before).filter((q) => !/[?&]list-type=2/.test(q.url));
  assert.deepEqual(objectRequests.map((q) => `${q.method} ${q.url}`), [], 'no object written or read again');
});

test('SSE-KMS, DSSE-KMS and SSE-C answers: PutObject is accepted on Content-MD5 and returns the server\'s ETag', async (t) => {
  const cases: [string, Record<string, string>][] = [
    ['aws:kms', KMS],
    ['aws:kms:dsse', { 'x-amz-server-side-encryption': 'aws:kms:dsse' }],
    ['SSE-C', { 'x-amz-server-side-encryption-customer-algorithm': 'AES256', 'x-amz-server-side-encryption-customer-key-md5': 'bm90IGEgcmVhbCBrZXk=' }],
  ];
  for (const [name, headers] of cases) {
    await t.test(name, async (t) => {
      const { rig, proxy, client } = await sseRig(t, { headers });
      const body = bytes(50_000, 3);
      const result = await upload(rig, client, 'audio/p/small.mp3', body);
      assert.equal(result.md5, md5(body));
      assert.equal(result.etag, kmsStyleEtag(md5(body), undefined), 'the ETag as the server gave it');
      assert.equal(result.multipart, false);
      const puts = proxy.requests.filter((q) => q.method === 'PUT');
      assert.equal(puts.length, 1, 'accepted at the first attempt');
      assert.equal(puts[0]!.headers['content-md5'], createHash('md5').update(body).digest('base64'), 'sent with Content-MD5');
      assert.equal((await rig.bucketFiles()).get('audio/p/small.mp3'), md5(body), 'the bucket holds the content');
    });
  }
});

test('no KMS or SSE-C in the answer: an ETag that is not the MD5 still fails the upload (plain and SSE-S3)', async (t) => {
  // Both at once: each is retried (a VerificationError is worth another attempt) before failing.
  await Promise.all(
    ([{}, { 'x-amz-server-side-encryption': 'AES256' }] as Record<string, string>[]).map(async (headers) => {
      const { rig, proxy, client } = await sseRig(t, { headers });
      const body = bytes(40_000, 4);
      await assert.rejects(upload(rig, client, 'audio/p/small.mp3', body), (e: Error) => {
        assert.equal(e.name, 'VerificationError');
        assert.match(e.message, new RegExp(`audio/p/small\\.mp3: the bucket's ETag ${kmsStyleEtag(md5(body), undefined)} is not the local MD5 ${md5(body)}`));
        return true;
      });
      assert.ok(proxy.requests.filter((q) => q.method === 'PUT').length > 1, 'retried before giving up');
    }),
  );
});

test('SSE-KMS multipart: an ETag counting other parts than were sent fails the upload; the right count passes', async (t) => {
  const wrong = await sseRig(t, { headers: KMS, etag: (real, parts) => kmsStyleEtag(real, parts === undefined ? undefined : parts + 1) });
  const body = bytes(BIG, 5);
  await assert.rejects(upload(wrong.rig, wrong.client, 'audio/p/big.mp3', body), (e: Error) => {
    assert.equal(e.name, 'VerificationError');
    assert.match(e.message, /audio\/p\/big\.mp3: the bucket's ETag [0-9a-f]{32}-4 counts 4 parts, 3 were sent/);
    return true;
  });

  const right = await sseRig(t, { headers: KMS });
  const result = await upload(right.rig, right.client, 'audio/p/big.mp3', body);
  assert.equal(result.multipart, true);
  assert.equal(result.md5, md5(body));
  assert.match(result.etag, /^[0-9a-f]{32}-3$/);
  assert.equal(result.etag, right.proxy.etags.get(md5(body)));
  assert.equal((await right.rig.bucketFiles()).get('audio/p/big.mp3'), md5(body));
});
