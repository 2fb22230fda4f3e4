// The index step, where the site's automation.indexing (or --index) says. `lambda`: when this run
// uploaded anything (or with --force-index), invoke the site's indexing function with the site's
// own role; asynchronous (Event) by default, --wait-for-index waits and fails on a function error.
// `local`: build the search index on this machine (tasks/engines/indexer/local/), upload what the
// build wrote, and ask the site's search function to load it (ARCHITECTURE.md "Search index").
import type { InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { upToDate, type StepContext, type StepResult, type UploadOutput } from './contract.ts';
import { compareSite, hashCacheFor, listSiteBucket, saveCache } from './sync-support.ts';
import { pullFromBucket } from '../engines/sync/pull.ts';
import { pushToBucket } from '../engines/sync/push.ts';
import { planTransfers } from '../engines/sync/diff.ts';
import { topFolder } from '../engines/sync/ignore.ts';
import type { HashCache } from '../engines/sync/hash-cache.ts';
import type { LocalIndexResult } from '../engines/indexer/local/local-index.ts';
import { SHARD_MANIFEST_KEY } from '../engines/indexer/local/index-keys.ts';
import type { StepCounts, StepError } from '../platform/types.ts';
import { formatBytes } from '../platform/format.ts';
import { withRetry } from '../platform/retry.ts';
import { readSiteState, updateSiteState } from '../site/site-state.ts';
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
  // An invocation an earlier run owes (it failed, or the run was killed before it: tasks/site/site-state.ts).
  const owed = ctx.dryRun ? undefined : (await readSiteState(ctx.localRoot, ctx.site.id)).state.pendingIndex;
  const local = (ctx.options.index ?? ctx.site.automation.indexing) === 'local';
  const result = local
    ? await indexLocally(ctx, { ...input, owed })
    : await indexWithLambda(ctx, { ...input, owed });
  if (owed && result.status === 'ok' && !ctx.dryRun) {
    await updateSiteState(ctx.localRoot, ctx.site.id, (state) => {
      delete state.pendingIndex;
    });
  }
  return result;
}

