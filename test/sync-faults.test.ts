// Issue 3's tests 4 and 5: a misbehaving network between the runner and the bucket, and
// the runner killed with SIGKILL mid-download and mid-upload. Both must end with the two
// sides identical and no partial file anywhere. Plus: memory stays flat for 100 MB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import type { StoredFile } from '../tasks/steps/contract.ts';
import { silentLogger } from '../tasks/platform/log.ts';
import type { S3Key } from '../tasks/platform/types.ts';
import { downloadObject } from '../tasks/engines/sync/object-download.ts';
import { uploadFile } from '../tasks/engines/sync/object-upload.ts';
import { ALL_FAULTS } from './helpers/fault-proxy.ts';
import { bytes, md5, sameFiles, syncRig } from './helpers/sync-rig.ts';
import { createSiteClients } from '../tasks/aws/clients.ts';
import type { SiteConfig } from '../tasks/site/site-config.ts';
import type { SiteId } from '../tasks/platform/types.ts';

const MB = 1024 * 1024;

/** Every file under `dir`, relative, dot-files included. */
async function allFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true, recursive: true });
    return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

test('4. faults: 500, 503, resets, stalls and cut-off bodies on a share of requests; the run completes, both sides identical', async (t) => {
  const rig = await syncRig(t, {
    // Every kind of fault once at the start, then one request in five at random.
    proxy: { faultRate: 0.2, seed: 7, firstFaults: [...ALL_FAULTS, ...ALL_FAULTS] },
    env: { INGEST_STALL_TIMEOUT_MS: '1500' },
  });
  for (let i = 0; i < 25; i++) await rig.put(`transcripts/p/remote-${i}.srt`, `remote transcript ${i}\n`.repeat(50 + i));
  await rig.put('audio/p/remote-big.mp3', bytes(9 * MB, 1));
  for (let i = 0; i < 25; i++) await rig.writeLocal(`search-entries/p/local-${i}.json`, JSON.stringify({ i, text: 'x'.repeat(2000 + i) }));
  await rig.writeLocal('audio/p/local-big.mp3', bytes(17 * MB, 2)); // multipart: several requests that can fail

  const r = await rig.run([], { timeoutMs: 150_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const faults = rig.proxy!.faults;
  t.diagnostic(`faults injected: ${JSON.stringify(faults)} over ${rig.proxy!.requests.length} requests`);
  for (const kind of ALL_FAULTS) assert.ok(faults[kind] >= 2, `fault ${kind} injected (${JSON.stringify(faults)})`);
  assert.ok(rig.proxy!.requests.filter((q) => q.fault).length >= 12, JSON.stringify(faults));
  const local = await rig.localFiles();
  const bucket = await rig.bucketFiles();
  assert.equal(local.size, 52);
  assert.deepEqual(sameFiles(local, bucket), { onlyLocal: [], onlyBucket: [], different: [] });
  assert.deepEqual((await allFiles(rig.localRoot)).filter((f) => f.endsWith('.partial')), []);
});

test('5. kill: SIGKILL mid-download and mid-upload, then a rerun converges with no partial file anywhere', async (t) => {
  const rig = await syncRig(t, { proxy: { bytesPerSecond: 8 * MB } });
  const remoteBig = bytes(30 * MB, 3);
  const localBig = bytes(30 * MB, 4);
  await rig.put('audio/p/remote-big.mp3', remoteBig);
  await rig.put('transcripts/p/remote.srt', 'remote');
  await rig.writeLocal('audio/p/local-big.mp3', localBig);
  await rig.writeLocal('transcripts/p/local.srt', 'local');

  const kill = async (running: ReturnType<typeof rig.start>) => {
    process.kill(-running.child.pid!, 'SIGKILL');
    const result = await running.result;
    assert.equal(result.signal, 'SIGKILL');
  };

  // Kill 1: while the big object is half-way into its temporary file.
  const first = rig.start();
  const partial = await waitFor(async () => {
    const files = await allFiles(rig.siteDir);
    const temp = files.find((f) => f.endsWith('.partial') && f.includes('remote-big.mp3'));
    if (!temp) return undefined;
    const size = (await stat(path.join(rig.siteDir, temp)).catch(() => undefined))?.size ?? 0;
    return size > 2 * MB ? temp : undefined;
  }, 60_000);
  await kill(first);
  assert.ok((await allFiles(rig.siteDir)).includes(partial), 'the kill left a partial download behind');
  assert.ok(!(await allFiles(rig.siteDir)).includes('audio/p/remote-big.mp3'), 'never under its final name');

  // Kill 2: while the big local file is being uploaded (a part is in flight).
  const second = rig.start();
  await waitFor(async () => [...rig.proxy!.active].some((q) => q.method === 'PUT' && q.url.includes('local-big.mp3') && q.url.includes('partNumber=')), 90_000);
  await sleep(300);
  await kill(second);
  assert.match(second.output(), /removed 1 partial files left by an interrupted run/);
  assert.ok(!(await rig.bucketFiles()).has('audio/p/local-big.mp3'), 'the killed upload left no object');

  // The rerun, at full speed: takes the dead run's lock over and converges.
  rig.proxy!.configure({ bytesPerSecond: 0 });
  const r = await rig.run();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /took over a stale lock/);
  const local = await rig.localFiles();
  const bucket = await rig.bucketFiles();
  assert.deepEqual(sameFiles(local, bucket), { onlyLocal: [], onlyBucket: [], different: [] });
  assert.equal(local.get('audio/p/remote-big.mp3'), md5(remoteBig));
  assert.equal(bucket.get('audio/p/local-big.mp3'), md5(localBig));
  assert.deepEqual([...local.keys()].sort(), ['audio/p/local-big.mp3', 'audio/p/remote-big.mp3', 'transcripts/p/local.srt', 'transcripts/p/remote.srt']);
  const leftovers = (await allFiles(rig.localRoot)).filter((f) => f.endsWith('.partial') || path.basename(f).startsWith('.') && !f.endsWith('hashes-alpha.json'));
  assert.deepEqual(leftovers, [], 'no partial or temporary file anywhere under the local root');
});

test('memory stays flat: a 100 MB object goes up (multipart) and comes down (streamed)', async (t) => {
  const rig = await syncRig(t);
  const dir = path.join(rig.root, 'mem');
  await mkdir(dir, { recursive: true });
  const source = path.join(dir, 'big.mp3');
  const out = createWriteStream(source);
  for (let i = 0; i < 100; i++) if (!out.write(bytes(MB, 100 + i))) await once(out, 'drain');
  out.end();
  await once(out, 'close');

  const site = {
    id: 'alpha' as SiteId,
    automation: { bucket: rig.bucket, region: 'us-east-1', endpoint: rig.s3.endpoint, indexingFunction: 'x' },
  } as SiteConfig;
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
  const s3 = createSiteClients(site, 'mem-test').s3();
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  t.after(() => clearInterval(sampler));
  const info = await stat(source);
  const file = { key: 'audio/p/big.mp3' as S3Key, path: source, size: info.size, modified: info.mtime, mtimeMs: info.mtimeMs };
  const signal = new AbortController().signal;
  const up = await uploadFile({ s3, bucket: rig.bucket, file, signal, log: silentLogger });
  assert.equal(up.multipart, true);
  t.diagnostic(`after upload: peak +${((peak - baseline) / MB).toFixed(1)} MB`);
  const object: StoredFile = { key: file.key, size: info.size, modified: new Date(), etag: up.etag };
  const down = await downloadObject({ s3, bucket: rig.bucket, object, destPath: path.join(dir, 'copy.mp3'), signal, log: silentLogger });
  clearInterval(sampler);
  assert.equal(down.md5, up.md5);
  assert.equal(down.size, 100 * MB);
  const grewMb = (peak - baseline) / MB;
  t.diagnostic(`resident memory grew by ${grewMb.toFixed(1)} MB`);
  assert.ok(grewMb < 75, `resident memory grew by ${grewMb.toFixed(0)} MB while moving 100 MB each way`);
  s3.destroy();
});

async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await sleep(50);
  }
  throw new Error(`condition not met within ${timeoutMs}ms`);
}
