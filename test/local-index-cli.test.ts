// Local indexing through the real CLI (`automation.indexing: "local"`, `--index=local`): a real
// S3 server whose requests are recorded, the local Lambda endpoint standing in for the site's
// search function, real transcripts, real build workers.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from '../tasks/demo/local/s3-server.ts';
import { startLocalLambda, type LambdaHandler } from '../tasks/demo/local/lambda-server.ts';
import { processGroupMembers, runCli, startCli } from './helpers/cli.ts';
import { fileDigests, md5 } from './helpers/data.ts';
import { FIXTURES } from './helpers/fixtures.ts';
import { writeSite } from './helpers/sites.ts';
import { tempDir } from './helpers/temp.ts';

const ENV = { AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };
const TRANSCRIPTS = ['virtualcoffee-s2e9.srt', 'virtualcoffee-s7e9.srt', 'podcastindex-example.srt', 'virtualcoffee-s1e0-trailer.srt'];
const INDEX_STEPS = '--only=pre-sync,upload,index';

interface Summary {
  exitCode: number;
  sites: { site: string; steps: { step: string; status: string; message: string; counts: Record<string, unknown>; actions: { kind: string; target: string }[] }[] }[];
}

async function rig(t: TestContext, sites: Record<string, Record<string, unknown>>, env: Record<string, string> = {}) {
  const root = await tempDir(t, 'local-index-');
  const buckets = Object.keys(sites).map((id) => `${id}-browse-dot-show`);
  const s3 = await startLocalS3({ dir: path.join(root, 's3'), buckets, recordRequests: true });
  t.after(() => s3.stop());
  const functions: Record<string, LambdaHandler> = Object.fromEntries(Object.keys(sites).map((id) => [`search-api-${id}`, async () => ({ reloaded: true })]));
  const lambda = await startLocalLambda({ functions });
  t.after(() => lambda.stop());
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  for (const [id, automation] of Object.entries(sites)) {
    await writeSite(sitesRoot, { id, includedPodcasts: [], automation: { bucket: `${id}-browse-dot-show`, region: 'us-east-1', endpoint: s3.endpoint, lambdaEndpoint: lambda.endpoint, ...automation } });
  }
  const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
  t.after(() => client.destroy());
  let runs = 0;
  const args = (extra: string[]) => {
    const summaryFile = path.join(root, `summary-${++runs}.json`);
    return { summaryFile, argv: ['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--renderer=plain', `--summary-json=${summaryFile}`, ...extra] };
  };
  return {
    root,
    s3,
    lambda,
    siteDir: (id: string) => path.join(localRoot, 'sites', id),
    async run(...extra: string[]) {
      const { summaryFile, argv } = args(extra);
      const result = await runCli(argv, { env: { ...ENV, ...env }, timeoutMs: 300_000 });
      const summary = JSON.parse(await readFile(summaryFile, 'utf8').catch(() => '{}')) as Summary;
      const step = (site: string) => summary.sites?.find((s) => s.site === site)?.steps.find((s) => s.step === 'index');
      return { ...result, summary, step };
    },
    start: (...extra: string[]) => startCli(args(extra).argv, { env: { ...ENV, ...env }, timeoutMs: 300_000 }),
    /** key -> md5 of every object under `prefix`. */
    async bucket(id: string, prefix = 'search-') {
      const out = new Map<string, string>();
      const listed = await client.send(new ListObjectsV2Command({ Bucket: `${id}-browse-dot-show`, Prefix: prefix }));
      for (const o of listed.Contents ?? []) out.set(o.Key!, o.ETag!.replace(/"/g, ''));
      return out;
    },
    /** Object writes recorded since `from`, as keys. */
    puts(from: number) {
      return s3.requests.slice(from).filter((r) => r.method === 'PUT' || r.method === 'POST').map((r) => decodeURIComponent(new URL(r.url, 'http://x').pathname.split('/').slice(2).join('/')));
    },
  };
}

const fileKey = (n: number) => `2024-01-${String(n).padStart(2, '0')}_Episode_${n}--17040000000${String(n).padStart(2, '0')}`;

/** Transcripts of episodes 1..n (the fixtures, in turn) and the manifest naming them. */
async function episodes(siteDir: string, n: number, from = 1): Promise<void> {
  await mkdir(path.join(siteDir, 'transcripts/pod'), { recursive: true });
  await mkdir(path.join(siteDir, 'episode-manifest'), { recursive: true });
  const manifestFile = path.join(siteDir, 'episode-manifest/full-episode-manifest.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8').catch(() => '{"lastUpdated":"","episodes":[]}'));
  for (let i = from; i <= n; i++) {
    await writeFile(path.join(siteDir, `transcripts/pod/${fileKey(i)}.srt`), await readFile(path.join(FIXTURES, 'srt', TRANSCRIPTS[(i - 1) % TRANSCRIPTS.length]!)));
    manifest.episodes.push({ sequentialId: i, podcastId: 'pod', title: `Episode ${i}`, fileKey: fileKey(i), publishedAt: new Date(Date.UTC(2024, 0, i)).toISOString(), downloadedAt: '2024-02-01T00:00:00.000Z' });
  }
  manifest.lastUpdated = new Date().toISOString();
  await writeFile(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
}

test('a first run builds, uploads and refreshes the search function; a run with nothing new does nothing; one new episode rebuilds one shard', async (t) => {
  // Small shards (20 KB of entries): the four transcripts make several. No single file: one shard per change.
  const r = await rig(t, { alpha: { indexing: 'local', singleIndexMaxEntries: 0 } }, { INGEST_INDEX_SHARD_BYTES: '20000' });
  await episodes(r.siteDir('alpha'), 4);

  const first = await r.run(INDEX_STEPS);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const built = first.step('alpha')!;
  assert.equal(built.status, 'ok', built.message);
  assert.match(built.message, /wrote 4 search-entry files \(\d+ entries\); built (\d+) of \1 shards \(\d+ entries in all, .* written\); uploaded \d+ files .*; invoked search-api-alpha asynchronously/);
  const shards = Number(/built (\d+) of/.exec(built.message)![1]);
  assert.ok(shards >= 3, built.message);
  assert.equal(built.counts.shardsRebuilt, shards);
  assert.ok((built.counts.searchEntries as number) > 100);
  assert.equal(built.counts.invocations, 1);
  await r.lambda.idle();
  assert.deepEqual(r.lambda.invocations.map((i) => [i.functionName, i.invocationType, i.payload]), [['search-api-alpha', 'Event', { forceFreshDBFileDownload: true }]]);
  const local = await fileDigests(r.siteDir('alpha'), { skipDotFiles: true });
  const inBucket = await r.bucket('alpha');
  for (const [key, digest] of inBucket) assert.equal(local.get(key), digest, key);
  assert.equal([...inBucket.keys()].filter((k) => k.startsWith('search-index/')).length, shards + 1, 'every shard and the manifest');
  assert.ok(!inBucket.has('search-index/orama_index.msp'), 'no single file above singleIndexMaxEntries');

  const quiet = r.s3.requests.length;
  const second = await r.run(INDEX_STEPS);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.equal(second.step('alpha')!.status, 'up-to-date');
  assert.match(second.step('alpha')!.message, /search index up to date/);
  assert.deepEqual(r.puts(quiet), [], 'nothing uploaded');
  assert.deepEqual(r.s3.requests.slice(quiet).filter((q) => q.method === 'GET' && !/list-type=2/.test(q.url)), [], 'nothing downloaded');
  assert.equal(r.lambda.invocations.length, 1, 'nothing invoked');

  // Episode 5: its transcript and the manifest go up with upload; index rebuilds the last shard only.
  await episodes(r.siteDir('alpha'), 5, 5);
  const before = r.s3.requests.length;
  const third = await r.run(INDEX_STEPS);
  assert.equal(third.code, 0, third.stdout + third.stderr);
  const step = third.step('alpha')!;
  assert.equal(step.counts.shardsRebuilt, 1, step.message);
  const manifest = JSON.parse(await readFile(path.join(r.siteDir('alpha'), 'search-index/shard-manifest.json'), 'utf8'));
  const last = manifest.shards.at(-1).indexPath;
  assert.deepEqual(
    r.puts(before).filter((k) => k.startsWith('search-')).sort(),
    [`search-entries/pod/${fileKey(5)}.json`, last, 'search-index/shard-manifest.json'].sort(),
  );
  assert.equal(r.puts(before).at(-1), 'search-index/shard-manifest.json', 'the manifest goes up last');
  await r.lambda.idle();
  assert.equal(r.lambda.invocations.length, 2);

  // An upload whose index step did not run leaves an invocation owed: the next run refreshes the
  // search function and rebuilds nothing, and the one after does nothing.
  await mkdir(path.join(r.siteDir('alpha'), 'audio/pod'), { recursive: true });
  await writeFile(path.join(r.siteDir('alpha'), `audio/pod/${fileKey(5)}.mp3`), 'not really audio');
  assert.equal((await r.run('--only=pre-sync,upload')).code, 0);
  const quieter = r.s3.requests.length;
  const owed = await r.run('--only=index');
  assert.equal(owed.code, 0, owed.stdout + owed.stderr);
  assert.match(owed.step('alpha')!.message, /search index up to date .*; invoked search-api-alpha asynchronously \(owed since /);
  assert.equal(owed.step('alpha')!.counts.shardsRebuilt, undefined);
  assert.deepEqual(r.puts(quieter), []);
  const settled = await r.run('--only=index');
  assert.equal(settled.step('alpha')!.status, 'up-to-date');
  await r.lambda.idle();
  assert.equal(r.lambda.invocations.length, 3);
});

test('a dry run plans what the real run then does; --index=local overrides the config; searchFunction null invokes nothing', async (t) => {
  const r = await rig(t, { alpha: { indexing: 'local' }, beta: { searchFunction: null } });
  await episodes(r.siteDir('alpha'), 3);
  await episodes(r.siteDir('beta'), 2);

  const dry = await r.run(INDEX_STEPS, '--index=local', '--dry-run');
  assert.equal(dry.code, 0, dry.stdout + dry.stderr);
  assert.deepEqual([...(await r.bucket('alpha')).keys()], [], 'the dry run uploaded nothing');
  assert.equal(r.lambda.invocations.length, 0);
  const planned = dry.step('alpha')!.actions.map((a) => `${a.kind} ${a.target}`).sort();
  assert.ok(planned.includes('invoke search-api-alpha'), planned.join('\n'));

  const real = await r.run(INDEX_STEPS, '--index=local');
  assert.equal(real.code, 0, real.stdout + real.stderr);
  assert.deepEqual(real.step('alpha')!.actions.map((a) => `${a.kind} ${a.target}`).sort(), planned, 'the real run did what the dry run planned');
  // Small site: one shard, and the single file the site's search function reads, the same bytes.
  const local = await fileDigests(path.join(r.siteDir('alpha'), 'search-index'));
  assert.deepEqual([...local.keys()].sort(), ['orama_index.msp', 'shard-1/orama_index.msp', 'shard-manifest.json']);
  assert.equal(local.get('orama_index.msp'), local.get('shard-1/orama_index.msp'));
  assert.equal((await r.bucket('alpha')).get('search-index/orama_index.msp'), local.get('orama_index.msp'));

  assert.match(real.step('beta')!.message, /no search function configured/);
  await r.lambda.idle();
  assert.deepEqual(r.lambda.invocations.map((i) => i.functionName), ['search-api-alpha']);

  // Without the flag beta indexes with its (absent) Lambda function again: nothing was uploaded, nothing to do.
  const next = await r.run(INDEX_STEPS);
  assert.equal(next.code, 0, next.stdout + next.stderr);
  assert.match(next.step('alpha')!.message, /search index up to date/);
  assert.match(next.step('beta')!.message, /nothing uploaded/);
});

/** About `count` search entries of made-up speech for one episode. */
function syntheticEntries(episode: number, count: number): string {
  let x = episode * 7919;
  const word = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return `w${(x >>> 8) % 20000}`;
  };
  const entries = Array.from({ length: count }, (_, i) => ({
    id: `${episode}_${i * 10_000}`,
    text: Array.from({ length: 25 }, word).join(' '),
    sequentialEpisodeIdAsString: String(episode),
    startTimeMs: i * 10_000,
    endTimeMs: i * 10_000 + 9_500,
    episodePublishedUnixTimestamp: Date.UTC(2024, 0, episode),
  }));
  return JSON.stringify(entries);
}

test('SIGKILL during the build leaves the previous index in place, locally and in the bucket; the next run builds it', async (t) => {
  const r = await rig(t, { alpha: { indexing: 'local' } });
  const dir = r.siteDir('alpha');
  await episodes(dir, 2);
  const first = await r.run(INDEX_STEPS);
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const localBefore = await fileDigests(path.join(dir, 'search-index'), { skipDotFiles: true });
  const bucketBefore = await r.bucket('alpha', 'search-index/');
  assert.equal(bucketBefore.size, 3);

  // Episode 3 arrives with 40,000 entries (a build of several seconds).
  await writeFile(path.join(dir, `search-entries/pod/${fileKey(3)}.json`), syntheticEntries(3, 40_000));
  await episodes(dir, 3, 3);
  const running = r.start('--only=index');
  await running.waitFor(/building the search index on this machine/, 60_000);
  const pgid = running.child.pid!;
  const isWorker = async (pid: number) => (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('build-worker.ts');
  const deadline = Date.now() + 30_000;
  let worker: number | undefined;
  while (worker === undefined && Date.now() < deadline) {
    for (const pid of await processGroupMembers(pgid)) if (await isWorker(pid)) worker = pid;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(worker, `a build worker ran:\n${running.output()}`);
  await new Promise((resolve) => setTimeout(resolve, 700));
  process.kill(-pgid, 'SIGKILL');
  const killed = await running.result;
  assert.equal(killed.signal, 'SIGKILL', killed.stdout);
  assert.doesNotMatch(killed.stdout, /\[index\] ok/, 'killed before the build finished');
  for (let i = 0; i < 50 && (await processGroupMembers(pgid)).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(await processGroupMembers(pgid), [], 'no worker outlives the run');

  assert.deepEqual(await fileDigests(path.join(dir, 'search-index'), { skipDotFiles: true }), localBefore, 'the previous index, locally');
  assert.deepEqual(await r.bucket('alpha', 'search-index/'), bucketBefore, 'the previous index, in the bucket');
  const single = await readFile(path.join(dir, 'search-index/orama_index.msp'));
  assert.equal(md5(single), localBefore.get('orama_index.msp'));

  const again = await r.run('--only=index');
  assert.equal(again.code, 0, again.stdout + again.stderr);
  const leftovers = [...(await fileDigests(path.join(dir, 'search-index'))).keys()].filter((k) => k.endsWith('.partial'));
  assert.deepEqual(leftovers, [], 'the killed build\'s temporaries are gone');
  assert.equal(again.step('alpha')!.status, 'ok', again.step('alpha')!.message);
  const manifest = JSON.parse(await readFile(path.join(dir, 'search-index/shard-manifest.json'), 'utf8'));
  assert.equal(manifest.totalEpisodes, 3);
  assert.ok(manifest.totalEntries > 40_000);
  assert.equal((await r.bucket('alpha', 'search-index/')).get('search-index/shard-manifest.json'), md5(await readFile(path.join(dir, 'search-index/shard-manifest.json'))));
  // Over singleIndexMaxEntries now: the single file stays as it was (the shards hold everything).
  assert.equal(md5(await readFile(path.join(dir, 'search-index/orama_index.msp'))), localBefore.get('orama_index.msp'));
});
