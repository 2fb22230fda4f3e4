// Local scan + the hashing a comparison needs + the pure diff: what pre-sync, consistency,
// upload and the consistency command all do against one bucket listing.
import type { Logger } from '../../platform/log.ts';
import { mapPool } from '../../platform/limiter.ts';
import { diffListings, needsHash, type LocalFile, type SyncDiff } from './diff.ts';
import { md5File, type HashCache } from './hash-cache.ts';
import { scanLocal } from './scan.ts';
import { type StoredFile } from './stored-file.ts';

export interface CompareInput {
  localDir: string;
  folders: readonly string[];
  listing: readonly StoredFile[];
  cache: HashCache;
  signal: AbortSignal;
  log: Logger;
  /** The local tree, when the caller scanned it already (while the listing arrived). */
  scanned?: LocalFile[];
}

export interface Comparison {
  local: LocalFile[];
  diff: SyncDiff;
}

/** Local files hashed at once: disk-bound, a few in flight keep it busy. */
const HASH_CONCURRENCY = 4;

export async function compareWithListing(input: CompareInput): Promise<Comparison> {
  const scanned = input.scanned ?? (await scanLocal(input.localDir, input.folders, input.cache));
  const local = await hashWhereNeeded(scanned, input.listing, input.cache, input.signal, input.log);
  input.cache.retainOnly(new Set(local.map((f) => f.key)), input.folders);
  const diff = diffListings(local, input.listing);
  // Both sides agree on these versions now: the point a later change is measured from.
  for (const { local: l, remote: r } of diff.consistent) {
    if (r.etag !== undefined && l.knownEtag !== r.etag) input.cache.remember(l.key, { size: l.size, mtimeMs: l.mtimeMs, md5: l.md5, etag: r.etag });
  }
  return { local, diff };
}

/**
 * Fill in the MD5 of local files whose bucket twin has the same size and a plain-MD5 ETag
 * (the only case where the hash can change the verdict: a same-size content change).
 * Results go into the cache, so each version of a file is hashed once.
 */
export async function hashWhereNeeded(
  local: LocalFile[],
  listing: readonly StoredFile[],
  cache: HashCache,
  signal: AbortSignal,
  log: Logger,
): Promise<LocalFile[]> {
  const remoteByKey = new Map(listing.map((f) => [f.key as string, f]));
  const todo = local.filter((f) => {
    const remote = remoteByKey.get(f.key);
    return remote !== undefined && needsHash(f, remote);
  });
  if (todo.length === 0) return local;
  const totalBytes = todo.reduce((sum, f) => sum + f.size, 0);
  log.debug(`hashing ${todo.length} local files (${totalBytes} bytes) not in the hash cache`);
  let done = 0;
  const hashed = new Map<string, string>();
  await mapPool(todo, HASH_CONCURRENCY, async (file) => {
    signal.throwIfAborted();
    try {
      const md5 = await md5File(file.path, signal);
      hashed.set(file.key, md5);
      cache.remember(file.key, { size: file.size, mtimeMs: file.mtimeMs, md5 });
    } catch (error) {
      if (signal.aborted) throw error;
      // Vanished or unreadable: compared by size only this time.
      log.debug(`cannot hash ${file.key}: ${(error as Error).message}`);
    }
    done++;
    if (done % 50 === 0 || done === todo.length) log.activity(`hashing ${done}/${todo.length} local files`);
  });
  return local.map((f) => (hashed.has(f.key) ? { ...f, md5: hashed.get(f.key) } : f));
}
