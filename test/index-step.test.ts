// The index step through the real CLI: a local S3-compatible server, the local Lambda endpoint
// running the real indexer, sites without roles (environment credentials, as in the demo).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startLocalS3, LOCAL_S3_CREDENTIALS } from '../tasks/demo/local/s3-server.ts';
import { startLocalLambda, type LambdaHandler } from '../tasks/demo/local/lambda-server.ts';
import { createIndexerHandler } from '../tasks/engines/indexer/indexer.ts';
import { buildPayload, MAX_KEYS_BYTES } from '../tasks/steps/indexing.ts';
import { tempDir } from './helpers/temp.ts';
import { writeSite, siteConfig } from './helpers/sites.ts';
import { runCli } from './helpers/cli.ts';
import { FIXTURES } from './helpers/fixtures.ts';

const SPEECH = path.join(FIXTURES, 'srt/pysrt-speech-bom-utf8.srt');
const FILE_KEY = '2024-07-25_Simple_Episode_Title--1721921400000';
const ENV = { AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };

/** A site's local mirror holding one transcript and the manifest that names it. */
async function localFiles(localRoot: string, site: string) {
  const dir = path.join(localRoot, 'sites', site);
  await mkdir(path.join(dir, 'transcripts/pod'), { recursive: true });
  await mkdir(path.join(dir, 'episode-manifest'), { recursive: true });
  await writeFile(path.join(dir, `transcripts/pod/${FILE_KEY}.srt`), await readFile(SPEECH));
  const manifest = {
    lastUpdated: '2025-07-08T20:11:05.123Z',
    episodes: [{ sequentialId: 1, podcastId: 'pod', title: 'T', fileKey: FILE_KEY, publishedAt: '2024-07-25T14:54:00.000Z', downloadedAt: '2024-07-25T15:30:00.000Z' }],
  };
  await writeFile(path.join(dir, 'episode-manifest/full-episode-manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

async function rig(t: TestContext, functions: (s3Endpoint: string) => Record<string, LambdaHandler>) {
  const root = await tempDir(t);
  const s3server = await startLocalS3({ dir: path.join(root, 's3'), buckets: ['alpha-browse-dot-show', 'beta-browse-dot-show'] });
  t.after(() => s3server.stop());
  const lambda = await startLocalLambda({ functions: functions(s3server.endpoint) });
  t.after(() => lambda.stop());
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  for (const id of ['alpha', 'beta']) await writeSite(sitesRoot, siteConfig(id, { endpoint: s3server.endpoint, lambdaEndpoint: lambda.endpoint }));
  const cli = (...args: string[]) =>
    runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--renderer=plain', ...args], { cwd: root, env: ENV });
  return { root, sitesRoot, localRoot, s3server, lambda, cli };
}

function indexers(s3Endpoint: string): Record<string, LambdaHandler> {
  const s3 = { region: 'us-east-1', endpoint: s3Endpoint, forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS };
  return {
    'srt-indexing-alpha': createIndexerHandler({ bucket: 'alpha-browse-dot-show', s3 }),
    'srt-indexing-beta': createIndexerHandler({ bucket: 'beta-browse-dot-show', s3 }),
  };
}

test('a run that uploaded invokes each site\'s function once; the entries come back down; a no-op run invokes nothing', async (t) => {
  const { localRoot, s3server, lambda, cli } = await rig(t, indexers);
  await localFiles(localRoot, 'alpha');
  await localFiles(localRoot, 'beta');

  const first = await cli('--only=pre-sync,upload,index');
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /\[alpha\] \[index\] ok: invoked srt-indexing-alpha asynchronously \(2 files uploaded\)/);
  await lambda.idle();
  assert.deepEqual(
    lambda.invocations.map((i) => [i.functionName, i.invocationType, i.outcome]).sort(),
    [
      ['srt-indexing-alpha', 'Event', 'ok'],
      ['srt-indexing-beta', 'Event', 'ok'],
    ],
  );
  const payload = lambda.invocations.find((i) => i.functionName === 'srt-indexing-alpha')!.payload as Record<string, unknown>;
  assert.equal(payload.site, 'alpha');
  assert.equal(payload.bucket, 'alpha-browse-dot-show');
  assert.match(String(payload.runId), /^\d{8}T\d{6}-\d+$/);
  assert.deepEqual([...(payload.uploadedKeys as string[])].sort(), ['episode-manifest/full-episode-manifest.json', `transcripts/pod/${FILE_KEY}.srt`]);
  assert.equal(payload.uploadedCount, 2);

  const s3 = new S3Client({ region: 'us-east-1', endpoint: s3server.endpoint, forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
  t.after(() => s3.destroy());
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'beta-browse-dot-show', Prefix: 'search-entries/' }));
  assert.deepEqual(listed.Contents?.map((o) => o.Key), [`search-entries/pod/${FILE_KEY}.json`]);

  // The next run brings the indexer's output down and uploads nothing: no invocation.
  const second = await cli('--only=pre-sync,upload,index');
  assert.equal(second.code, 0, second.stdout + second.stderr);
  assert.match(second.stdout, /\[alpha\] \[index\] up-to-date: nothing uploaded/);
  assert.equal(lambda.invocations.length, 2, 'no new invocation');
  const local = JSON.parse(await readFile(path.join(localRoot, `sites/alpha/search-entries/pod/${FILE_KEY}.json`), 'utf8'));
  assert.equal(local[0].id, '1_6500');

  const third = await cli('--only=pre-sync,upload,index');
  assert.equal(third.code, 0);
  assert.equal(lambda.invocations.length, 2, 'still no invocation');
});

test('--wait-for-index: the indexer\'s output comes down in the same run, so the next run does nothing', async (t) => {
  const { localRoot, lambda, cli, root } = await rig(t, indexers);
  await localFiles(localRoot, 'alpha');
  const first = await cli('--only=pre-sync,upload,index', '--wait-for-index', '--sites=alpha');
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /\[alpha\] \[index\] ok: srt-indexing-alpha finished: wrote 1 search-entry file \(2 files uploaded\)/);
  const local = JSON.parse(await readFile(path.join(localRoot, `sites/alpha/search-entries/pod/${FILE_KEY}.json`), 'utf8'));
  assert.equal(local[0].id, '1_6500');

  const summaryFile = path.join(root, 'second.json');
  const second = await cli('--only=pre-sync,upload,index', '--wait-for-index', '--sites=alpha', `--summary-json=${summaryFile}`);
  assert.equal(second.code, 0, second.stdout + second.stderr);
  const steps = JSON.parse(await readFile(summaryFile, 'utf8')).sites[0].steps as { step: string; status: string }[];
  assert.deepEqual(steps.filter((s) => s.status !== 'skipped').map((s) => [s.step, s.status]), [
    ['pre-sync', 'up-to-date'],
    ['upload', 'up-to-date'],
    ['index', 'up-to-date'],
  ]);
  assert.equal(lambda.invocations.length, 1);
});

