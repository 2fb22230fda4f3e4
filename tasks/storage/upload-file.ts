// One local file to the bucket, verified (DESIGN §4). Small files: one PutObject with
// Content-MD5 (the server rejects a body that does not match) and the returned ETag compared
// with the local MD5. Large files: a multipart upload (@aws-sdk/lib-storage) whose final ETag
// is checked against the MD5 of the part MD5s ("<hex>-<parts>", as AWS computes it) or the
// whole-file MD5 (servers that store multipart objects with a plain MD5 ETag).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sendCancellable } from '../aws/clients.ts';
import type { Logger } from '../log.ts';
import type { LocalFile } from './diff.ts';
import { errorCode } from '../aws/errors.ts';
import { VerificationError } from './errors.ts';
import { cleanEtag } from './listing.ts';
import { guarded, withStorageRetry, type Watchdog } from './watchdog.ts';

/** Files from this size on go multipart (AWS's minimum part is 5 MiB). */
export const MULTIPART_THRESHOLD = 16 * 1024 * 1024;
export const PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight per file: each transfer holds one network slot, this bounds its memory. */
const PART_QUEUE = 2;
/** The slowest link a small PutObject is given time for before the watchdog calls it stalled. */
const MIN_BYTES_PER_SECOND = 128 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.mp3': 'audio/mpeg',
  '.m4a': 'audio/mp4',
  '.wav': 'audio/wav',
  '.ogg': 'audio/ogg',
  '.srt': 'application/x-subrip',
  '.vtt': 'text/vtt',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.rss': 'application/rss+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.gz': 'application/gzip',
};

export function contentTypeFor(key: string): string {
  return CONTENT_TYPES[path.extname(key).toLowerCase()] ?? 'application/octet-stream';
}

export interface UploadInput {
  s3: S3Client;
  /** The client for multipart parts (SDK retries per part); `s3` when not given. */
  partsClient?: () => S3Client;
  bucket: string;
  file: LocalFile;
  signal: AbortSignal;
  log: Logger;
  onProgress?: (bytes: number) => void;
}

export interface UploadResult {
  size: number;
  md5: string;
  etag: string;
  /** The stat of the version that was sent (the hash cache key). */
  mtimeMs: number;
  multipart: boolean;
}

export function uploadFile(input: UploadInput): Promise<UploadResult> {
  const what = `upload ${input.file.key}`;
  const multipart = input.file.size >= MULTIPART_THRESHOLD;
  return withStorageRetry(
    () =>
      guarded(what, input.signal, (watchdog) => (multipart ? uploadMultipart(input, watchdog) : uploadSingle(input, watchdog)), {
        // A buffered PutObject reports no progress: allow for its size on a slow link.
        budgetMs: multipart ? 0 : (input.file.size / MIN_BYTES_PER_SECOND) * 1000,
      }),
    {
      signal: input.signal,
      log: input.log,
      what,
      // NoSuchUpload: a CompleteMultipartUpload whose answer was lost, retried by the SDK,
      // finds its upload gone: start over. BadDigest: the body was damaged on the way.
      alsoRetry: (error) => ['NoSuchUpload', 'BadDigest'].includes(errorCode(error) ?? ''),
    },
  );
}

async function uploadSingle(input: UploadInput, watchdog: Watchdog): Promise<UploadResult> {
  const { file } = input;
  const before = await stat(file.path);
  const body = await readFile(file.path);
  const md5 = createHash('md5').update(body).digest();
  const md5Hex = md5.toString('hex');
  const response = await sendCancellable(input.s3, watchdog.signal, (options) =>
    input.s3.send(
      new PutObjectCommand({
        Bucket: input.bucket,
        Key: file.key,
        Body: body,
        ContentLength: body.length,
        ContentMD5: md5.toString('base64'),
        ContentType: contentTypeFor(file.key),
      }),
      options,
    ),
  );
  input.onProgress?.(body.length);
  const etag = cleanEtag(response.ETag);
  if (etag !== md5Hex) {
    throw new VerificationError(`${file.key}: the bucket's ETag ${etag ?? '(none)'} is not the local MD5 ${md5Hex}`);
  }
  return { size: body.length, md5: md5Hex, etag, mtimeMs: before.mtimeMs, multipart: false };
}

async function uploadMultipart(input: UploadInput, watchdog: Watchdog): Promise<UploadResult> {
  const { file } = input;
  const before = await stat(file.path);
  // Hash while lib-storage reads: the whole-file MD5 and one MD5 per part (it cuts parts
  // at exact multiples of partSize), so the file is read once.
  const whole = createHash('md5');
  const partDigests: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  let total = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      whole.update(chunk);
      total += chunk.length;
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(PART_SIZE - inPart, chunk.length - offset);
        part.update(chunk.subarray(offset, offset + take));
        inPart += take;
        offset += take;
        if (inPart === PART_SIZE) {
          partDigests.push(part.digest());
          part = createHash('md5');
          inPart = 0;
        }
      }
      callback(null, chunk);
    },
  });
  // Loaded on first use: most runs upload no large file, and start-up time counts.
  const { Upload } = await import('@aws-sdk/lib-storage');
  const source = createReadStream(file.path, { highWaterMark: 1024 * 1024 });
  source.on('error', (error) => hasher.destroy(error));
  const upload = new Upload({
    client: input.partsClient?.() ?? input.s3,
    params: { Bucket: input.bucket, Key: file.key, Body: source.pipe(hasher), ContentType: contentTypeFor(file.key) },
    partSize: PART_SIZE,
    queueSize: PART_QUEUE,
    leavePartsOnError: false,
  });
  upload.on('httpUploadProgress', (progress) => {
    watchdog.touch();
    if (progress.loaded !== undefined) input.onProgress?.(progress.loaded);
  });
  const onAbort = () => void upload.abort().catch(() => undefined);
  watchdog.signal.addEventListener('abort', onAbort, { once: true });
  let response;
  try {
    response = await upload.done();
  } finally {
    watchdog.signal.removeEventListener('abort', onAbort);
    source.destroy();
  }
  if (inPart > 0) partDigests.push(part.digest());
  if (total !== before.size) {
    throw new VerificationError(`${file.key}: read ${total} bytes, the file has ${before.size} (changed while uploading?)`);
  }
  const md5 = whole.digest('hex');
  const etag = cleanEtag(response.ETag);
  const multipartEtag = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}`;
  if (etag !== multipartEtag && etag !== md5) {
    throw new VerificationError(`${file.key}: the bucket's ETag ${etag ?? '(none)'} matches neither ${multipartEtag} nor the MD5 ${md5}`);
  }
  return { size: total, md5, etag, mtimeMs: before.mtimeMs, multipart: true };
}
