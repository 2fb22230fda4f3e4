// Several sites on one real s3rver (one bucket each), their local folders, and helpers to plant
// files on either side or both: for checks that read many sites at once (verify). Like
// sync-rig.ts, but sites are added by id and nothing is run but the command under test.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3Server } from '../../tasks/demo/local/s3-server.ts';
import { runCli, type CliResult } from './cli.ts';
import { siteConfig, writeSite } from './sites.ts';
import { tempDir } from './temp.ts';
import { localS3Client } from './local-s3.ts';

export interface SitesRig {
  sitesRoot: string;
  localRoot: string;
  s3: LocalS3Server;
  env: NodeJS.ProcessEnv;
  siteDir(id: string): string;
  /** Writes site.config.json; `bucket` defaults to the one made for the site. */
  addSite(id: string, options?: { podcasts?: unknown[]; bucket?: string }): Promise<void>;
  writeLocal(id: string, key: string, body: string | Buffer): Promise<void>;
  removeLocal(id: string, key: string): Promise<void>;
  put(id: string, key: string, body: string | Buffer): Promise<void>;
  removeObject(id: string, key: string): Promise<void>;
  /** The same bytes locally and in the bucket. */
  mirror(id: string, key: string, body: string | Buffer): Promise<void>;
  /** The CLI with this rig's --sites-root and --local-root. */
  cli(args: string[]): Promise<CliResult>;
}

export const bucketOf = (id: string) => `${id}-browse-dot-show`;

/** `ids`: the sites whose buckets exist (a site may also point at a bucket that does not). */
export async function sitesRig(t: TestContext, ids: string[]): Promise<SitesRig> {
  const root = await tempDir(t, 'sites-rig-');
  const s3 = await startLocalS3({ dir: path.join(root, 's3'), buckets: ids.map(bucketOf) });
  t.after(() => s3.stop());
  const client = localS3Client(t, s3.endpoint);
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  const env = { AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };
  const siteDir = (id: string) => path.join(localRoot, 'sites', id);
  const file = (id: string, key: string) => path.join(siteDir(id), ...key.split('/'));
  const rig: SitesRig = {
    sitesRoot,
    localRoot,
    s3,
    env,
    siteDir,
    async addSite(id, options = {}) {
      await writeSite(sitesRoot, siteConfig(id, { endpoint: s3.endpoint, podcasts: options.podcasts, bucket: options.bucket }));
    },
    async writeLocal(id, key, body) {
      await mkdir(path.dirname(file(id, key)), { recursive: true });
      await writeFile(file(id, key), body);
    },
    removeLocal: (id, key) => rm(file(id, key), { force: true }),
    async put(id, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucketOf(id), Key: key, Body: typeof body === 'string' ? Buffer.from(body) : body }));
    },
    async removeObject(id, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucketOf(id), Key: key }));
    },
    async mirror(id, key, body) {
      await rig.writeLocal(id, key, body);
      await rig.put(id, key, body);
    },
    cli: (args) => runCli([...args, `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`], { env, timeoutMs: 120_000 }),
  };
  return rig;
}
