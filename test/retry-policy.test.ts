// The one retry-policy table and the one error classification, pinned: changing a policy's
// numbers or the class of any error below must change this file too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { classify, UsageError, type ErrorClass } from '../tasks/platform/errors.ts';
import { isTransientError, RETRY_POLICIES, retryPolicy, withRetry, type RetryPolicyName } from '../tasks/platform/retry.ts';
import { HttpError, MAX_RETRY_AFTER_MS, statusError, toHttpError } from '../tasks/platform/http.ts';
import { ProcessError } from '../tasks/platform/process.ts';
import { StallError, VerificationError } from '../tasks/engines/sync/errors.ts';
import { AssumeRoleError } from '../tasks/aws/credentials.ts';
import { IndexerError } from '../tasks/engines/indexer/indexer.ts';

test('retry policies: every policy and its numbers', () => {
  assert.deepEqual(RETRY_POLICIES, {
    's3-object': { attempts: 6, baseMs: 300, maxMs: 8_000 },
    's3-listing': { attempts: 4, baseMs: 300, maxMs: 8_000 },
    sts: { attempts: 4, baseMs: 300, maxMs: 10_000 },
    'lambda-invoke': { attempts: 6, baseMs: 500, maxMs: 10_000 },
    'feed-fetch': { attempts: 4, baseMs: 1_000, maxMs: 30_000 },
    'audio-download': { attempts: 5, baseMs: 1_000, maxMs: 30_000 },
    'check-access': { attempts: 3, baseMs: 300, maxMs: 10_000 },
  });
  // An override replaces only the numbers it gives (an undefined one keeps the policy's).
  assert.deepEqual(retryPolicy('feed-fetch', { attempts: 2, baseMs: undefined }), { attempts: 2, baseMs: 1_000, maxMs: 30_000 });
});

/** An AWS SDK v3 service error as the SDK builds it: named after the AWS code, with $metadata. */
function sdkError(name: string, status: number, metadata: object = {}): Error {
  return Object.assign(new Error(`${name} message`), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status, attempts: 1, ...metadata } });
}

/** A node network error (the SDK's handler adds $metadata without a status). */
function netError(code: string, metadata = false): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, syscall: 'connect', ...(metadata ? { $metadata: { attempts: 1 } } : {}) });
}

function response(status: number, headers: Record<string, string> = {}) {
  return { status, headers, url: 'http://feeds.example/feed.xml', body: Readable.from([]) };
}

const nodeAbort = await sleep(1_000, undefined, { signal: AbortSignal.abort() }).catch((error: unknown) => error);
const TypeErrorBug = (() => {
  try {
    (undefined as unknown as { x: number }).x;
  } catch (error) {
    return error;
  }
})();
const invalidUrl = (() => {
  try {
    new URL('not a url');
  } catch (error) {
    return error;
  }
})();
const badJson = (() => {
  try {
    JSON.parse('{');
  } catch (error) {
    return error;
  }
})();

