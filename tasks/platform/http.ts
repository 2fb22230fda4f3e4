// A small HTTP GET for feeds and audio on node:http(s): only http and https, redirects
// (301/302/303/307/308, at most 8, every hop re-checked), an idle timeout, optional gzip /
// deflate / brotli decoding, a real User-Agent, and errors that say what went wrong and
// whether trying again may help (HttpError.errorClass, Retry-After).
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import type { RetryOptions, RetryPolicyName } from './retry.ts';
import { classify, classifyStatus, errorMessage, RunnerError, type ErrorClass } from './errors.ts';

export const USER_AGENT = 'podcast-ingest/0.1.0 (nightly podcast-search ingestion; +https://browse.show) node/' + process.versions.node;
const MAX_REDIRECTS = 8;
/** The longest Retry-After we wait for; a server asking for more fails this run. */
export const MAX_RETRY_AFTER_MS = 60_000;

export interface HttpErrorDetails {
  url: string;
  status?: number;
  /** Retry-After, in ms; withRetry waits this long instead of backing off. */
  retryAfterMs?: number;
  code?: string;
}

export class HttpError extends RunnerError {
  override name = 'HttpError';
  constructor(
    message: string,
    readonly details: HttpErrorDetails,
    errorClass: ErrorClass,
    cause?: unknown,
  ) {
    super(message, { errorClass, code: details.code, cause });
  }

  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }
}

export interface GetOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Socket inactivity limit, connect included. */
  idleTimeoutMs?: number;
  /** Ask for and decode compressed bodies (feeds); audio is fetched as is. */
  decompress?: boolean;
}

export interface GetResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL after redirects. */
  url: string;
  /** Where an unbroken chain of permanent redirects (301, 308) from the start led, if anywhere. */
  movedPermanentlyTo?: string;
  body: Readable;
}

export function isHttpUrl(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * INGEST_STALL_TIMEOUT_MS, when set: how long a request may make no progress, for feeds and audio
 * as for S3 transfers (tasks/engines/sync/watchdog.ts). Undefined when unset (each caller's default).
 */
export function stallTimeoutOverride(): number | undefined {
  const fromEnv = Number(process.env.INGEST_STALL_TIMEOUT_MS);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}

/** GET `url`, following redirects. Resolves once response headers arrive (any status). */
export async function httpGet(url: string, options: GetOptions = {}): Promise<GetResponse> {
  let current = url;
  let permanent: string | undefined;
  let onlyPermanent = true;
  for (let hop = 0; ; hop++) {
    if (!isHttpUrl(current)) {
      throw new HttpError(`refusing ${hop === 0 ? 'URL' : 'redirect to'} "${current}": only http and https are fetched`, { url }, 'permanent');
    }
    const res = await requestOnce(current, options);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new HttpError(`too many redirects (more than ${MAX_REDIRECTS}) starting at ${url}`, { url, status }, 'permanent');
      current = new URL(location, current).toString();
      onlyPermanent &&= status === 301 || status === 308;
      if (onlyPermanent) permanent = current;
      continue;
    }
    return { status, headers: res.headers, url: current, ...(permanent ? { movedPermanentlyTo: permanent } : {}), body: decode(res, options.decompress ?? false) };
  }
}

function requestOnce(url: string, options: GetOptions): Promise<IncomingMessage> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(
      url,
      {
        headers: {
          'user-agent': USER_AGENT,
          accept: '*/*',
          'accept-encoding': options.decompress ? 'gzip, deflate, br' : 'identity',
          ...options.headers,
        },
        signal: options.signal,
      },
      resolve,
    );
    const idle = options.idleTimeoutMs ?? stallTimeoutOverride() ?? 30_000;
    req.setTimeout(idle, () => {
      req.destroy(new HttpError(`no data for ${idle} ms from ${new URL(url).host} (${url})`, { url, code: 'ETIMEDOUT' }, 'retryable'));
    });
    req.on('error', (error) => reject(toHttpError(error, url)));
  });
}