test('--wait-for-index: a function error fails the step with the function\'s message; Event does not wait for it', async (t) => {
  const { cli, lambda, root } = await rig(t, () => ({
    'srt-indexing-alpha': async () => {
      throw new TypeError('index rebuild exploded on shard 3');
    },
    'srt-indexing-beta': async () => ({ written: ['a', 'b'] }),
  }));
  const summaryFile = path.join(root, 'summary.json');
  const waited = await cli('--only=index', '--force-index', '--wait-for-index', `--summary-json=${summaryFile}`);
  assert.equal(waited.code, 1, waited.stdout + waited.stderr);
  assert.match(waited.stdout, /\[alpha\] \[index\] failed: indexing function srt-indexing-alpha failed: TypeError: index rebuild exploded on shard 3/);
  assert.match(waited.stdout, /\[beta\] \[index\] ok: srt-indexing-beta finished: wrote 2 search-entry files \(--force-index\)/);
  const summary = JSON.parse(await readFile(summaryFile, 'utf8'));
  assert.deepEqual(
    summary.errors.map((e: { site: string; step: string; code: string }) => [e.site, e.step, e.code]),
    [['alpha', 'index', 'Unhandled']],
  );
  assert.deepEqual(lambda.invocations.map((i) => i.invocationType), ['RequestResponse', 'RequestResponse']);

  const async = await cli('--only=index', '--force-index');
  assert.equal(async.code, 0, async.stdout);
  await lambda.idle();
  assert.equal(lambda.invocations.filter((i) => i.invocationType === 'Event').length, 2);
  assert.equal(lambda.invocations.find((i) => i.invocationType === 'Event' && i.functionName === 'srt-indexing-alpha')!.outcome, 'error');
});