const ERRORS: [label: string, error: unknown, expected: ErrorClass][] = [
  // SDK-shaped service errors: S3, STS, Lambda, S3-compatible stores.
  ['S3 SlowDown 503', sdkError('SlowDown', 503), 'retryable'],
  ['S3 InternalError 500', sdkError('InternalError', 500), 'retryable'],
  ['ServiceUnavailable 503', sdkError('ServiceUnavailable', 503), 'retryable'],
  ['STS Throttling 400', sdkError('Throttling', 400), 'retryable'],
  ['Lambda TooManyRequestsException 429', sdkError('TooManyRequestsException', 429), 'retryable'],
  ['Lambda ServiceException 500', sdkError('ServiceException', 500), 'retryable'],
  ['S3 RequestTimeout 400', sdkError('RequestTimeout', 400), 'retryable'],
  ['S3 NoSuchUpload 404 (lost CompleteMultipartUpload answer)', sdkError('NoSuchUpload', 404), 'retryable'],
  ['S3 BadDigest 400', sdkError('BadDigest', 400), 'retryable'],
  ['unparsable body 502 (UnknownError)', sdkError('UnknownError', 502), 'retryable'],
  ['unknown code 429', sdkError('Whatever', 429), 'retryable'],
  ['unknown code 408', sdkError('Whatever', 408), 'retryable'],
  ['Code field SlowDown', Object.assign(sdkError('Unknown', 400), { Code: 'SlowDown' }), 'retryable'],
  ['RequestTimeTooSkewed 403, clock corrected', sdkError('RequestTimeTooSkewed', 403, { clockSkewCorrected: true }), 'retryable'],
  ['RequestTimeTooSkewed 403', sdkError('RequestTimeTooSkewed', 403), 'permanent'],
  ['S3 AccessDenied 403', sdkError('AccessDenied', 403), 'permanent'],
  ['Lambda AccessDeniedException 403', sdkError('AccessDeniedException', 403), 'permanent'],
  ['InvalidAccessKeyId 403', sdkError('InvalidAccessKeyId', 403), 'permanent'],
  ['S3 NoSuchBucket 404', sdkError('NoSuchBucket', 404), 'permanent'],
  ['S3 NoSuchKey 404', sdkError('NoSuchKey', 404), 'permanent'],
  ['Lambda ResourceNotFoundException 404', sdkError('ResourceNotFoundException', 404), 'permanent'],
  ['unknown code 412', sdkError('PreconditionFailed', 412), 'permanent'],
  ['CredentialsProviderError', Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }), 'permanent'],
  // node network errors, bare and as the SDK passes them on.
  ['ECONNRESET', netError('ECONNRESET'), 'retryable'],
  ['ECONNREFUSED (SDK, $metadata)', netError('ECONNREFUSED', true), 'retryable'],
  ['ETIMEDOUT', netError('ETIMEDOUT'), 'retryable'],
  ['EPIPE', netError('EPIPE'), 'retryable'],
  ['ENOTFOUND', netError('ENOTFOUND'), 'retryable'],
  ['EAI_AGAIN', netError('EAI_AGAIN'), 'retryable'],
  ['EHOSTUNREACH', netError('EHOSTUNREACH'), 'retryable'],
  ['UND_ERR_SOCKET', netError('UND_ERR_SOCKET'), 'retryable'],
  ['SDK TimeoutError', Object.assign(new Error('Connection timed out after 10000 ms'), { name: 'TimeoutError' }), 'retryable'],
  ['AbortSignal.timeout reason (DOMException TimeoutError)', new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'retryable'],
  ['ECONNRESET as a cause', new Error('request failed', { cause: netError('ECONNRESET') }), 'retryable'],
  ['ENOENT', Object.assign(new Error('no such file'), { code: 'ENOENT' }), 'permanent'],
  ['invalid URL (TypeError with a code)', invalidUrl, 'permanent'],
  // Aborts: the run (or the caller) gave up.
  ['DOMException AbortError', AbortSignal.abort().reason, 'fatal'],
  ['node AbortError (ABORT_ERR)', nodeAbort, 'fatal'],
  ['SDK AbortError', Object.assign(new Error('Request aborted'), { name: 'AbortError' }), 'fatal'],
  // Bugs and everything else.
  ['TypeError without a code (a bug)', TypeErrorBug, 'fatal'],
  ['ReferenceError (a bug)', new ReferenceError('x is not defined'), 'fatal'],
  ['a thrown string', 'boom', 'fatal'],
  ['plain Error', new Error('expected status 204 for a DryRun invoke, got 200'), 'permanent'],
  ['JSON SyntaxError', badJson, 'permanent'],
  // Our own classes, each declaring its class.
  ['UsageError', new UsageError('--sites: unknown site "x"'), 'fatal'],
  ['StallError', new StallError('download audio/x.mp3', 60_000), 'retryable'],
  ['VerificationError', new VerificationError('audio/x.mp3: received 3 bytes, expected 4'), 'retryable'],
  ['HTTP 404', statusError(response(404), 'feed request failed'), 'permanent'],
  ['HTTP 410', statusError(response(410), 'feed request failed'), 'permanent'],
  ['HTTP 408', statusError(response(408), 'feed request failed'), 'retryable'],
  ['HTTP 503', statusError(response(503), 'feed request failed'), 'retryable'],
  ['HTTP 429, Retry-After 0 s', statusError(response(429, { 'retry-after': '0' }), 'feed request failed'), 'retryable'],
  ['HTTP 429, Retry-After beyond the cap', statusError(response(429, { 'retry-after': String(MAX_RETRY_AFTER_MS / 1000 + 1) }), 'feed request failed'), 'permanent'],
  ['HTTP connection reset', toHttpError(netError('ECONNRESET'), 'http://a.example/x'), 'retryable'],
  ['HTTP body cut off ("aborted")', toHttpError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), 'http://a.example/x'), 'retryable'],
  ['HTTP per-attempt time limit', toHttpError(Object.assign(new Error('aborted'), { name: 'AbortError', cause: new DOMException('t', 'TimeoutError') }), 'http://a.example/x'), 'retryable'],
  ['HTTP run abort', toHttpError(nodeAbort, 'http://a.example/x'), 'fatal'],
  ['HTTP unescaped path (a bad URL, not a bug)', toHttpError(Object.assign(new TypeError('Request path contains unescaped characters'), { code: 'ERR_UNESCAPED_CHARACTERS' }), 'http://a.example/x y'), 'permanent'],
  ['HttpError over the size cap', new HttpError('body larger than the cap', { url: 'http://a.example/x' }, 'permanent'), 'permanent'],
  ['AssumeRoleError, refused', new AssumeRoleError('arn:aws:iam::1:role/r', 'AccessDenied', 'denied', { errorClass: classify(sdkError('AccessDenied', 403)) }), 'permanent'],
  ['AssumeRoleError, STS unavailable', new AssumeRoleError('arn:aws:iam::1:role/r', 'ServiceUnavailable', 'busy', { errorClass: classify(sdkError('ServiceUnavailable', 503)) }), 'retryable'],
  ['ProcessError, nonzero exit', new ProcessError({ command: 'ffmpeg', meaning: 'ffmpeg cannot decode the audio (exit 1)', exitCode: 1 }), 'permanent'],
  ['ProcessError, killed at its time limit', new ProcessError({ command: 'whisper-cli', meaning: 'whisper-cli was stopped (SIGTERM)', exitCode: null, signal: 'SIGTERM' }), 'retryable'],
  ['ProcessError, truncated output', new ProcessError({ command: 'ffmpeg', meaning: 'audio is truncated or corrupt', exitCode: 0, code: 'truncated' }), 'permanent'],
  ['IndexerError', new IndexerError('manifest.json has no "episodes" array'), 'permanent'],
  ['IndexerError, S3 throttled', new IndexerError('cannot list s3://b', { cause: sdkError('SlowDown', 503) }), 'retryable'],
  ['IndexerError, no bucket', new IndexerError('no bucket', { errorClass: 'fatal' }), 'fatal'],
];

