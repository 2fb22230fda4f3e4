// A disposable sync setup for the sync tests: a real s3rver (requests recorded), an
// optional fault proxy in front of it, one site whose endpoint points at them, its local
// folder, and helpers to seed either side and to compare both sides byte for byte (by MD5:
// s3rver's ETag is the content MD5, multipart objects included).
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3Server } from '../../tasks/demo/local/s3-server.ts';
import { runCli, startCli, type CliResult, type RunningCli } from './cli.ts';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from './fault-proxy.ts';
import { siteConfig, writeSite } from './sites.ts';
import { tempDir } from './temp.ts';
import { bytes, fileDigests, md5 } from './data.ts';
import { localS3Client } from './local-s3.ts';

export const SYNC_STEPS = '--only=pre-sync,consistency,upload';

export interface SyncRig {
  root: string;
  sitesRoot: string;
  localRoot: string;
  /** `<localRoot>/sites/<id>` */
  siteDir: string;
  siteId: string;
  bucket: string;
  s3: LocalS3Server;
  proxy?: FaultProxy;
  /** Talks to s3rver directly (never through the proxy). */
  client: S3Client;
  env: NodeJS.ProcessEnv;
  /** `run --only=pre-sync,consistency,upload` plus `args`; returns the result and the summary JSON. */
  run(args?: string[], options?: { timeoutMs?: number }): Promise<CliResult & { summary: Summary }>;
  start(args?: string[]): RunningCli;
  put(key: string, body: string | Buffer): Promise<void>;
  writeLocal(key: string, body: string | Buffer, mtime?: Date): Promise<void>;
  /** key -> md5 of every object in the bucket (directory markers and all). */
  bucketFiles(): Promise<Map<string, string>>;
  /** key -> md5 of every file under the site folder, dot-files and partial files included. */
  localFiles(): Promise<Map<string, string>>;
  /** Object GET/PUT/POST requests recorded by s3rver since `from` (listings excluded). */
  objectRequests(from?: number): { method: string; url: string }[];
}

export interface Summary {
  exitCode: number;
  sites: { site: string; status: string; steps: { step: string; status: string; message: string; counts: Record<string, unknown>; errors: unknown[] }[] }[];
  errors: { site: string; step: string; subject?: string; message: string; code?: string }[];
}

export interface SyncRigOptions {
  siteId?: string;
  proxy?: Omit<FaultProxyOptions, 'target'>;
  env?: NodeJS.ProcessEnv;
  /** The site's podcasts (site.config.json includedPodcasts), for runs with rss. */
  podcasts?: unknown[];
  /** Use this S3 server (two rigs, one bucket: two machines) instead of starting one. */
  s3?: LocalS3Server;
  /** The site's local Lambda endpoint (tasks/demo/local/lambda-server.ts). */
  lambdaEndpoint?: string;
}

export async function syncRig(t: TestContext, options: SyncRigOptions = {}): Promise<SyncRig> {
  const root = await tempDir(t, 'sync-test-');
  const siteId = options.siteId ?? 'alpha';
  const bucket = `${siteId}-browse-dot-show`;
  const s3 = options.s3 ?? (await startLocalS3({ dir: path.join(root, 's3'), buckets: [bucket], recordRequests: true }));
  if (!options.s3) t.after(() => s3.stop());
  let proxy: FaultProxy | undefined;
  if (options.proxy) {
    proxy = await startFaultProxy({ ...options.proxy, target: s3.endpoint });
    t.after(() => proxy!.stop());
  }
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  await writeSite(sitesRoot, siteConfig(siteId, { endpoint: proxy?.endpoint ?? s3.endpoint, podcasts: options.podcasts, lambdaEndpoint: options.lambdaEndpoint }));
  const client = localS3Client(t, s3.endpoint);
  const env = {
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    ...options.env,
  };
  const siteDir = path.join(localRoot, 'sites', siteId);
  let runs = 0;
  const argsFor = (args: string[], summaryFile: string) => [
    'run',
    SYNC_STEPS,
    `--sites-root=${sitesRoot}`,
    `--local-root=${localRoot}`,
    `--summary-json=${summaryFile}`,
    '--renderer=plain',
    ...args,
  ];

  const rig: SyncRig = {
    root,
    sitesRoot,
    localRoot,
    siteDir,
    siteId,
    bucket,
    s3,
    proxy,
    client,
    env,
    async run(args = [], runOptions = {}) {
      const summaryFile = path.join(root, `summary-${++runs}.json`);
      const result = await runCli(argsFor(args, summaryFile), { env, timeoutMs: runOptions.timeoutMs ?? 240_000 });
      let summary: Summary;
      try {
        summary = JSON.parse(await readFile(summaryFile, 'utf8'));
      } catch {
        throw new Error(`no summary written (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
      }
      return { ...result, summary };
    },
    start(args = []) {
      return startCli(argsFor(args, path.join(root, `summary-${++runs}.json`)), { env, timeoutMs: 240_000 });
    },
    async put(key, body) {
      const recorded = s3.requests.length;
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body }));
      // s3rver reports requests on its stdout, which can arrive after the response: wait for it,
      // so request counts taken after seeding never include the seeding itself.
      while (s3.requests.length === recorded) await new Promise((resolve) => setTimeout(resolve, 5));
    },
    async writeLocal(key, body, mtime) {
      const file = path.join(siteDir, ...key.split('/'));
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body);
      if (mtime) await utimes(file, mtime, mtime);
    },
    async bucketFiles() {
      const files = new Map<string, string>();
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        for (const o of page.Contents ?? []) files.set(o.Key!, o.ETag!.replace(/"/g, ''));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return files;
    },
    localFiles: () => fileDigests(siteDir),
    objectRequests(from = 0) {
      return s3.requests.slice(from).filter((r) => !/[?&]list-type=2/.test(r.url));
    },
  };
  return rig;
}

/** Both sides hold exactly the same synced files with the same content. */
export function sameFiles(local: Map<string, string>, bucket: Map<string, string>): { onlyLocal: string[]; onlyBucket: string[]; different: string[] } {
  const onlyLocal = [...local.keys()].filter((k) => !bucket.has(k)).sort();
  const onlyBucket = [...bucket.keys()].filter((k) => !local.has(k)).sort();
  const different = [...local.keys()].filter((k) => bucket.has(k) && bucket.get(k) !== local.get(k)).sort();
  return { onlyLocal, onlyBucket, different };
}

export { bytes, md5 };
