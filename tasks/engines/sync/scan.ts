// The local side of a site: every synced file under `<localDir>/<folder>/`, with the same
// ignore rules as the bucket listing, size and mtime from stat, and the MD5 when the hash
// cache knows this exact version. Hashing what is still unknown is left to the caller,
// which hashes only where a comparison needs it.
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { isPartialName } from '../../platform/atomic.ts';
import type { S3Key } from '../../platform/types.ts';
import type { LocalFile } from './diff.ts';
import type { HashCache } from './hash-cache.ts';
import { ignoreReason } from './ignore.ts';

/** Paths already use the key's separator (POSIX). */
const SLASH_SEP = path.sep === '/';

/** Files stat'ed between two yields to the event loop. */
const STAT_BATCH = 512;

/**
 * Synced local files, sorted by key. A missing folder is an empty one. `leftovers`: when given,
 * receives the path of every temporary copy (`.<name>.<pid>-<tag>.partial`) the scan passes, so
 * that a run can remove what killed runs left without reading the folders a second time.
 */
export async function scanLocal(localDir: string, folders: readonly string[], cache?: HashCache, leftovers?: string[]): Promise<LocalFile[]> {
  const candidates: { key: string; path: string }[] = [];
  for (const folder of folders) {
    const root = path.join(localDir, folder);
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true, recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const entry of entries) {
      // Symlinks and special files are not synced: a key is a regular file.
      if (!entry.isFile()) continue;
      const parent = entry.parentPath ?? (entry as unknown as { path: string }).path;
      const full = `${parent}${path.sep}${entry.name}`;
      if (leftovers && isPartialName(entry.name)) {
        leftovers.push(full);
        continue;
      }
      // Every entry lies under `root`, so the key is the folder and what follows root in the
      // path (string work only: path.relative per file was a tenth of a no-op run's scan).
      const below = parent.slice(root.length + 1);
      const key = below ? `${folder}/${SLASH_SEP ? below : below.split(path.sep).join('/')}/${entry.name}` : `${folder}/${entry.name}`;
      if (ignoreReason(key, folders) !== undefined) continue;
      candidates.push({ key, path: full });
    }
  }
  // stat in batches on the main thread: for a site folder's many small files statSync costs a
  // quarter of the CPU of the promise API (90,000 files: 0.46 s against 1.7 s, bench/scale.ts),
  // and yielding between batches lets the bucket listing's replies in.
  const files: LocalFile[] = [];
  for (let start = 0; start < candidates.length; start += STAT_BATCH) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const candidate of candidates.slice(start, start + STAT_BATCH)) {
      let info;
      try {
        info = statSync(candidate.path);
      } catch {
        continue; // removed between readdir and stat
      }
      const cached = cache?.lookup(candidate.key, info.size, info.mtimeMs);
      files.push({
        key: candidate.key as S3Key,
        path: candidate.path,
        size: info.size,
        modified: info.mtime,
        mtimeMs: info.mtimeMs,
        md5: cached?.md5,
        knownEtag: cached?.etag,
        lastEtag: cache?.lastEtag(candidate.key),
      });
    }
  }
  files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return files;
}
