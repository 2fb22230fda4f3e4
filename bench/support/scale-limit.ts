// The floor of a no-op run, for bench/scale.ts: what any tool must do to know that nothing
// changed. Per site, a bare paginated ListObjectsV2 of every synced folder prefix (the runner's
// prefixes, all pages, the folders concurrently) while a recursive scan (readdir recursive +
// stat) of the same local folders runs; the sites as many at once as the runner takes them
// (its default --concurrency). Same S3 client as the runner's (tasks/aws/clients.ts), same
// site configs. Nothing is compared, hashed or written.
//
//   node --import tsx bench/support/scale-limit.ts --sites-root=D --local-root=D
//
// Prints one JSON line: {seconds, listSeconds, scanSeconds, objects, files, pages, retries}, where
// `seconds` is the concurrent list + scan (the limit), and the other two each alone afterwards.
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createSiteClients } from '../../tasks/aws/clients.ts';
import { defaultConcurrency } from '../../tasks/commands/command-line.ts';
import { mapPool } from '../../tasks/platform/limiter.ts';
import { SYNC_FOLDERS } from '../../tasks/platform/types.ts';
import { discoverSites, type SiteConfig } from '../../tasks/site/site-config.ts';

const { values } = parseArgs({ options: { 'sites-root': { type: 'string' }, 'local-root': { type: 'string' } } });
const sitesRoot = values['sites-root']!;
const localRoot = values['local-root']!;
const { sites, problems } = await discoverSites(sitesRoot, localRoot);
if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('\n'));
const clients = new Map(sites.map((site) => [site.id, createSiteClients(site, 'limit').s3()]));

let pages = 0;
let retries = 0;

/** A server error (s3rver answers 500 when it runs out of file descriptors under load) is tried again, as the runner's s3-listing policy does. */
async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
      if (attempt >= 5 || (status > 0 && status < 500)) throw error;
      retries++;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
}
async function listPrefix(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let token: string | undefined;
  let objects = 0;
  do {
    const page = await withRetries(() => s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })));
    pages++;
    objects += page.Contents?.length ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

async function listSite(site: SiteConfig): Promise<number> {
  const s3 = clients.get(site.id)!;
  const counts = await Promise.all(SYNC_FOLDERS.map((folder) => listPrefix(s3, site.automation.bucket, `${folder}/`)));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * readdir (recursive) of every synced folder, then a stat of every regular file, as the
 * runner's scan does it (statSync in batches, the cheapest way Node has: tasks/engines/sync/scan.ts).
 */
async function scanSite(site: SiteConfig): Promise<number> {
  const perFolder = await Promise.all(
    SYNC_FOLDERS.map((folder) => readdir(path.join(site.localDir, folder), { withFileTypes: true, recursive: true }).catch(() => [])),
  );
  const files = perFolder.flat().filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  for (let start = 0; start < files.length; start += 512) {
    await new Promise((resolve) => setImmediate(resolve));
    for (const file of files.slice(start, start + 512)) statSync(file);
  }
  return files.length;
}

const time = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
  const started = process.hrtime.bigint();
  const result = await fn();
  return [Number(process.hrtime.bigint() - started) / 1e9, result];
};

// One small request first, so that the measured part does not include loading the SDK's lazily
// imported modules (the runner pays that once too, before its first listing; it is start-up).
await clients.get(sites[0]!.id)!.send(new ListObjectsV2Command({ Bucket: sites[0]!.automation.bucket, MaxKeys: 1 }));
pages = 0;

const [seconds, both] = await time(() => mapPool(sites, defaultConcurrency(), (site) => Promise.all([listSite(site), scanSite(site)])));
const pagesBoth = pages;
const [listSeconds] = await time(() => mapPool(sites, defaultConcurrency(), listSite));
const [scanSeconds] = await time(() => mapPool(sites, defaultConcurrency(), scanSite));
process.stdout.write(
  JSON.stringify({
    seconds,
    listSeconds,
    scanSeconds,
    objects: both.reduce((n, [o]) => n + o, 0),
    files: both.reduce((n, [, f]) => n + f, 0),
    pages: pagesBoth,
    retries,
  }) + '\n',
);
