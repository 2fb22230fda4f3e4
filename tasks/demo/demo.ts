// The built-in demo: the real pipeline on a bundled site, with every external service
// replaced by a real local one on loopback (an S3-compatible server, a feed and audio host).
// Its data lives in `.demo/` (gitignored), so a second `npm start` finds everything up to date.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLocalS3, LOCAL_S3_CREDENTIALS } from './local/s3-server.ts';
import { startStaticServer, type StaticServer } from './local/static-server.ts';
import { startLocalLambda } from './local/lambda-server.ts';
import { createIndexerHandler } from '../engines/indexer/indexer.ts';
import { useRandomModelByDefault } from '../engines/transcription/toolchain/whisper.ts';

const ASSETS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assets');
export const DEMO_SITE_ID = 'demo';
export const DEMO_BUCKET = 'demo-browse-dot-show';
export const DEMO_INDEXING_FUNCTION = 'srt-indexing-demo';
/** A fixed port keeps the enclosure URLs in the feed, and so its snapshot, identical across runs. */
const DEMO_FEED_PORT = Number(process.env.DEMO_FEED_PORT ?? 47_811);

export interface Demo {
  sitesRoot: string;
  localRoot: string;
  describe(): string;
  stop(): Promise<void>;
}

export async function startDemo(root = path.resolve('.demo')): Promise<Demo> {
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  const bucketDir = path.join(root, 's3-data');

  const s3 = await startLocalS3({ dir: bucketDir, buckets: [DEMO_BUCKET] });
  let feeds: StaticServer;
  try {
    feeds = await startStaticServer({}, DEMO_FEED_PORT);
  } catch {
    feeds = await startStaticServer({}, 0);
  }
  const feedXml = (await readFile(path.join(ASSETS, 'feed.xml'), 'utf8')).replaceAll('{{BASE}}', feeds.baseUrl);
  feeds.setRoute('/feed.xml', { contentType: 'application/rss+xml; charset=utf-8', body: Buffer.from(feedXml) });
  for (const clip of ['ask-not.mp3', 'many-voices.mp3']) {
    feeds.setRoute(`/audio/${clip}`, { contentType: 'audio/mpeg', body: { file: path.join(ASSETS, clip) } });
  }

  // The indexer runs behind a local Lambda Invoke endpoint, reading and writing the demo bucket.
  const lambda = await startLocalLambda({
    functions: {
      [DEMO_INDEXING_FUNCTION]: createIndexerHandler({
        bucket: DEMO_BUCKET,
        s3: { endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { ...LOCAL_S3_CREDENTIALS } },
      }),
    },
  });

  // The demo site's config points every service at the local ones.
  const siteDir = path.join(sitesRoot, DEMO_SITE_ID);
  await mkdir(siteDir, { recursive: true });
  const config = {
    id: DEMO_SITE_ID,
    domain: 'demo.browse.show.local',
    includedPodcasts: [
      {
        id: 'demo-speeches',
        title: 'Demo Speeches',
        url: `${feeds.baseUrl}/feed.xml`,
        rssFeedFile: 'demo-speeches.xml',
        status: 'active',
      },
    ],
    whisperTranscriptionPrompt: 'Speeches and talks.',
    automation: {
      bucket: DEMO_BUCKET,
      region: 'us-east-1',
      endpoint: s3.endpoint,
      lambdaEndpoint: lambda.endpoint,
      indexingFunction: DEMO_INDEXING_FUNCTION,
    },
  };
  await writeFile(path.join(siteDir, 'site.config.json'), JSON.stringify(config, null, 2) + '\n');

  // The demo site assumes no role: its clients use these environment credentials.
  process.env.AWS_ACCESS_KEY_ID = LOCAL_S3_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = LOCAL_S3_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION = 'us-east-1';
  delete process.env.AWS_SESSION_TOKEN;
  // No trained model can be assumed on a fresh machine: without WHISPER_MODEL the demo transcribes
  // with the random-weight model set-up made (valid SRTs, gibberish text).
  useRandomModelByDefault();
  delete process.env.AWS_PROFILE;

  return {
    sitesRoot,
    localRoot,
    describe: () =>
      [
        '',
        'Demo files:',
        `  local mirror      ${path.relative(process.cwd(), path.join(localRoot, 'sites', DEMO_SITE_ID))}/`,
        `  bucket (s3rver)   ${path.relative(process.cwd(), path.join(bucketDir, DEMO_BUCKET))}/`,
        `  site config       ${path.relative(process.cwd(), path.join(siteDir, 'site.config.json'))}`,
        process.env.WHISPER_MODEL
          ? `Transcribed with WHISPER_MODEL=${process.env.WHISPER_MODEL}.`
          : 'Transcripts were made with a RANDOM-weight model (gibberish text): set WHISPER_MODEL for real ones (see README).',
        'Run `npm start` again: every step is up to date. Delete .demo/ to start over.',
        '',
      ].join('\n'),
    async stop() {
      // Let an asynchronous (Event) indexing finish before its bucket goes away.
      await lambda.idle();
      await Promise.all([s3.stop(), feeds.stop(), lambda.stop()]);
    },
  };
}
