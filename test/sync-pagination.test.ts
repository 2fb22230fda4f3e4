// Issue 3's test 7: a folder with more than 2,500 keys (three listing pages) goes up
// through the runner, and comes back down into an empty folder, every key accounted for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mapPool } from '../tasks/platform/limiter.ts';
import { sameFiles, syncRig } from './helpers/sync-rig.ts';

const KEYS = 2_510;

test('7. pagination: 2,510 keys in one folder go up and come back down, listed page by page', async (t) => {
  const rig = await syncRig(t);
  const names = Array.from({ length: KEYS }, (_, i) => `transcripts/p/2024-01-01_Episode_${String(i).padStart(4, '0')}--1704067200000.srt`);
  const dir = path.join(rig.siteDir, 'transcripts', 'p');
  await mkdir(dir, { recursive: true });
  await mapPool(names, 32, (key, i) => writeFile(path.join(rig.siteDir, key), `1\n00:00:00,000 --> 00:00:01,000\ncue ${i}\n`));

  const up = await rig.run([], { timeoutMs: 200_000 });
  assert.equal(up.code, 0, up.stdout.slice(-3000));
  for (const line of up.stdout.split('\n').filter((l) => /summary:(upload|pre-sync)/.test(l))) t.diagnostic(line);
  assert.match(up.stdout, new RegExp(`\\[upload\\] ok: uploaded ${KEYS} files`));
  assert.equal((await rig.bucketFiles()).size, KEYS);

  await rm(path.join(rig.siteDir, 'transcripts'), { recursive: true });
  const before = rig.s3.requests.length;
  const down = await rig.run([], { timeoutMs: 200_000 });
  assert.equal(down.code, 0, down.stdout.slice(-3000));
  for (const line of down.stdout.split('\n').filter((l) => /summary:(upload|pre-sync)/.test(l))) t.diagnostic(line);
  const pages = rig.s3.requests.slice(before).filter((q) => q.url.includes('list-type=2') && q.url.includes('prefix=transcripts'));
  assert.equal(pages.length, 3, 'three pages of at most 1,000 keys, listed once for the run');
  assert.equal(pages.filter((q) => q.url.includes('continuation-token=')).length, 2);
  assert.match(down.stdout, new RegExp(`\\[pre-sync\\] ok: downloaded ${KEYS} files`));
  const local = await rig.localFiles();
  assert.equal(local.size, KEYS);
  assert.deepEqual(sameFiles(local, await rig.bucketFiles()), { onlyLocal: [], onlyBucket: [], different: [] });
});