test('an unknown function is reported with AWS\'s code, and the other site is fine', async (t) => {
  const { cli } = await rig(t, (endpoint) => ({ 'srt-indexing-beta': indexers(endpoint)['srt-indexing-beta']! }));
  const r = await cli('--only=index', '--force-index');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /\[alpha\] \[index\] failed: indexing function srt-indexing-alpha not found in us-east-1: .*\(ResourceNotFoundException\)/);
  assert.match(r.stdout, /\[beta\] \[index\] ok: invoked srt-indexing-beta/);
});

test('throttling and 5xx are retried with backoff; a dry run invokes nothing', async (t) => {
  const root = await tempDir(t);
  const seen: string[] = [];
  // Four refusals (more than the SDK's own three attempts), then acceptance.
  const server = http.createServer((req, res) => {
    req.resume();
    seen.push(`${req.method} ${req.headers['x-amz-invocation-type']}`);
    if (seen.length <= 4) {
      const throttled = seen.length % 2 === 1;
      res.writeHead(throttled ? 429 : 503, { 'x-amzn-ErrorType': throttled ? 'TooManyRequestsException' : 'ServiceException', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: throttled ? 'Rate exceeded' : 'try later' }));
      return;
    }
    res.writeHead(202).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, siteConfig('alpha', { lambdaEndpoint: endpoint }));
  const args = ['run', `--sites-root=${sitesRoot}`, `--local-root=${path.join(root, 'local')}`, '--renderer=plain', '--only=index', '--force-index'];

  const dry = await runCli([...args, '--dry-run'], { cwd: root, env: ENV });
  assert.equal(dry.code, 0, dry.stdout);
  assert.match(dry.stdout, /would invoke srt-indexing-alpha \(--force-index\)/);
  assert.equal(seen.length, 0);

  const r = await runCli(args, { cwd: root, env: ENV });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(seen.length, 5);
  assert.match(r.stdout, /WARN .*\[alpha\] \[index\] invoke srt-indexing-alpha: .*retry 1 in \d+ ms/);
  assert.match(r.stdout, /\[alpha\] \[index\] ok: invoked srt-indexing-alpha asynchronously/);
});

test('payload: keys beyond the size limit are cut and counted', () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `transcripts/pod/${String(i).padStart(60, '0')}.srt`);
  const payload = buildPayload({ runId: 'r', site: 's', bucket: 'b', forced: false, keys });
  assert.equal(payload.uploadedCount, 5000);
  assert.ok(payload.keysTruncated);
  assert.ok(payload.uploadedKeys.length > 1000 && payload.uploadedKeys.length < 5000);
  assert.ok(JSON.stringify(payload).length < MAX_KEYS_BYTES + 1000);
  const small = buildPayload({ runId: 'r', site: 's', bucket: 'b', forced: false, keys: keys.slice(0, 3) });
  assert.equal(small.keysTruncated, false);
  assert.deepEqual(small.uploadedKeys, keys.slice(0, 3));
});

test('access denied is reported with AWS\'s code and not retried', async (t) => {
  const root = await tempDir(t);
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    requests++;
    res.writeHead(403, { 'x-amzn-ErrorType': 'AccessDeniedException', 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ Message: 'User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: lambda:InvokeFunction' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, siteConfig('alpha', { lambdaEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  const r = await runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${path.join(root, 'local')}`, '--renderer=plain', '--only=index', '--force-index'], { cwd: root, env: ENV });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /\[alpha\] \[index\] failed: not allowed to invoke srt-indexing-alpha with the site's role: .*not authorized to perform: lambda:InvokeFunction \(AccessDeniedException\)/);
  assert.equal(requests, 1);
});
