// The index step: when this run uploaded anything (or with --force-index), invoke the site's
// indexing function with the site's own role. Asynchronous (Event) by default: the function
// rebuilds the index on its own time; --wait-for-index waits and fails on a function error.
import { InvokeCommand, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { upToDate, type StepContext, type StepResult, type UploadOutput } from './contract.ts';
import { compareSite, hashCacheFor, listSiteBucket, saveCache } from './sync-support.ts';
import { pullFromBucket } from '../engines/sync/pull.ts';
import { formatBytes } from '../platform/format.ts';
import { withRetry } from '../platform/retry.ts';
import { describeError, errorCode, isAccessDenied } from '../aws/errors.ts';
import { errorMessage } from '../platform/errors.ts';

/** Event invocations accept at most 256 KB of payload; stay well under it. */
export const MAX_KEYS_BYTES = 200_000;

/** What the indexing function receives (the indexer in tasks/engines/indexer/ reads `bucket`). */
export interface IndexPayload {
  source: 'podcast-ingest';
  runId: string;
  site: string;
  bucket: string;
  /** true when invoked by --force-index. */
  forced: boolean;
  uploadedCount: number;
  /** The uploaded keys, cut to fit the payload limit (then `keysTruncated` is true). */
  uploadedKeys: string[];
  keysTruncated: boolean;
}

export function buildPayload(input: { runId: string; site: string; bucket: string; forced: boolean; keys: readonly string[] }): IndexPayload {
  const kept: string[] = [];
  let bytes = 0;
  for (const key of input.keys) {
    bytes += Buffer.byteLength(key) + 3; // quotes and comma
    if (bytes > MAX_KEYS_BYTES) break;
    kept.push(key);
  }
  return {
    source: 'podcast-ingest',
    runId: input.runId,
    site: input.site,
    bucket: input.bucket,
    forced: input.forced,
    uploadedCount: input.keys.length,
    uploadedKeys: kept,
    keysTruncated: kept.length < input.keys.length,
  };
}

export async function index(ctx: StepContext, input: { upload?: UploadOutput }): Promise<StepResult<void>> {
  const { site, options } = ctx;
  const fn = site.automation.indexingFunction;
  const uploaded = input.upload?.uploaded ?? [];
  if (uploaded.length === 0 && !options.forceIndex) return upToDate('nothing uploaded', undefined);

  const forced = uploaded.length === 0;
  const reason = forced ? '--force-index' : `${uploaded.length} file${uploaded.length === 1 ? '' : 's'} uploaded`;
  const invocationType = options.waitForIndex ? 'RequestResponse' : 'Event';
  const payload = buildPayload({ runId: options.runId, site: site.id, bucket: site.automation.bucket, forced, keys: uploaded });

  ctx.log.activity(`invoking ${fn} (${invocationType === 'Event' ? 'asynchronous' : 'waiting for the result'})`);
  let output: InvokeCommandOutput | undefined;
  try {
    output = await ctx.effect({ kind: 'invoke', target: fn, reason }, () => invoke(ctx, fn, invocationType, payload));
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    return failed(ctx, fn, describeInvokeFailure(fn, site.automation.region, error), errorCode(error));
  }
  if (output === undefined) return { status: 'ok', message: `would invoke ${fn} (${reason})`, counts: { invocations: 0 }, errors: [], output: undefined };

  if (output.FunctionError) {
    const { type, message } = functionErrorOf(output);
    return failed(ctx, fn, `indexing function ${fn} failed: ${type}: ${message}`, output.FunctionError, { invocations: 1 });
  }
  if (invocationType === 'Event') {
    return { status: 'ok', message: `invoked ${fn} asynchronously (${reason})`, counts: { invocations: 1 }, errors: [], output: undefined };
  }
  const done = `${fn} finished${resultSummary(output)} (${reason})`;
  return bringDownIndexerOutput(ctx, done);
}

/** Folders the indexer writes; a synchronous run brings them down so the next run has nothing to do. */
const INDEXER_FOLDERS = ['search-entries', 'search-index'];

async function bringDownIndexerOutput(ctx: StepContext, done: string): Promise<StepResult<void>> {
  const syncFolders = ctx.syncFolders.filter((folder) => INDEXER_FOLDERS.includes(folder));
  if (syncFolders.length === 0) return { status: 'ok', message: done, counts: { invocations: 1 }, errors: [], output: undefined };
  // The sync engine over the indexer's folders only: list, compare, pull.
  const scoped: StepContext = { ...ctx, syncFolders, options: { ...ctx.options, syncFolders } };
  const listed = await listSiteBucket(scoped, 'index');
  if (!listed.ok) return { ...listed.result, message: `${done}; bringing its output down failed: ${listed.result.message}`, counts: { invocations: 1 } };
  const cache = await hashCacheFor(scoped, undefined);
  const pulled = await pullFromBucket(scoped, await compareSite(scoped, listed.listing, cache), cache);
  await saveCache(scoped, cache);
  const errors = pulled.outcome.errors.map((e) => ({ ...e, step: 'index' as const }));
  const counts = { invocations: 1, ...(pulled.keys.length > 0 ? { downloaded: pulled.outcome.counts } : {}) };
  if (errors.length > 0) return { status: 'failed', fatal: true, message: `${done}; bringing its output down failed: ${errors.length} files`, counts, errors };
  const message = pulled.keys.length > 0 ? `${done}; downloaded ${pulled.keys.length} files (${formatBytes(pulled.outcome.bytes)})` : done;
  return { status: 'ok', message, counts, errors: [], output: undefined };
}

async function invoke(ctx: StepContext, fn: string, invocationType: 'Event' | 'RequestResponse', payload: IndexPayload): Promise<InvokeCommandOutput> {
  const client = ctx.clients.lambda();
  const body = new TextEncoder().encode(JSON.stringify(payload));
  return withRetry(
    () => client.send(new InvokeCommand({ FunctionName: fn, InvocationType: invocationType, Payload: body }), { abortSignal: ctx.signal }),
    {
      // The only retry loop around this call (the client makes one attempt per send).
      policy: 'lambda-invoke',
      signal: ctx.signal,
      onRetry: (error, attempt, delayMs) => ctx.log.warn(`invoke ${fn}: ${describeError(error)}; retry ${attempt} in ${delayMs} ms`),
    },
  );
}

/** Not found, access denied and the rest, each in the words an operator acts on. */
export function describeInvokeFailure(fn: string, region: string, error: unknown): string {
  const code = errorCode(error);
  if (code === 'AssumeRoleError' || (error instanceof Error && error.name === 'AssumeRoleError')) return errorMessage(error);
  if (code === 'ResourceNotFoundException' || code === 'HTTP 404') {
    return `indexing function ${fn} not found in ${region}: ${describeError(error)}`;
  }
  if (isAccessDenied(error)) return `not allowed to invoke ${fn} with the site's role: ${describeError(error)}`;
  return `invoking ${fn} failed: ${describeError(error)}`;
}

/** The error a function reported ({errorType, errorMessage} as Lambda's runtimes send it). */
function functionErrorOf(output: InvokeCommandOutput): { type: string; message: string } {
  const text = output.Payload ? new TextDecoder().decode(output.Payload) : '';
  try {
    const parsed = JSON.parse(text) as { errorType?: string; errorMessage?: string };
    return { type: parsed.errorType ?? output.FunctionError ?? 'Error', message: parsed.errorMessage ?? text };
  } catch {
    return { type: output.FunctionError ?? 'Error', message: text.slice(0, 500) || '(no message)' };
  }
}

/** ": wrote 3 search-entry files" when the result is the indexer's; nothing otherwise. */
function resultSummary(output: InvokeCommandOutput): string {
  if (!output.Payload) return '';
  try {
    const result = JSON.parse(new TextDecoder().decode(output.Payload)) as { written?: unknown };
    return Array.isArray(result.written) ? `: wrote ${result.written.length} search-entry file${result.written.length === 1 ? '' : 's'}` : '';
  } catch {
    return '';
  }
}

function failed(ctx: StepContext, fn: string, message: string, code: string | undefined, counts = {}): StepResult<void> {
  return {
    status: 'failed',
    message,
    counts,
    errors: [{ site: ctx.site.id, step: 'index', subject: fn, message, code }],
    // Nothing runs after the index step; fatal only says it did not do its job.
    fatal: true,
  };
}
