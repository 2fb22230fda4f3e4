// The indexer as a Lambda function behind the local Invoke endpoint, against a real
// S3-compatible server: what it writes, what it leaves alone, how its failures surface.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { startLocalS3, LOCAL_S3_CREDENTIALS } from '../tasks/demo/local/s3-server.ts';
import { startLocalLambda, type LambdaHandler } from '../tasks/demo/local/lambda-server.ts';
import { createIndexerHandler } from '../tasks/engines/indexer/indexer.ts';
import { MANIFEST_KEY } from '../tasks/site/manifest.ts';
import { srtToSearchEntries } from '../tasks/engines/indexer/search-entries.ts';
import { tempDir } from './helpers/temp.ts';
import { FIXTURES } from './helpers/fixtures.ts';
import { localS3Client } from './helpers/local-s3.ts';

const CORPUS = path.join(FIXTURES, 'srt');
const BUCKET = 'idx-browse-dot-show';
const FN = 'srt-indexing-idx';
const KEY_A = '2024-07-25_Simple_Episode_Title--1721921400000';
const KEY_B = '2024-08-01_Second--1722500000000';

function manifest(extra: object[] = []) {
  return {
    lastUpdated: '2025-07-08T20:11:05.123Z',
    episodes: [
      { sequentialId: 1, podcastId: 'pod', title: 'A', fileKey: KEY_A, publishedAt: '2024-07-25T14:54:00.000Z', downloadedAt: '2024-07-25T15:30:00.000Z' },
      { sequentialId: 2, podcastId: 'pod', title: 'B', fileKey: KEY_B, publishedAt: '2024-08-01T08:00:00.000Z', downloadedAt: '2024-08-01T09:00:00.000Z' },
      ...extra,
    ],
  };
}

async function setUp(t: TestContext, functions?: (s3: { endpoint: string }) => Record<string, LambdaHandler>) {
  const dir = await tempDir(t);
  const s3server = await startLocalS3({ dir, buckets: [BUCKET] });
  t.after(() => s3server.stop());
  const s3 = localS3Client(t, s3server.endpoint);
  const handlers = functions?.(s3server) ?? {
    [FN]: createIndexerHandler({ bucket: BUCKET, s3: { region: 'us-east-1', endpoint: s3server.endpoint, forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS } }),
  };
  const lambdaServer = await startLocalLambda({ functions: handlers });
  t.after(() => lambdaServer.stop());
  const lambda = new LambdaClient({ region: 'us-east-1', endpoint: lambdaServer.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  t.after(() => lambda.destroy());
  const put = (Key: string, Body: string | Uint8Array) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
  const get = async (Key: string) => (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }))).Body!.transformToString();
  const keys = async (Prefix: string) => ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix }))).Contents ?? []).map((o) => o.Key!).sort();
  const invoke = (type: 'RequestResponse' | 'Event' | 'DryRun', payload: object = {}, name = FN) =>
    lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: type, Payload: new TextEncoder().encode(JSON.stringify(payload)) }));
  return { s3, lambdaServer, put, get, keys, invoke };
}

const speech = readFileSync(path.join(CORPUS, 'pysrt-speech-bom-utf16le.srt'));
const trailer = readFileSync(path.join(CORPUS, 'virtualcoffee-s1e0-trailer.srt'));

test('RequestResponse: writes search entries for each transcript lacking them, then nothing on the next call', async (t) => {
  const { put, get, keys, invoke, lambdaServer } = await setUp(t);
  await put(MANIFEST_KEY, JSON.stringify(manifest(), null, 2));
  await put(`transcripts/pod/${KEY_A}.srt`, speech);
  await put(`transcripts/pod/${KEY_B}.srt`, trailer);

  const out = await invoke('RequestResponse', { site: 'idx', runId: 'r1' });
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, undefined);
  const result = JSON.parse(new TextDecoder().decode(out.Payload));
  assert.deepEqual(result.written, [`search-entries/pod/${KEY_A}.json`, `search-entries/pod/${KEY_B}.json`]);
  assert.deepEqual(await keys('search-entries/'), result.written);

  const entriesA = JSON.parse(await get(`search-entries/pod/${KEY_A}.json`));
  assert.deepEqual(entriesA, srtToSearchEntries(speech, { sequentialId: 1, publishedAtMs: Date.parse('2024-07-25T14:54:00.000Z') }));
  assert.equal(entriesA[0]!.id, '1_6500');
  const entriesB = JSON.parse(await get(`search-entries/pod/${KEY_B}.json`)) as { sequentialEpisodeIdAsString: string; episodePublishedUnixTimestamp: number }[];
  assert.equal(entriesB[0]!.sequentialEpisodeIdAsString, '2');
  assert.equal(entriesB[0]!.episodePublishedUnixTimestamp, Date.parse('2024-08-01T08:00:00.000Z'));

  const again = JSON.parse(new TextDecoder().decode((await invoke('RequestResponse')).Payload));
  assert.deepEqual(again.written, []);
  assert.equal(again.alreadyIndexed, 2);
  assert.deepEqual(
    lambdaServer.invocations.map((i) => [i.functionName, i.invocationType, i.outcome]),
    [
      [FN, 'RequestResponse', 'ok'],
      [FN, 'RequestResponse', 'ok'],
    ],
  );
  assert.deepEqual(lambdaServer.invocations[0]!.payload, { site: 'idx', runId: 'r1' });
});

