// Fetch one feed: conditional request with the validators remembered from the last fetch
// (an unchanged feed costs a 304 and no body), retries with backoff (Retry-After honoured on
// 429/503), a size cap. Returns an outcome; never throws except on abort.
import { withRetry } from '../../platform/retry.ts';
import { charsetOf } from './decode.ts';
import { httpGet, httpRetryOptions, readBody, statusError, type HttpError } from '../../platform/http.ts';
import { MAX_FEED_BYTES } from './parse.ts';
import { errorMessage } from '../../platform/errors.ts';

export interface Validators {
  etag?: string;
  lastModified?: string;
}

export type FetchOutcome =
  | { kind: 'not-modified'; url: string }
  | { kind: 'fetched'; url: string; bytes: Buffer; charset?: string; validators: Validators; movedPermanentlyTo?: string }
  | { kind: 'failed'; url: string; reason: string; status?: number };

export interface FetchOptions {
  validators?: Validators;
  signal?: AbortSignal;
  /** Overrides of the 'feed-fetch' retry policy (tests, the feed command). */
  attempts?: number;
  /** Base of the exponential backoff (tests shorten it). */
  backoffMs?: number;
  idleTimeoutMs?: number;
  /** Whole-fetch limit per attempt. */
  totalTimeoutMs?: number;
  maxBytes?: number;
  onRetry?: (message: string) => void;
}

export async function fetchFeed(url: string, options: FetchOptions = {}): Promise<FetchOutcome> {
  const conditional: Record<string, string> = {};
  if (options.validators?.etag) conditional['if-none-match'] = options.validators.etag;
  if (options.validators?.lastModified) conditional['if-modified-since'] = options.validators.lastModified;
  try {
    return await withRetry(
      async () => {
        const signal = AbortSignal.any([options.signal ?? new AbortController().signal, AbortSignal.timeout(options.totalTimeoutMs ?? 120_000)]);
        const response = await httpGet(url, {
          headers: { accept: 'application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5', ...conditional },
          signal,
          idleTimeoutMs: options.idleTimeoutMs,
          decompress: true,
        });
        if (response.status === 304 && Object.keys(conditional).length > 0) {
          response.body.resume();
          return { kind: 'not-modified', url: response.url } as const;
        }
        if (response.status !== 200) throw statusError(response, 'feed request failed');
        const bytes = await readBody(response.body, options.maxBytes ?? MAX_FEED_BYTES, response.url);
        const etag = header(response.headers.etag);
        const lastModified = header(response.headers['last-modified']);
        return {
          kind: 'fetched',
          url: response.url,
          bytes,
          charset: charsetOf(header(response.headers['content-type'])),
          validators: { ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) },
          ...(response.movedPermanentlyTo ? { movedPermanentlyTo: response.movedPermanentlyTo } : {}),
        } as const;
      },
      httpRetryOptions('feed-fetch', options),
    );
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const status = (error as HttpError).details?.status;
    return { kind: 'failed', url, reason: errorMessage(error), ...(status ? { status } : {}) };
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