function decode(res: IncomingMessage, decompress: boolean): Readable {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (!decompress || encoding === '' || encoding === 'identity') return res;
  const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip() : encoding === 'deflate' ? zlib.createInflate() : encoding === 'br' ? zlib.createBrotliDecompress() : undefined;
  if (!decoder) {
    res.resume();
    const error = new HttpError(`unsupported Content-Encoding "${encoding}"`, { url: res.url ?? '' }, 'permanent');
    const failed = zlib.createGunzip();
    failed.destroy(error);
    return failed;
  }
  res.on('error', (error) => decoder.destroy(error));
  return res.pipe(decoder);
}

/** Wrap a network error with its URL and class (classify's table; never fatal but for an abort). */
export function toHttpError(error: unknown, url: string): HttpError {
  if (error instanceof HttpError) return error;
  const e = error as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') {
    // A per-attempt time limit (AbortSignal.timeout) is worth another attempt; the run's own abort is not.
    if ((e as { cause?: { name?: string } }).cause?.name === 'TimeoutError') {
      return new HttpError(`no complete response within the time limit (${url})`, { url, code: 'TimeoutError' }, 'retryable', error);
    }
    return Object.assign(new HttpError(`aborted: ${url}`, { url, code: 'ABORT_ERR' }, 'fatal', error), { name: 'AbortError' });
  }
  // node's "aborted": the server closed the connection mid-body.
  const cutOff = e?.message === 'aborted';
  const message = cutOff ? 'connection closed before the body was complete' : (e?.message ?? String(error));
  // A request that failed is about this URL (a bad URL throws a TypeError), not a bug of the run.
  const errorClass = cutOff || classify(e) === 'retryable' ? 'retryable' : 'permanent';
  return new HttpError(`${message} (${url})`, { url, code: e?.code }, errorClass, error);
}

/** Error for a non-success status, with Retry-After honoured on 429 and 503. */
export function statusError(response: GetResponse, what: string): HttpError {
  const { status } = response;
  response.body.resume();
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response.headers['retry-after']) : undefined;
  // A server asking for a longer wait than we give it has failed this item for this run.
  const tooLong = retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS;
  const wait = retryAfterMs !== undefined ? `, Retry-After ${Math.round(retryAfterMs / 1000)} s` : '';
  return new HttpError(
    `${what}: HTTP ${status} ${http.STATUS_CODES[status] ?? ''}${wait} (${response.url})`.replace(' :', ':'),
    { url: response.url, status, retryAfterMs },
    tooLong ? 'permanent' : classifyStatus(status),
  );
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  if (/^\s*\d+\s*$/.test(raw)) return Number(raw) * 1000;
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Read a whole body, refusing more than `maxBytes` (after decompression). */
export async function readBody(body: Readable, maxBytes: number, url: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        body.destroy();
        throw new HttpError(`body larger than the ${maxBytes}-byte cap (${url})`, { url }, 'permanent');
      }
      chunks.push(chunk);
    }
  } catch (error) {
    throw toHttpError(error, url);
  }
  return Buffer.concat(chunks);
}

export interface HttpRetrySettings {
  /** Overrides of the policy's numbers: tests (short backoffs) and the feed command. */
  attempts?: number;
  /** Base of the exponential backoff. */
  backoffMs?: number;
  signal?: AbortSignal;
  onRetry?: (message: string) => void;
}

/** Retries shared by feed fetches and episode downloads: the policy, Retry-After (withRetry), one message per retry. */
export function httpRetryOptions(policy: RetryPolicyName, settings: HttpRetrySettings): RetryOptions {
  return {
    policy,
    override: { attempts: settings.attempts, baseMs: settings.backoffMs },
    signal: settings.signal,
    onRetry: (error, attempt, delay) => settings.onRetry?.(`${errorMessage(error)}; attempt ${attempt + 1} in ${Math.round(delay)} ms`),
  };
}