test('two podcasts sharing a legacy file key each get their own episode numbers', async (t) => {
  const { put, get, invoke } = await setUp(t);
  const legacy = '2024-01-01_Trailer';
  await put(
    MANIFEST_KEY,
    JSON.stringify({
      lastUpdated: '2025-07-08T20:11:05.123Z',
      episodes: [
        { sequentialId: 1, podcastId: 'first', title: 'Trailer', fileKey: legacy, publishedAt: '2024-01-01T08:00:00.000Z' },
        { sequentialId: 2, podcastId: 'second', title: 'Trailer', fileKey: legacy, publishedAt: '2024-01-01T09:00:00.000Z' },
      ],
    }),
  );
  await put(`transcripts/first/${legacy}.srt`, speech);
  await put(`transcripts/second/${legacy}.srt`, speech);
  const out = await invoke('RequestResponse');
  assert.equal(out.FunctionError, undefined, new TextDecoder().decode(out.Payload));
  const first = JSON.parse(await get(`search-entries/first/${legacy}.json`)) as { sequentialEpisodeIdAsString: string }[];
  const second = JSON.parse(await get(`search-entries/second/${legacy}.json`)) as { sequentialEpisodeIdAsString: string }[];
  assert.equal(first[0]!.sequentialEpisodeIdAsString, '1');
  assert.equal(second[0]!.sequentialEpisodeIdAsString, '2');
});

test('Event is accepted (202) before it runs; DryRun (204) runs nothing; the invocations are recorded', async (t) => {
  const { put, keys, invoke, lambdaServer } = await setUp(t);
  await put(MANIFEST_KEY, JSON.stringify(manifest()));
  await put(`transcripts/pod/${KEY_A}.srt`, speech);

  const dry = await invoke('DryRun');
  assert.equal(dry.StatusCode, 204);
  assert.deepEqual(await keys('search-entries/'), []);

  const event = await invoke('Event', { runId: 'r2' });
  assert.equal(event.StatusCode, 202);
  await lambdaServer.idle();
  assert.deepEqual(await keys('search-entries/'), [`search-entries/pod/${KEY_A}.json`]);
  assert.deepEqual(
    lambdaServer.invocations.map((i) => [i.invocationType, i.outcome]),
    [
      ['DryRun', 'not-run'],
      ['Event', 'ok'],
    ],
  );
});

test('a transcript missing from the manifest or unreadable is a function error naming it; the others are still indexed', async (t) => {
  const { put, keys, invoke } = await setUp(t);
  await put(MANIFEST_KEY, JSON.stringify(manifest()));
  await put(`transcripts/pod/${KEY_A}.srt`, speech);
  await put(`transcripts/pod/${KEY_B}.srt`, readFileSync(path.join(CORPUS, 'pysrt-invalid-timestamp.srt')));
  await put('transcripts/pod/2020-01-01_Orphan--1577836800000.srt', speech);

  const out = await invoke('RequestResponse');
  assert.equal(out.StatusCode, 200);
  assert.equal(out.FunctionError, 'Unhandled');
  const error = JSON.parse(new TextDecoder().decode(out.Payload));
  assert.equal(error.errorType, 'IndexerError');
  assert.match(error.errorMessage, /2 of 3 transcripts/);
  assert.match(error.errorMessage, /unreadable timing/);
  assert.match(error.errorMessage, /no episode with fileKey "2020-01-01_Orphan--1577836800000"/);
  assert.deepEqual(await keys('search-entries/'), [`search-entries/pod/${KEY_A}.json`]);
});

test('a missing manifest fails the invocation with the key and the S3 error code', async (t) => {
  const { put, invoke } = await setUp(t);
  await put(`transcripts/pod/${KEY_A}.srt`, speech);
  const out = await invoke('RequestResponse');
  assert.equal(out.FunctionError, 'Unhandled');
  const error = JSON.parse(new TextDecoder().decode(out.Payload));
  assert.match(error.errorMessage, /cannot read episode-manifest\/full-episode-manifest\.json from idx-browse-dot-show: .*NoSuchKey/);
});

test('unknown function: 404 ResourceNotFoundException through the SDK', async (t) => {
  const { invoke, lambdaServer } = await setUp(t);
  await assert.rejects(invoke('RequestResponse', {}, 'srt-indexing-nope'), (e: Error) => e.name === 'ResourceNotFoundException' && /srt-indexing-nope/.test(e.message));
  await assert.rejects(invoke('DryRun', {}, 'srt-indexing-nope'), (e: Error) => e.name === 'ResourceNotFoundException');
  // ARNs name the same function.
  const byArn = await invoke('DryRun', {}, `arn:aws:lambda:us-east-1:123456789012:function:${FN}`);
  assert.equal(byArn.StatusCode, 204);
  assert.equal(lambdaServer.invocations.at(-1)!.functionName, FN);
});
