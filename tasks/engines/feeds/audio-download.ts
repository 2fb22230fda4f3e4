// Episode audio downloads. The body streams into `.<name>.resume` in the target folder and is
// renamed into place only once complete and verified, so no reader ever sees half a file.
// The resume file deliberately does not end in `.partial` (the runner deletes those at
// start): after a crash or kill the next attempt asks for the rest with Range + If-Range,
// and the server's validator (ETag / Last-Modified, kept in `.<name>.resume.json`) makes
// sure both halves come from the same file. Lengths are checked against Content-Length /
// Content-Range; transient failures are retried with backoff, resuming where they stopped.
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { renameIntoPlace, writeFileAtomic } from '../../platform/atomic.ts';
import { withRetry } from '../../platform/retry.ts';
import { HttpError, httpGet, httpRetryOptions, isHttpUrl, stallTimeoutOverride, statusError, toHttpError } from '../../platform/http.ts';
import { classify, errorMessage } from '../../platform/errors.ts';

/** Episodes above this are refused (a 10-hour 320 kbit/s MP3 is about 1.4 GB). */
export const MAX_AUDIO_BYTES = 2 * 1024 ** 3;
/** Downloads in flight per host, across all sites: podcast hosts throttle parallel clients. */
export const PER_HOST_CONCURRENCY = 2;

export interface DownloadOptions {
  url: string;
  finalPath: string;
  signal: AbortSignal;
  maxBytes?: number;
  /** Overrides of the 'audio-download' retry policy (tests). */
  attempts?: number;
  backoffMs?: number;
  idleTimeoutMs?: number;
  /** Bytes on disk so far and the expected total when known. */
  onProgress?: (received: number, total: number | undefined) => void;
  onRetry?: (message: string) => void;
}

export type DownloadOutcome =
  | { kind: 'downloaded'; bytes: number; resumedFrom: number }
  | { kind: 'failed'; reason: string; status?: number };

interface ResumeMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  total?: number;
}

export function resumePaths(finalPath: string): { data: string; meta: string } {
  const dir = path.dirname(finalPath);
  const name = path.basename(finalPath);
  return { data: path.join(dir, `.${name}.resume`), meta: path.join(dir, `.${name}.resume.json`) };
}

/** The file a resume file (data or metadata, by name) belongs to, or undefined for any other name. */
export function resumeTargetOf(name: string): string | undefined {
  return /^\.(.+)\.resume(?:\.json)?$/.exec(name)?.[1];
}


export async function downloadAudio(options: DownloadOptions): Promise<DownloadOutcome> {
  if (!isHttpUrl(options.url)) return { kind: 'failed', reason: `refusing "${options.url}": only http and https URLs are downloaded` };
  const paths = resumePaths(options.finalPath);
  await mkdir(path.dirname(options.finalPath), { recursive: true });
  let resumedFrom = 0;
  try {
    const bytes = await withRetry(
      async () => {
        const result = await attempt(options, paths);
        if (result.resumedFrom > 0 && resumedFrom === 0) resumedFrom = result.resumedFrom;
        return result.bytes;
      },
      httpRetryOptions('audio-download', options),
    );
    return { kind: 'downloaded', bytes, resumedFrom };
  } catch (error) {
    // Interrupted: keep the resume file, the next run continues from it.
    if (options.signal.aborted) throw error;
    const status = error instanceof HttpError ? error.details.status : undefined;
    // A permanent failure (404, refused redirect, over the cap), or bytes without a validator
    // to check a continuation against, leave nothing worth resuming.
    if (classify(error) !== 'retryable' || !(await resumable(options.url, paths))) await discard(paths);
    return { kind: 'failed', reason: errorMessage(error), ...(status ? { status } : {}) };
  }
}

async function discard(paths: { data: string; meta: string }): Promise<void> {
  await rm(paths.data, { force: true });
  await rm(paths.meta, { force: true });
}

/** Bytes already on disk that may be continued (same URL, a validator to check them against). */
async function resumable(url: string, paths: { data: string; meta: string }): Promise<{ size: number; meta: ResumeMeta } | undefined> {
  let meta: ResumeMeta;
  let size: number;
  try {
    meta = JSON.parse(await readFile(paths.meta, 'utf8')) as ResumeMeta;
    size = (await stat(paths.data)).size;
  } catch {
    return undefined;
  }
  if (meta.url !== url || (!meta.etag && !meta.lastModified) || size === 0) return undefined;
  return { size, meta };
}

