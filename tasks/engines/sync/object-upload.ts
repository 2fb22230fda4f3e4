// One local file to the bucket, verified (ARCHITECTURE.md "Sync rules"). Small files: one PutObject with
// Content-MD5 (the server rejects a body that does not match) and the returned ETag compared
// with the local MD5. Large files: a multipart upload (@aws-sdk/lib-storage) whose final ETag
// is checked against the MD5 of the part MD5s ("<hex>-<parts>", as AWS computes it) or the
// whole-file MD5 (servers that store multipart objects with a plain MD5 ETag).
// Objects stored with SSE-KMS (aws:kms, aws:kms:dsse) or SSE-C have an ETag that is not
// derived from the content's MD5: there the upload rests on what the server itself checked
// (see opaqueEtag), and the ETag is recorded as the server gave it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sendCancellable } from '../../aws/clients.ts';
import type { Logger } from '../../platform/log.ts';
import type { LocalFile } from './diff.ts';
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
    // NoSuchUpload (a lost CompleteMultipartUpload answer) and BadDigest start over: CODE_CLASSES in tasks/platform/errors.ts.
    { signal: input.signal, log: input.log, what },
  );
}

async function uploadSingle(input: UploadInput, watchdog: Watchdog): Promise<UploadResult> {
  const { file } = input;
  const before = await stat(file.path);
  const body = await readFile(file.path);
  const md5 = createHash('md5').update(body).digest();
  const md5Hex = md5.toString('hex');
  const response = await sendCancellable(
    input.s3,
    watchdog.signal,
    new PutObjectCommand({
      Bucket: input.bucket,
      Key: file.key,
      Body: body,
      ContentLength: body.length,
      ContentMD5: md5.toString('base64'),
      ContentType: contentTypeFor(file.key),
    }),
    (command, options) => input.s3.send(command, options),
  );
  input.onProgress?.(body.length);
  const etag = cleanEtag(response.ETag);
  if (etag === undefined) throw new VerificationError(`${file.key}: the bucket returned no ETag`);
  // With SSE-KMS or SSE-C the ETag is not the MD5; the server accepted the body against our
  // Content-MD5 (a mismatch is BadDigest), which is the proof. Otherwise a different ETag
  // means the stored object is not what we sent.
  if (!opaqueEtag(response) && etag !== md5Hex) {
    throw new VerificationError(`${file.key}: the bucket's ETag ${etag} is not the local MD5 ${md5Hex}`);
  }
  return { size: body.length, md5: md5Hex, etag, mtimeMs: before.mtimeMs, multipart: false };
}

/**
 * Whether the response says the object's ETag is not derived from its MD5: S3 documents the
 * ETag as the content MD5 (or the multipart "<md5 of part md5s>-<parts>") only for objects
 * that are unencrypted or SSE-S3 (AES256); SSE-KMS, DSSE-KMS and SSE-C ETags are opaque.
 */
function opaqueEtag(response: { ServerSideEncryption?: string; SSECustomerAlgorithm?: string }): boolean {
  const sse = response.ServerSideEncryption;
  return (sse !== undefined && sse !== 'AES256') || response.SSECustomerAlgorithm !== undefined;
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
  if (etag === undefined) throw new VerificationError(`${file.key}: the bucket returned no ETag`);
  if (opaqueEtag(response)) {
    // SSE-KMS / SSE-C: neither the final ETag nor the part ETags derive from the content.
    // lib-storage sends no Content-MD5 per part (aws-sdk-js-v3#2673; a ContentMD5 param would
    // be copied to every part), but each part is a Buffer the SDK signs with its SHA-256
    // (x-amz-content-sha256), which S3 checks against the body (XAmzContentSHA256Mismatch):
    // every part arrived intact. What is left to check is that the object is made of the
    // parts we cut: all the file's bytes were read (above), and the ETag's "-<parts>"
    // suffix, where the server gives one, counts as many parts as we sent.
    const parts = /-(\d+)$/.exec(etag)?.[1];
    if (parts !== undefined && Number(parts) !== partDigests.length) {
      throw new VerificationError(`${file.key}: the bucket's ETag ${etag} counts ${parts} parts, ${partDigests.length} were sent`);
    }
    return { size: total, md5, etag, mtimeMs: before.mtimeMs, multipart: true };
  }
  const multipartEtag = `${createHash('md5').update(Buffer.concat(partDigests)).digest('hex')}-${partDigests.length}`;
  if (etag !== multipartEtag && etag !== md5) {
    throw new VerificationError(`${file.key}: the bucket's ETag ${etag} matches neither ${multipartEtag} nor the MD5 ${md5}`);
  }
  return { size: total, md5, etag, mtimeMs: before.mtimeMs, multipart: true };
}
