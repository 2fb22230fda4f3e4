// One object from the bucket to its local path: streamed (memory stays flat whatever the
// size) through an MD5 into a temporary file that is renamed into place only when every
// byte arrived; the file's mtime becomes the object's LastModified (ARCHITECTURE.md "Sync rules").
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sendCancellable } from '../../aws/clients.ts';
import { createAtomicFile, writeFileAtomic, type PendingFolderSyncs } from '../../platform/atomic.ts';
import type { Logger } from '../../platform/log.ts';
import { VerificationError } from './errors.ts';
import { cleanEtag, md5FromEtag } from './listing.ts';
import { guarded, withStorageRetry } from './watchdog.ts';
import { type StoredFile } from './stored-file.ts';

export interface DownloadInput {
  s3: S3Client;
  bucket: string;
  /** The object as listed. */
  object: StoredFile;
  destPath: string;
  signal: AbortSignal;
  log: Logger;
  /** Bytes received so far in this attempt (restarts at 0 on a retry). */
  onProgress?: (bytes: number) => void;
  /** Sync the folder with the step's other renames (the caller flushes) instead of per file. */
  folderSyncs?: PendingFolderSyncs;
}

export interface DownloadResult {
  size: number;
  md5: string;
  etag?: string;
  modified: Date;
  /** The final file's stat mtimeMs (the hash cache key). */
  mtimeMs: number;
}

/** A verified download waiting to be put in place: in memory (small objects) or in its temporary file. */
export interface FetchedObject {
  /** Write (if held in memory), fsync, set the mtime, rename into place. On failure no temporary file stays. */
  commit(): Promise<DownloadResult>;
}

/** Download and put in place. */
export async function downloadObject(input: DownloadInput): Promise<DownloadResult> {
  return (await fetchObject(input)).commit();
}

/**
 * Download into a temporary file and verify it, retrying transient failures; the commit is
 * separate so the caller can release its network slot before the disk work.
 */
export function fetchObject(input: DownloadInput): Promise<FetchedObject> {
  const what = `download ${input.object.key}`;
  return withStorageRetry(() => guarded(what, input.signal, (watchdog) => attempt(input, watchdog)), {
    signal: input.signal,
    log: input.log,
    what,
  });
}

/**
 * Objects up to this size are received into memory and written with one call; larger ones
 * stream to disk. Bounded by the number of transfers in flight (32 x 1 MiB at most).
 */
const BUFFERED_MAX_BYTES = 1024 * 1024;

async function attempt(input: DownloadInput, watchdog: { signal: AbortSignal; touch(): void }): Promise<FetchedObject> {
  const { object } = input;
  const response = await sendCancellable(input.s3, watchdog.signal, new GetObjectCommand({ Bucket: input.bucket, Key: object.key }), (command, options) => input.s3.send(command, options));
  watchdog.touch();
  const body = response.Body as Readable | undefined;
  if (!body) throw new VerificationError(`GetObject ${object.key} returned no body`);
  const expected = response.ContentLength ?? object.size;

  const hash = createHash('md5');
  let received = 0;
  const count = (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    watchdog.touch();
    input.onProgress?.(received);
  };
  const verify = () => {
    if (received !== expected) throw new VerificationError(`${object.key}: received ${received} bytes, expected ${expected}`);
    const md5 = hash.digest('hex');
    const etag = cleanEtag(response.ETag) ?? object.etag;
    // A plain ETag that differs from the content's MD5 is not corruption: SSE-KMS objects
    // and some servers' multipart objects have such ETags. The length check above is what
    // catches a cut-off transfer; the hash cache remembers this ETag for this version.
    if (md5FromEtag(etag) && etag !== md5) input.log.debug(`${object.key}: ETag ${etag} is not the content MD5 ${md5}`);
    // The listing's time is more precise than the Last-Modified header (whole seconds).
    const modified = etag === object.etag ? object.modified : (response.LastModified ?? object.modified);
    return { size: received, md5, etag, modified };
  };
  if (expected <= BUFFERED_MAX_BYTES) {
    // Small object: no stream plumbing per file; the disk sees it only at commit.
    const chunks: Buffer[] = [];
    const onAbort = () => body.destroy(watchdog.signal.reason as Error);
    watchdog.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const chunk of body) {
        count(chunk as Buffer);
        chunks.push(chunk as Buffer);
      }
    } finally {
      watchdog.signal.removeEventListener('abort', onAbort);
    }
    watchdog.signal.throwIfAborted();
    const verified = verify();
    const content = Buffer.concat(chunks);
    return {
      async commit() {
        const info = await writeFileAtomic(input.destPath, content, { mtime: verified.modified, folderSyncs: input.folderSyncs });
        return { ...verified, mtimeMs: info.mtimeMs };
      },
    };
  }

  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count(chunk);
      callback(null, chunk);
    },
  });
  const file = await createAtomicFile(input.destPath);
  try {
    await pipeline(body, meter, file.stream, { signal: watchdog.signal });
    const verified = verify();
    return {
      async commit() {
        try {
          const info = await file.commit({ mtime: verified.modified, folderSyncs: input.folderSyncs });
          return { ...verified, mtimeMs: info.mtimeMs };
        } catch (error) {
          await file.abort();
          throw error;
        }
      },
    };
  } catch (error) {
    await file.abort();
    throw error;
  }
}