test('classification: SDK errors, network errors, aborts, bugs and our own classes', () => {
  const actual = ERRORS.map(([label, error]) => [label, classify(error)]);
  assert.deepEqual(actual, ERRORS.map(([label, , expected]) => [label, expected]));
  for (const [label, error, expected] of ERRORS) assert.equal(isTransientError(error), expected === 'retryable', label);
});

test('withRetry retries exactly the retryable errors, up to the attempts', async () => {
  const calls = await Promise.all(
    ERRORS.map(async ([label, error]) => {
      let n = 0;
      await assert.rejects(
        withRetry(
          async () => {
            n++;
            throw error;
          },
          { policy: 's3-object', override: { attempts: 3, baseMs: 1, maxMs: 1 } },
        ),
        (thrown: unknown) => thrown === error,
      );
      return [label, n];
    }),
  );
  assert.deepEqual(calls, ERRORS.map(([label, , expected]) => [label, expected === 'retryable' ? 3 : 1]));
});

test('withRetry: the policy\'s attempts, Retry-After, the abort, and the old option form', async () => {
  const failing = (error: unknown) => {
    let n = 0;
    return {
      fn: async () => {
        n++;
        throw error;
      },
      calls: () => n,
    };
  };
  // The policy's own attempts, with the backoff shortened only.
  for (const policy of Object.keys(RETRY_POLICIES) as RetryPolicyName[]) {
    const f = failing(netError('ECONNRESET'));
    await assert.rejects(withRetry(f.fn, { policy, override: { baseMs: 0 } }));
    assert.equal(f.calls(), RETRY_POLICIES[policy].attempts, policy);
  }
  // A server's Retry-After sets the wait, whatever the backoff.
  const delays: number[] = [];
  const throttled = failing(statusError(response(429, { 'retry-after': '0' }), 'feed request failed'));
  await assert.rejects(withRetry(throttled.fn, { policy: 'feed-fetch', override: { attempts: 2 }, onRetry: (_e, _a, ms) => delays.push(ms) }));
  assert.deepEqual(delays, [0]);
  // The caller's abort ends the waiting at once.
  const controller = new AbortController();
  const slow = failing(netError('ECONNRESET'));
  const pending = withRetry(slow.fn, { policy: 's3-object', override: { baseMs: 60_000, maxMs: 60_000 }, signal: controller.signal, onRetry: () => controller.abort() });
  await assert.rejects(pending, { name: 'AbortError' });
  assert.equal(slow.calls(), 1);
});
