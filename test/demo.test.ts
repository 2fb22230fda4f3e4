// The README's first command, end to end: the demo runs the whole pipeline against its embedded
// services, and a second run changes nothing at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { freePort } from './helpers/net.ts';

interface Summary {
  exitCode: number;
  sites: { site: string; status: string; steps: { step: string; status: string; counts: Record<string, unknown> }[] }[];
  errors: unknown[];
}

/**
 * path -> "size mtimeMs" for every file under `root`, except the runs' own records (`.runs/`:
 * each run adds its history line and log by design; the data is what must not change).
 */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    if (path.relative(root, full).split(path.sep)[0] === '.runs') continue;
    const s = await stat(full);
    files.set(path.relative(root, full), `${s.size} ${s.mtimeMs}`);
  }
  return files;
}

test('demo: first run ingests, transcribes, uploads and indexes; second run does nothing', { timeout: 600_000 }, async (t) => {
  const cwd = await tempDir(t, 'ingest-demo-');
  const env = { DEMO_FEED_PORT: String(await freePort()) };
  const first = await runCli(['demo', '--renderer=plain', '--summary-json=first.json'], { cwd, env, timeoutMs: 500_000 });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const one = JSON.parse(await readFile(path.join(cwd, 'first.json'), 'utf8')) as Summary;
  const steps = Object.fromEntries(one.sites[0]!.steps.map((s) => [s.step, s]));
  assert.equal(steps.rss!.counts.episodesAdded, 2);
  assert.equal(steps.transcribe!.counts.transcriptsMade, 2);
  assert.equal(steps.index!.counts.invocations, 1);
  const localSite = path.join(cwd, '.demo/local/sites/demo');
  const localFiles = [...(await snapshot(localSite)).keys()].sort();
  assert.ok(localFiles.some((f) => /^transcripts\/demo-speeches\/1961-01-20_Ask_Not_an_inaugural_address_excerpt--\d{13}\.srt$/.test(f)), localFiles.join('\n'));
  assert.ok(localFiles.some((f) => f.startsWith('search-entries/demo-speeches/')), 'the indexer output came back down');
  assert.match(first.stdout, /Demo files:/);

  const localBefore = await snapshot(path.join(cwd, '.demo/local'));
  const bucketBefore = await snapshot(path.join(cwd, '.demo/s3-data'));
  const second = await runCli(['demo', '--renderer=plain', '--summary-json=second.json'], { cwd, env, timeoutMs: 300_000 });
  assert.equal(second.code, 0, second.stdout + second.stderr);
  const two = JSON.parse(await readFile(path.join(cwd, 'second.json'), 'utf8')) as Summary;
  for (const s of two.sites[0]!.steps) assert.ok(['up-to-date', 'skipped'].includes(s.status), `${s.step} is ${s.status} on the second run`);
  assert.deepEqual(await snapshot(path.join(cwd, '.demo/local')), localBefore, 'no local file written');
  assert.deepEqual(await snapshot(path.join(cwd, '.demo/s3-data')), bucketBefore, 'no object written');

  // --dry-run with work on both sides: it says what it would do and does none of it.
  const transcript = localFiles.find((f) => f.startsWith('transcripts/'))!;
  const audio = localFiles.find((f) => f.startsWith('audio/'))!;
  await rm(path.join(localSite, transcript));
  // s3rver keeps an object as three files beside each other.
  for (const suffix of ['._S3rver_object', '._S3rver_metadata.json', '._S3rver_object.md5']) {
    await rm(path.join(cwd, '.demo/s3-data/demo-browse-dot-show', `${audio}${suffix}`));
  }
  const localDry = await snapshot(path.join(cwd, '.demo/local'));
  const bucketDry = await snapshot(path.join(cwd, '.demo/s3-data'));
  const dry = await runCli(['demo', '--renderer=plain', '--dry-run'], { cwd, env, timeoutMs: 300_000 });
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, new RegExp(`would download s3://demo-browse-dot-show/${transcript.replace(/[.]/g, '\\.')} \\(missing locally\\)`));
  assert.match(dry.stdout, new RegExp(`would upload s3://demo-browse-dot-show/${audio.replace(/[.]/g, '\\.')} \\(missing in the bucket\\)`));
  assert.deepEqual(await snapshot(path.join(cwd, '.demo/local')), localDry, 'dry run wrote no local file');
  assert.deepEqual(await snapshot(path.join(cwd, '.demo/s3-data')), bucketDry, 'dry run wrote no object');
});
