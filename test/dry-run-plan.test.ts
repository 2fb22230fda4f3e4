// Plans as data: a dry run on a fresh machine carries what it would do forward (episodes rss
// would add are transcribed, files they make are uploaded, the upload triggers the invocation)
// and its plan equals, file for file, what the real run then does. Both come from the summary
// JSON, where every step lists its actions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { freePort } from './helpers/net.ts';

interface Summary {
  dryRun: boolean;
  sites: { site: string; steps: { step: string; status: string; actions: { kind: string; target: string; reason: string }[] }[] }[];
}

/** step -> its actions as "kind target", file keys normalised for their download time. */
function plan(summary: Summary): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const step of summary.sites[0]!.steps) {
    // What the indexer writes cannot be known before it runs: only the invocation is compared.
    const actions = step.step === 'index' ? step.actions.filter((a) => a.kind === 'invoke') : step.actions;
    out[step.step] = actions.map((a) => `${a.kind} ${a.target.replace(/--\d{13}/g, '--<ms>')}`).sort();
  }
  return out;
}

test('a dry run on a fresh machine plans exactly what the real run then does', { timeout: 600_000 }, async (t) => {
  const cwd = await tempDir(t, 'ingest-plan-');
  const env = { DEMO_FEED_PORT: String(await freePort()) };
  const dry = await runCli(['demo', '--dry-run', '--renderer=plain', '--summary-json=dry.json'], { cwd, env, timeoutMs: 300_000 });
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  // The dry run changed nothing: no local file, no object.
  const local = await readdir(path.join(cwd, '.demo/local')).catch(() => [] as string[]);
  assert.deepEqual(local.filter((n) => n !== '.cache'), [], 'nothing written locally');

  const real = await runCli(['demo', '--renderer=plain', '--summary-json=real.json'], { cwd, env, timeoutMs: 500_000 });
  assert.equal(real.code, 0, real.stdout + real.stderr);
  const planned = plan(JSON.parse(await readFile(path.join(cwd, 'dry.json'), 'utf8')) as Summary);
  const done = plan(JSON.parse(await readFile(path.join(cwd, 'real.json'), 'utf8')) as Summary);

  // What a fresh machine does: two episodes found, downloaded, transcribed, uploaded, indexed.
  assert.equal(planned.rss!.filter((a) => a.startsWith('add-episode ')).length, 2);
  assert.equal(planned.rss!.filter((a) => a.startsWith('download audio/')).length, 2);
  assert.equal(planned.transcribe!.length, 2);
  assert.deepEqual(
    planned.upload!.map((a) => a.replace(/^upload s3:\/\/[^/]+\//, '').replace(/\/[^/]+$/, '/…')),
    ['audio/demo-speeches/…', 'audio/demo-speeches/…', 'episode-manifest/…', 'rss/…', 'transcripts/demo-speeches/…', 'transcripts/demo-speeches/…'],
  );
  assert.deepEqual(planned.index, ['invoke srt-indexing-demo']);
  // And the real run did exactly that, step by step.
  assert.deepEqual(done, planned);
  // The dry run's lines say what would be done, per site and step.
  assert.match(dry.stdout, /INFO {2}\[demo\] \[transcribe\] would transcribe transcripts\/demo-speeches\/.*\.srt \(audio\/demo-speeches\/.*\.mp3 has no transcript\)/);
  assert.match(dry.stdout, /INFO {2}\[demo\] \[index\] would invoke srt-indexing-demo/);
});