async function indexWithLambda(ctx: StepContext, input: { upload?: UploadOutput; owed?: { since: string; reason: string } }): Promise<StepResult<void>> {
  const { site, options } = ctx;
  const fn = site.automation.indexingFunction;
  const uploaded = input.upload?.uploaded ?? [];
  if (uploaded.length === 0 && !options.forceIndex && !input.owed) return upToDate('nothing uploaded', undefined);

  const forced = uploaded.length === 0;
  const reason =
    uploaded.length > 0 ? `${uploaded.length} file${uploaded.length === 1 ? '' : 's'} uploaded` : input.owed ? `owed since ${input.owed.since}: ${input.owed.reason}` : '--force-index';
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

async function invoke(ctx: StepContext, fn: string, invocationType: 'Event' | 'RequestResponse', payload: unknown): Promise<InvokeCommandOutput> {
  const [client, { InvokeCommand }] = await Promise.all([ctx.clients.lambda(), import('@aws-sdk/client-lambda')]);
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
export function describeInvokeFailure(fn: string, region: string, error: unknown, what = 'indexing function'): string {
  const code = errorCode(error);
  if (code === 'AssumeRoleError' || (error instanceof Error && error.name === 'AssumeRoleError')) return errorMessage(error);
  if (code === 'ResourceNotFoundException' || code === 'HTTP 404') {
    return `${what} ${fn} not found in ${region}: ${describeError(error)}`;
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

// ---- Local indexing -------------------------------------------------------------------------

/** Shard size in entry JSON bytes; the environment variable is for tests and measurements. */
function shardTargetBytes(defaultBytes: number): number {
  const fromEnv = Number(process.env.INGEST_INDEX_SHARD_BYTES);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : defaultBytes;
}

/** Locally an owed invocation is not a rebuild: the build checks what is stale itself; only the search function's refresh may be owed. */
async function indexLocally(ctx: StepContext, input: { upload?: UploadOutput; owed?: { since: string; reason: string } }): Promise<StepResult<void>> {
  // Loaded here, not at start-up: Orama, msgpackr and zstd cost every other run ~0.1 s.
  const { buildLocalIndex, checkLocalIndex, DEFAULT_SHARD_TARGET_BYTES } = await import('../engines/indexer/local/local-index.ts');
  const options = { force: ctx.options.forceIndex, singleIndexMaxEntries: ctx.site.automation.singleIndexMaxEntries, shardTargetBytes: shardTargetBytes(DEFAULT_SHARD_TARGET_BYTES) };
  const cache = await hashCacheFor(ctx, undefined);
  ctx.log.activity('checking the search entries and the search index');
  const check = await checkLocalIndex(ctx, cache, options);
  if (check.stale.length === 0) {
    await saveCache(ctx, cache);
    // The upload step sent index files an earlier (interrupted) run built: the function must load them.
    const sent = (input.upload?.uploaded ?? []).filter((key) => topFolder(key) === 'search-index').length;
    const current = `search index up to date (${check.actions.length} shard${check.actions.length === 1 ? '' : 's'})`;
    if (sent > 0) return refreshSearch(ctx, current, {}, [], `${sent} index file${sent === 1 ? '' : 's'} uploaded by the upload step`);
    if (input.owed && check.actions.length > 0) return refreshSearch(ctx, current, {}, [], `owed since ${input.owed.since}: ${input.owed.reason}`);
    return upToDate(current, undefined);
  }
  ctx.log.info(`building the search index on this machine: ${check.stale.join('; ')}`);
  let built: LocalIndexResult;
  try {
    built = await buildLocalIndex(ctx, cache, options, check);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    await saveCache(ctx, cache);
    const message = `building the search index failed: ${describeError(error)}`;
    return { status: 'failed', fatal: true, message, counts: {}, errors: [{ site: ctx.site.id, step: 'index', subject: 'search-index', message, code: errorCode(error) }] };
  }
  for (const u of built.unplaced) ctx.log.warn(`${u.key}: ${u.message}; left out of the search index`);
  const errors: StepError[] = built.errors.map((e) => ({ site: ctx.site.id, step: 'index', subject: e.key, message: e.message }));
  for (const e of errors) ctx.log.error(`${e.subject}: ${e.message}`);
  const counts: StepCounts = { ...(built.entriesWritten ? { searchEntries: built.entriesWritten } : {}), shardsRebuilt: built.shardsRebuilt, indexBytes: built.indexBytes };
  const what = describeBuild(ctx, built);
  const pushed = await pushIndexFiles(ctx, built.written, cache);
  await saveCache(ctx, cache);
  if (pushed.counts) counts.uploaded = pushed.counts;
  errors.push(...pushed.errors);
  const done = `${what}${pushed.summary}`;
  if (pushed.errors.length > 0) return { status: 'failed', fatal: true, message: `${done}; ${pushed.errors.length} uploads failed`, counts, errors };
  if (pushed.indexFiles === 0) return finish(done, counts, errors);
  return refreshSearch(ctx, done, counts, errors, `${pushed.indexFiles} index file${pushed.indexFiles === 1 ? '' : 's'} uploaded`);
}

function describeBuild(ctx: StepContext, built: LocalIndexResult): string {
  const verb = ctx.dryRun ? 'would write' : 'wrote';
  const parts: string[] = [];
  const entryFiles = built.written.filter((k) => topFolder(k) === 'search-entries').length;
  if (entryFiles > 0) parts.push(`${verb} ${entryFiles} search-entry file${entryFiles === 1 ? '' : 's'}${ctx.dryRun ? '' : ` (${built.entriesWritten} entries)`}`);
  const shards = built.written.filter((k) => /^search-index\/shard-\d+\//.test(k)).length;
  if (shards > 0 || built.single === 'written') {
    const single = built.single === 'written' ? ' and the single-file index' : '';
    parts.push(`${ctx.dryRun ? 'would build' : 'built'} ${shards} of ${built.shardCount} shard${built.shardCount === 1 ? '' : 's'}${single}${ctx.dryRun ? '' : ` (${built.totalEntries} entries in all, ${formatBytes(built.indexBytes)} written)`}`);
  } else if (built.written.includes(SHARD_MANIFEST_KEY)) parts.push(`${verb} ${SHARD_MANIFEST_KEY}`);
  return parts.join('; ') || 'search index up to date';
}

interface Pushed {
  summary: string;
  counts?: StepCounts['uploaded'];
  errors: StepError[];
  /** search-index/ files uploaded (in a dry run: planned). */
  indexFiles: number;
}

/** What the build wrote goes up through the sync engine, the shard manifest last (it names the shards). */
async function pushIndexFiles(ctx: StepContext, written: readonly string[], cache: HashCache): Promise<Pushed> {
  const syncFolders = ctx.syncFolders.filter((folder) => INDEXER_FOLDERS.includes(folder));
  const keys = written.filter((key) => syncFolders.includes(topFolder(key)));
  if (keys.length === 0) return { summary: '', errors: [], indexFiles: 0 };
  const bucket = ctx.site.automation.bucket;
  if (ctx.dryRun) {
    // The files are not on disk: plan their uploads as the real run will make them.
    for (const key of keys) await ctx.effect({ kind: 'upload', target: `s3://${bucket}/${key}`, reason: 'written by the local index build' }, async () => undefined);
    return { summary: `; would upload ${keys.length} files`, errors: [], indexFiles: keys.filter((k) => topFolder(k) === 'search-index').length };
  }
  const scoped: StepContext = { ...ctx, syncFolders, options: { ...ctx.options, syncFolders } };
  const listed = await listSiteBucket(scoped, 'index');
  if (!listed.ok) return { summary: '', errors: listed.result.errors, indexFiles: 0 };
  const planned = planTransfers(await compareSite(scoped, listed.listing, cache), 'upload');
  const first = await pushToBucket(scoped, planned.filter((t) => t.key !== SHARD_MANIFEST_KEY), cache);
  // A manifest naming shards that did not all arrive would point the search function at old ones.
  const last = first.outcome.errors.length === 0 ? await pushToBucket(scoped, planned.filter((t) => t.key === SHARD_MANIFEST_KEY), cache) : undefined;
  const uploaded = [...first.keys, ...(last?.keys ?? [])];
  const counts: NonNullable<StepCounts['uploaded']> = {};
  for (const outcome of [first.outcome, last?.outcome]) {
    for (const [folder, c] of Object.entries(outcome?.counts ?? {})) {
      const sum = (counts[folder] ??= { files: 0, bytes: 0 });
      sum.files += c.files;
      sum.bytes += c.bytes;
    }
  }
  const bytes = first.outcome.bytes + (last?.outcome.bytes ?? 0);
  const errors = [...first.outcome.errors, ...(last?.outcome.errors ?? [])].map((e) => ({ ...e, step: 'index' as const }));
  return {
    summary: uploaded.length > 0 ? `; uploaded ${uploaded.length} files (${formatBytes(bytes)})` : '',
    ...(uploaded.length > 0 ? { counts } : {}),
    errors,
    indexFiles: uploaded.filter((k) => topFolder(k) === 'search-index').length,
  };
}

/** Ask the site's search function to load the new index: asynchronously, `{forceFreshDBFileDownload: true}`. */
async function refreshSearch(ctx: StepContext, done: string, counts: StepCounts, errors: StepError[], reason: string): Promise<StepResult<void>> {
  const { searchFunction: fn, lambdaEndpoint, region } = ctx.site.automation;
  if (fn === null) return finish(`${done}; no search function configured`, counts, errors);
  ctx.log.activity(`invoking ${fn} (asynchronous)`);
  try {
    const output = await ctx.effect({ kind: 'invoke', target: fn, reason }, () => invoke(ctx, fn, 'Event', { forceFreshDBFileDownload: true }));
    if (output === undefined) return finish(`${done}; would invoke ${fn}`, counts, errors);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const code = errorCode(error);
    // A local Lambda endpoint (demo, tests) without the function: nothing to refresh.
    if (lambdaEndpoint !== undefined && (code === 'ResourceNotFoundException' || code === 'HTTP 404')) {
      return finish(`${done}; ${fn} is not on the local Lambda endpoint, nothing invoked`, counts, errors);
    }
    const message = describeInvokeFailure(fn, region, error, 'search function');
    return { status: 'failed', fatal: false, message: `${done}; ${message}`, counts, errors: [...errors, { site: ctx.site.id, step: 'index', subject: fn, message, code }] };
  }
  return finish(`${done}; invoked ${fn} asynchronously (${reason})`, { ...counts, invocations: 1 }, errors);
}

function finish(message: string, counts: StepCounts, errors: StepError[]): StepResult<void> {
  if (errors.length > 0) return { status: 'failed', fatal: false, message: `${message}; ${errors.length} transcript${errors.length === 1 ? '' : 's'} could not be indexed`, counts, errors };
  return { status: 'ok', message, counts, errors: [], output: undefined };
}
