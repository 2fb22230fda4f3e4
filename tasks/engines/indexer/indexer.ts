// The indexer: for one site's bucket, turn every transcript that has no search entries yet
// into `search-entries/<podcastId>/<fileKey>.json` (ARCHITECTURE.md "File layout"). It runs as the site's Lambda
// function (tasks/engines/indexer/lambda.ts) and, for the demo and the tests, behind the local
// Lambda endpoint (tasks/demo/local/lambda-server.ts). Self-contained: it must bundle for Lambda.
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { entriesKeyFor, ENTRIES_KEY, episodeOfKey, EpisodeLookup, transcriptEntries, TRANSCRIPT_KEY } from './episodes.ts';
import { MANIFEST_KEY } from '../../site/manifest.ts';
import { mapPool } from '../../platform/limiter.ts';
import { describeError } from '../../aws/errors.ts';
import { classify, RunnerError, type ErrorClass } from '../../platform/errors.ts';

/** Objects read and written at once: small files, latency-bound. */
const CONCURRENCY = 8;

/** What the runner's index step sends (every field optional: a bare `{}` indexes everything). */
export interface IndexerEvent {
  bucket?: string;
  site?: string;
  runId?: string;
  uploadedKeys?: string[];
  uploadedCount?: number;
}

export interface IndexerResult {
  bucket: string;
  transcripts: number;
  alreadyIndexed: number;
  /** search-entries keys written by this invocation. */
  written: string[];
  entries: number;
  failed: { key: string; message: string }[];
}

/** A failure of the whole invocation, named so Lambda reports it as errorType. */
export class IndexerError extends RunnerError {
  override name = 'IndexerError';
  /** Permanent unless an S3 failure (`cause`) says otherwise. */
  constructor(message: string, options: { errorClass?: ErrorClass; cause?: unknown } = {}) {
    super(message, { errorClass: options.errorClass ?? (options.cause === undefined ? 'permanent' : classify(options.cause)), cause: options.cause });
  }
}

/** Index one bucket. Per-transcript failures are collected; the caller decides whether they fail the invocation. */
export async function indexBucket(s3: S3Client, bucket: string): Promise<IndexerResult> {
  let keys: string[];
  try {
    keys = await listKeys(s3, bucket, ['transcripts/', 'search-entries/']);
  } catch (error) {
    throw new IndexerError(`cannot list s3://${bucket}: ${describeError(error)}`, { cause: error });
  }
  const indexed = new Set(keys.map((key) => episodeOfKey(key, ENTRIES_KEY)).filter((e) => e !== undefined).map((e) => `${e.podcastId}/${e.fileKey}`));
  const transcripts = keys.map((key) => ({ key, episode: episodeOfKey(key, TRANSCRIPT_KEY) })).filter((t) => t.episode !== undefined);
  const pending = transcripts.filter((t) => !indexed.has(`${t.episode!.podcastId}/${t.episode!.fileKey}`));
  const result: IndexerResult = {
    bucket,
    transcripts: transcripts.length,
    alreadyIndexed: transcripts.length - pending.length,
    written: [],
    entries: 0,
    failed: [],
  };
  if (pending.length === 0) return result;

  const episodes = await readManifest(s3, bucket);
  await mapPool(pending, CONCURRENCY, async ({ key, episode }) => {
    try {
      const converted = transcriptEntries(await getBytes(s3, bucket, key), episodes, episode!, key);
      if (!converted.ok) {
        result.failed.push({ key, message: converted.reason });
        return;
      }
      const target = entriesKeyFor(episode!.podcastId, episode!.fileKey);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: target, Body: JSON.stringify(converted.entries), ContentType: 'application/json' }));
      result.written.push(target);
      result.entries += converted.entries.length;
    } catch (error) {
      result.failed.push({ key, message: describeError(error) });
    }
  });
  result.written.sort();
  return result;
}

export interface IndexerOptions {
  /** The site's bucket (Lambda: the INDEXER_BUCKET environment variable); else the event's `bucket`. */
  bucket?: string;
  /** An S3 client, or its configuration (endpoint, credentials) for S3-compatible stores. */
  s3?: S3Client | S3ClientConfig;
}

/** A Lambda-compatible handler bound to one site's bucket. Throws (a function error) when any transcript failed. */
export function createIndexerHandler(options: IndexerOptions = {}): (event: unknown) => Promise<IndexerResult> {
  let client: S3Client | undefined = options.s3 instanceof S3Client ? options.s3 : undefined;
  return async (event) => {
    // The function's own bucket wins: a payload must not point it at another site's bucket.
    const fromEvent = (event as IndexerEvent | undefined)?.bucket;
    const bucket = options.bucket ?? process.env.INDEXER_BUCKET ?? (typeof fromEvent === 'string' ? fromEvent : undefined);
    if (!bucket) throw new IndexerError('no bucket: the event names none and INDEXER_BUCKET is not set', { errorClass: 'fatal' });
    client ??= new S3Client({
      // The SDK's default checksums stream aws-chunked bodies some S3-compatible stores keep verbatim.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(process.env.INDEXER_S3_ENDPOINT ? { endpoint: process.env.INDEXER_S3_ENDPOINT, forcePathStyle: true } : {}),
      ...(options.s3 instanceof S3Client ? {} : options.s3),
    });
    const result = await indexBucket(client, bucket);
    if (result.failed.length > 0) {
      const first = result.failed.slice(0, 3).map((f) => `${f.key}: ${f.message}`).join('; ');
      throw new IndexerError(
        `${result.failed.length} of ${result.transcripts - result.alreadyIndexed} transcripts in ${bucket} could not be indexed (${result.written.length} written): ${first}`,
      );
    }
    return result;
  };
}

async function listKeys(s3: S3Client, bucket: string, prefixes: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const prefix of prefixes) {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return keys;
}

async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (!out.Body) throw new Error(`${key}: empty response body`);
  return out.Body.transformToByteArray();
}

async function readManifest(s3: S3Client, bucket: string): Promise<EpisodeLookup> {
  let text: string;
  try {
    text = new TextDecoder().decode(await getBytes(s3, bucket, MANIFEST_KEY));
  } catch (error) {
    throw new IndexerError(`cannot read ${MANIFEST_KEY} from ${bucket}: ${describeError(error)}`, { cause: error });
  }
  const parsed = EpisodeLookup.parse(text);
  if (!parsed.ok) throw new IndexerError(`${parsed.reason} (in ${bucket})`);
  return parsed.lookup;
}
