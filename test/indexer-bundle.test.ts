// The documented Lambda bundle: built with the esbuild command from tasks/engines/indexer/lambda.ts,
// loaded the way the Lambda runtime loads it (a lone index.js, no node_modules, no
// package.json), and run against a real S3-compatible server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalS3, LOCAL_S3_CREDENTIALS } from '../tasks/demo/local/s3-server.ts';
import { tempDir } from './helpers/temp.ts';
import { PROJECT_ROOT } from './helpers/cli.ts';
import { FIXTURES } from './helpers/fixtures.ts';

const run = promisify(execFile);

test('the esbuild bundle runs stand-alone as a Lambda handler and indexes the bucket', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'lambda', 'index.js');
  // The command documented in tasks/engines/indexer/lambda.ts, word for word apart from the output path.
  const documented = (await readFile(path.join(PROJECT_ROOT, 'tasks/engines/indexer/lambda.ts'), 'utf8')).match(/npx (esbuild .*)$/m)![1]!;
  const args = documented.split(' ').slice(1).map((a) => (a.startsWith('--outfile=') ? `--outfile=${out}` : a));
  await run(path.join(PROJECT_ROOT, 'node_modules/.bin/esbuild'), args, { cwd: PROJECT_ROOT });

  const s3server = await startLocalS3({ dir: path.join(dir, 's3'), buckets: ['bundle-browse-dot-show'] });
  t.after(() => s3server.stop());
  const s3 = new S3Client({ region: 'us-east-1', endpoint: s3server.endpoint, forcePathStyle: true, credentials: LOCAL_S3_CREDENTIALS });
  t.after(() => s3.destroy());
  const key = '2024-07-25_Simple_Episode_Title--1721921400000';
  const manifest = { lastUpdated: '2025-07-08T20:11:05.123Z', episodes: [{ sequentialId: 4, podcastId: 'pod', fileKey: key, publishedAt: '2024-07-25T14:54:00.000Z' }] };
  await s3.send(new PutObjectCommand({ Bucket: 'bundle-browse-dot-show', Key: 'episode-manifest/full-episode-manifest.json', Body: JSON.stringify(manifest) }));
  const srt = readFileSync(path.join(FIXTURES, 'srt/whisper-ct2-gossos-small.srt'));
  await s3.send(new PutObjectCommand({ Bucket: 'bundle-browse-dot-show', Key: `transcripts/pod/${key}.srt`, Body: srt }));

  // What the Lambda Node.js runtime does: require the file, call the exported handler.
  const script = `require(${JSON.stringify(out)}).handler({ runId: 'bundle' }).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { process.stdout.write(JSON.stringify({ error: e.message })); process.exitCode = 1; });`;
  const { stdout } = await run(process.execPath, ['-e', script], {
    cwd: path.dirname(out),
    env: {
      PATH: process.env.PATH,
      INDEXER_BUCKET: 'bundle-browse-dot-show',
      INDEXER_S3_ENDPOINT: s3server.endpoint,
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    },
  });
  const result = JSON.parse(stdout);
  assert.deepEqual(result.written, [`search-entries/pod/${key}.json`]);
  const written = await s3.send(new GetObjectCommand({ Bucket: 'bundle-browse-dot-show', Key: `search-entries/pod/${key}.json` }));
  const entries = JSON.parse(await written.Body!.transformToString());
  assert.equal(entries[0].id, '4_0');
  assert.match(entries[0].text, /^Igual que la majoria/);
});
