// Local MD5s, cached by key, size and mtime so an unchanged file is hashed once, ever.
// An entry may also hold the ETag the bucket reported for exactly this local version
// (recorded after a verified upload or download): that recognises multipart objects,
// whose ETag is not an MD5, as consistent without a request per object.
// The cache is an optimisation: losing it (or a killed run not saving it) costs hashing only.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTemporariesOfDeadProcesses, writeFileAtomic } from '../../platform/atomic.ts';
import { topFolder } from './ignore.ts';

export interface CacheEntry {
  size: number;
  mtimeMs: number;
  md5?: string;
  /** The bucket's ETag for this exact local version, when last transferred. */
  etag?: string;
}

/**
 * On disk, one row per file: `[key, size, mtimeMs, md5 or 0, etag or 0, or 1 for "the same as
 * the md5"]`. Rows, not an object keyed by file: JSON.parse builds an object of 15,000 keys
 * slowly, and the repeated field names made the file 40% larger (a site of 15,000 files loads
 * in about half the time: part of every no-op run, bench/scale.ts). Version 1 (an object of
 * entries) is still read, and rewritten as version 2 at the run's save.
 */
type CacheRow = [key: string, size: number, mtimeMs: number, md5: string | 0, etag: string | 0 | 1];

interface CacheFile {
  schema: typeof SCHEMA;
  files: CacheRow[];
}

const SCHEMA = 'podcast-ingest/hash-cache@2';
const SCHEMA_V1 = 'podcast-ingest/hash-cache@1';

function entryOf(row: unknown): CacheEntry | undefined {
  // A damaged row is left out (the file is rewritten at the next save), never trusted.
  if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'number' || typeof row[2] !== 'number') return undefined;
  const [, size, mtimeMs, md5, etag] = row as CacheRow;
  const entry: CacheEntry = { size, mtimeMs };
  if (typeof md5 === 'string') entry.md5 = md5;
  if (etag === 1 && typeof md5 === 'string') entry.etag = md5;
  else if (typeof etag === 'string') entry.etag = etag;
  return entry;
}

function rowOf(key: string, entry: CacheEntry): CacheRow {
  return [key, entry.size, entry.mtimeMs, entry.md5 ?? 0, entry.etag === undefined ? 0 : entry.etag === entry.md5 ? 1 : entry.etag];
}

/** `<localRoot>/.cache/hashes-<site>.json`: outside the site folder, so never synced. */
export function hashCachePath(localRoot: string, siteId: string): string {
  return path.join(localRoot, '.cache', `hashes-${siteId}.json`);
}

export class HashCache {
  private dirty = false;

  private constructor(
    readonly file: string,
    private readonly entries: Map<string, CacheEntry>,
  ) {}

  /** A missing or unreadable cache is an empty one (the next save replaces it). */
  static async load(file: string): Promise<HashCache> {
    // The read-only consistency command may run beside a run: only dead processes' copies go.
    await removeTemporariesOfDeadProcesses(file);
    const entries = new Map<string, CacheEntry>();
    let upgrade = false;
    try {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as { schema?: unknown; files?: unknown };
      if (parsed.schema === SCHEMA && Array.isArray(parsed.files)) {
        for (const row of parsed.files as unknown[]) {
          const entry = entryOf(row);
          if (entry) entries.set((row as CacheRow)[0], entry);
        }
      } else if (parsed.schema === SCHEMA_V1 && parsed.files && typeof parsed.files === 'object') {
        const files = parsed.files as Record<string, CacheEntry>;
        for (const key in files) {
          const entry = files[key];
          if (typeof entry?.size === 'number' && typeof entry.mtimeMs === 'number') entries.set(key, entry);
        }
        upgrade = true;
      }
    } catch {
      // First run, or a damaged file: start empty.
    }
    const cache = new HashCache(file, entries);
    cache.dirty = upgrade;
    return cache;
  }

  /** The entry for this key if it describes exactly this version of the file. */
  lookup(key: string, size: number, mtimeMs: number): CacheEntry | undefined {
    const entry = this.entries.get(key);
    return entry && entry.size === size && entry.mtimeMs === mtimeMs ? entry : undefined;
  }

  /**
   * The bucket ETag recorded at the key's last transfer or equal comparison, whatever local
   * version it was recorded for: the point both sides last agreed on (routine change vs conflict).
   */
  lastEtag(key: string): string | undefined {
    return this.entries.get(key)?.etag;
  }

  /** Record what is known about this version; an etag recorded for it is kept when only the md5 is new. */
  remember(key: string, entry: CacheEntry): void {
    const previous = this.lookup(key, entry.size, entry.mtimeMs);
    const merged: CacheEntry = { ...entry, md5: entry.md5 ?? previous?.md5, etag: entry.etag ?? previous?.etag };
    if (merged.md5 === undefined) delete merged.md5;
    if (merged.etag === undefined) delete merged.etag;
    const before = this.entries.get(key);
    if (before && JSON.stringify(before) === JSON.stringify(merged)) return;
    this.entries.set(key, merged);
    this.dirty = true;
  }

  /** Drop entries of files that no longer exist in the scanned folders (other folders' entries stay). */
  retainOnly(present: ReadonlySet<string>, scannedFolders: readonly string[]): void {
    for (const key of this.entries.keys()) {
      if (scannedFolders.includes(topFolder(key)) && !present.has(key)) {
        this.entries.delete(key);
        this.dirty = true;
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Write atomically when something changed. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const files = [...this.entries.keys()].sort().map((key) => rowOf(key, this.entries.get(key)!));
    const content: CacheFile = { schema: SCHEMA, files };
    await writeFileAtomic(this.file, JSON.stringify(content) + '\n');
    this.dirty = false;
  }
}

/** Streaming MD5 of a file (constant memory whatever its size). */
export async function md5File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('md5');
  const stream = createReadStream(file, { highWaterMark: 1024 * 1024, signal });
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