/** One request: continue or start the resume file; on a complete body, verify and rename. */
async function attempt(options: DownloadOptions, paths: { data: string; meta: string }): Promise<{ bytes: number; resumedFrom: number }> {
  const { url, signal } = options;
  const maxBytes = options.maxBytes ?? MAX_AUDIO_BYTES;
  const previous = await resumable(url, paths);
  const headers: Record<string, string> = {};
  if (previous) {
    headers.range = `bytes=${previous.size}-`;
    // If-Range needs a strong ETag; a weak one falls back to Last-Modified.
    const strongEtag = previous.meta.etag && !previous.meta.etag.startsWith('W/') ? previous.meta.etag : undefined;
    headers['if-range'] = strongEtag ?? previous.meta.lastModified ?? '';
    if (!headers['if-range']) delete headers['if-range'];
  }
  const response = await httpGet(url, { headers, signal, idleTimeoutMs: options.idleTimeoutMs ?? stallTimeoutOverride() ?? 60_000, decompress: false });

  let offset: number;
  let total: number | undefined;
  if (response.status === 206 && previous) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(response.headers['content-range'] ?? '').trim());
    if (!range || Number(range[1]) !== previous.size) {
      response.body.resume();
      await discard(paths);
      throw new HttpError(`server answered Range ${headers.range} with Content-Range "${response.headers['content-range']}"; starting over (${url})`, { url }, 'retryable');
    }
    offset = previous.size;
    total = range[3] === '*' ? previous.meta.total : Number(range[3]);
    if (previous.meta.total !== undefined && total !== previous.meta.total) {
      response.body.resume();
      await discard(paths);
      throw new HttpError(`file size changed on the server (${previous.meta.total} -> ${total} bytes); starting over (${url})`, { url }, 'retryable');
    }
  } else if (response.status === 416 && previous && previous.meta.total === previous.size) {
    // Everything was already received before the interruption.
    response.body.resume();
    return { bytes: await commit(paths, options.finalPath, previous.size, previous.size), resumedFrom: previous.size };
  } else if (response.status === 200) {
    // A fresh body: the server ignored Range, or the file changed (If-Range failed).
    offset = 0;
    const length = Number(response.headers['content-length']);
    total = Number.isFinite(length) && response.headers['content-length'] !== undefined ? length : undefined;
    const meta: ResumeMeta = { url, total };
    const etag = response.headers.etag;
    const lastModified = response.headers['last-modified'];
    if (etag) meta.etag = etag;
    if (lastModified) meta.lastModified = lastModified;
    await writeFileAtomic(paths.meta, JSON.stringify(meta) + '\n');
  } else if (response.status === 416 && previous) {
    response.body.resume();
    await discard(paths);
    throw new HttpError(`server refused Range ${headers.range} (HTTP 416); starting over (${url})`, { url }, 'retryable');
  } else {
    throw statusError(response, 'audio download failed');
  }
  if (total !== undefined && total > maxBytes) {
    response.body.destroy();
    await discard(paths);
    throw new HttpError(`audio is ${total} bytes, above the ${maxBytes}-byte cap (${url})`, { url }, 'permanent');
  }

  const received = await appendBody(response.body, paths.data, offset, total, maxBytes, options);
  const size = offset + received;
  if (total !== undefined && size < total) {
    throw new HttpError(`incomplete body: ${size} of ${total} bytes (${url})`, { url }, 'retryable');
  }
  if (total !== undefined && size > total) {
    await discard(paths);
    throw new HttpError(`body longer than announced: ${size} bytes, expected ${total} (${url})`, { url }, 'retryable');
  }
  return { bytes: await commit(paths, options.finalPath, size, total), resumedFrom: offset };
}

/**
 * Stream `body` into the resume file at `offset` (truncating anything after it). Every chunk
 * received is written before the next is read, so a body cut off mid-way leaves all it delivered
 * on disk for the next attempt's Range request (a write stream destroyed by the error would
 * drop its buffered chunks).
 */
async function appendBody(
  body: NodeJS.ReadableStream,
  file: string,
  offset: number,
  total: number | undefined,
  maxBytes: number,
  options: DownloadOptions,
): Promise<number> {
  const out = await open(file, offset === 0 ? 'w' : 'a');
  let received = 0;
  let lastReport = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (offset + received + chunk.length > maxBytes) {
        throw new HttpError(`audio exceeds the ${maxBytes}-byte cap (${options.url})`, { url: options.url }, 'permanent');
      }
      await out.write(chunk);
      received += chunk.length;
      const now = Date.now();
      if (now - lastReport > 250) {
        lastReport = now;
        options.onProgress?.(offset + received, total);
      }
    }
  } catch (error) {
    throw toHttpError(error, options.url);
  } finally {
    await out.close();
  }
  options.onProgress?.(offset + received, total);
  return received;
}

/** Verify the size, fsync, rename into place and drop the resume metadata. */
async function commit(paths: { data: string; meta: string }, finalPath: string, size: number, total: number | undefined): Promise<number> {
  const actual = (await stat(paths.data)).size;
  if (actual !== size || (total !== undefined && actual !== total)) {
    await discard(paths);
    throw new HttpError(`downloaded file has ${actual} bytes, expected ${total ?? size}`, { url: finalPath }, 'retryable');
  }
  await renameIntoPlace(paths.data, finalPath);
  await rm(paths.meta, { force: true });
  return actual;
}
