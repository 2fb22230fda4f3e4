// The bucket side of a site: ListObjectsV2 by prefix, every page, no delimiter (ARCHITECTURE.md "Sync rules";
// a delimiter misses folders that hold only sub-folders on some servers). One listing per
// synced folder, run concurrently; never a request per object.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { sendCancellable } from '../../aws/clients.ts';
import type { Logger } from '../../platform/log.ts';
import type { S3Key } from '../../platform/types.ts';
import { ignoreReason } from './ignore.ts';
import { guarded, withStorageRetry } from './watchdog.ts';
import { type StoredFile } from './stored-file.ts';

export interface ListBucketInput {
  s3: S3Client;
  bucket: string;
  folders: readonly string[];
  signal: AbortSignal;
  log: Logger;
}

/** Plain MD5 ETags (single-part uploads) carry the content's MD5; "<hex>-<parts>" ones do not. */
export function md5FromEtag(etag: string | undefined): string | undefined {
  return etag && /^[0-9a-f]{32}$/.test(etag) ? etag : undefined;
}

export function cleanEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/"/g, '').toLowerCase() || undefined;
}

/** Every synced object of the bucket, sorted by key. Throws (with AWS's code) when it cannot list. */
export async function listBucket(input: ListBucketInput): Promise<StoredFile[]> {
  // The first folder that cannot be listed decides: stop the others' retries at once.
  const siblings = new AbortController();
  const scoped = { ...input, signal: AbortSignal.any([input.signal, siblings.signal]) };
  const perFolder = await Promise.all(
    input.folders.map((folder) =>
      listPrefix(scoped, `${folder}/`).catch((error: unknown) => {
        siblings.abort(error);
        throw error;
      }),
    ),
  );
  const files = perFolder.flat();
  files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return files;
}

async function listPrefix(input: ListBucketInput, prefix: string): Promise<StoredFile[]> {
  const files: StoredFile[] = [];
  const skipped = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await withStorageRetry(
      () =>
        guarded(`list s3://${input.bucket}/${prefix}`, input.signal, (watchdog) =>
          sendCancellable(input.s3, watchdog.signal, new ListObjectsV2Command({ Bucket: input.bucket, Prefix: prefix, ContinuationToken: token }), (command, options) => input.s3.send(command, options)),
        ),
      { signal: input.signal, log: input.log, what: `list ${prefix}`, policy: 's3-listing' },
    );
    for (const object of page.Contents ?? []) {
      const key = object.Key;
      if (key === undefined) continue;
      const reason = ignoreReason(key, input.folders);
      if (reason) {
        skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
        if (reason === 'unsafe') input.log.warn(`ignoring bucket key ${JSON.stringify(key)}: not a safe local path`);
        continue;
      }
      const etag = cleanEtag(object.ETag);
      files.push({
        key: key as S3Key,
        size: object.Size ?? 0,
        modified: object.LastModified ?? new Date(0),
        etag,
        md5: md5FromEtag(etag),
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (skipped.size > 0) {
    input.log.debug(`${prefix}: ignored ${[...skipped].map(([reason, n]) => `${n} ${reason}`).join(', ')}`);
  }
  return files;
}
