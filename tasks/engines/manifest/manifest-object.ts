// The bucket's copy of the episode manifest, read and written as a document: a GET that says
// "unchanged" when the caller already holds that version (If-None-Match), and a PUT that only
// lands on the version the caller merged with (If-Match, or If-None-Match: * when the bucket
// had none), so two machines updating one site's manifest never silently drop each other's
// episodes. Servers without conditional writes ignore the headers (see publishManifest).
import { createHash } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sendCancellable } from '../../aws/clients.ts';
import { errorCode } from '../../aws/errors.ts';
import type { Logger } from '../../platform/log.ts';
import { MANIFEST_KEY } from '../../site/manifest.ts';
import { cleanEtag } from '../sync/listing.ts';
import { guarded, withStorageRetry } from '../sync/watchdog.ts';

export interface ManifestObjectInput {
  s3: S3Client;
  bucket: string;
  signal: AbortSignal;
  log: Logger;
}

export type BucketManifestFetch =
  | { kind: 'fetched'; text: string; etag: string | undefined; size: number; lastModified: Date | undefined }
  | { kind: 'not-modified' }
  | { kind: 'absent' };

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** GET the manifest; `ifNoneMatch` (an ETag) turns an unchanged copy into `not-modified`. Throws when it cannot be read. */
export function fetchBucketManifest(input: ManifestObjectInput, ifNoneMatch?: string): Promise<BucketManifestFetch> {
  const what = `download ${MANIFEST_KEY}`;
  return withStorageRetry(
    () =>
      guarded(what, input.signal, async (watchdog): Promise<BucketManifestFetch> => {
        try {
          const response = await sendCancellable(input.s3, watchdog.signal, new GetObjectCommand({ Bucket: input.bucket, Key: MANIFEST_KEY, ...(ifNoneMatch ? { IfNoneMatch: `"${ifNoneMatch}"` } : {}) }), (command, options) => input.s3.send(command, options));
          const bytes = Buffer.from((await response.Body?.transformToByteArray()) ?? []);
          // A cut-off body is a failed read, not a short manifest.
          if (response.ContentLength !== undefined && bytes.length !== response.ContentLength) {
            throw Object.assign(new Error(`${MANIFEST_KEY}: received ${bytes.length} of ${response.ContentLength} bytes`), { code: 'ECONNRESET' });
          }
          return { kind: 'fetched', text: bytes.toString('utf8'), etag: cleanEtag(response.ETag), size: bytes.length, lastModified: response.LastModified };
        } catch (error) {
          if (httpStatus(error) === 304) return { kind: 'not-modified' };
          const code = errorCode(error);
          if (code === 'NoSuchKey' || code === 'HTTP 404') return { kind: 'absent' };
          throw error;
        }
      }),
    { signal: input.signal, log: input.log, what },
  );
}

export type BucketManifestPut = { kind: 'written'; etag: string | undefined } | { kind: 'precondition-failed' };

/**
 * PUT `text` as the manifest, only over the version `expected` names: an ETag, or `absent`
 * (only if there is still none). A 412 or 409 means another writer got there first.
 */
export function putBucketManifest(input: ManifestObjectInput, text: string, expected: { etag: string } | 'absent'): Promise<BucketManifestPut> {
  const what = `upload ${MANIFEST_KEY}`;
  const body = Buffer.from(text);
  const md5 = createHash('md5').update(body).digest();
  return withStorageRetry(
    () =>
      guarded(what, input.signal, async (watchdog): Promise<BucketManifestPut> => {
        try {
          const response = await sendCancellable(
            input.s3,
            watchdog.signal,
            new PutObjectCommand({
              Bucket: input.bucket,
              Key: MANIFEST_KEY,
              Body: body,
              ContentLength: body.length,
              // The server refuses a body that arrives damaged or cut off.
              ContentMD5: md5.toString('base64'),
              ContentType: 'application/json',
              ...(expected === 'absent' ? { IfNoneMatch: '*' } : { IfMatch: `"${expected.etag}"` }),
            }),
            (command, options) => input.s3.send(command, options),
          );
          return { kind: 'written', etag: cleanEtag(response.ETag) };
        } catch (error) {
          const status = httpStatus(error);
          const code = errorCode(error);
          if (status === 412 || status === 409 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') return { kind: 'precondition-failed' };
          throw error;
        }
      }),
    { signal: input.signal, log: input.log, what },
  );
}
