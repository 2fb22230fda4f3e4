// The decision core of sync, as pure functions over two listings (ARCHITECTURE.md "Sync rules", rclone's
// march): compare one key's two sides, merge two listings into localOnly / s3Only /
// consistent / conflicts, and decide per direction whether a file moves and why.
// Everything here is data in, data out: the table tests in test/sync-diff.test.ts pin it.
import type { S3Key } from '../../platform/types.ts';
import { topFolder } from './ignore.ts';
import { MANIFEST_KEY } from '../../site/manifest.ts';
import { formatBytes } from '../../platform/format.ts';
import { type StoredFile } from './stored-file.ts';

/** A scanned local file. */
export interface LocalFile extends StoredFile {
  /** Absolute path on disk. */
  path: string;
  /** stat mtimeMs, the hash cache's key (more precise than `modified`). */
  mtimeMs: number;
  /** The bucket's ETag for exactly this version when it was last transferred (hash cache). */
  knownEtag?: string;
  /** The bucket's ETag when both sides last agreed, for whatever local version (hash cache). */
  lastEtag?: string;
}

export type ConflictReason = 'size' | 'checksum';
/** Which side changed last. S3 times have one-second resolution: within it, `same`. */
export type Newer = 'local' | 'bucket' | 'same';
/**
 * Which side changed since both last agreed (the hash cache's record): one side alone is a
 * routine update (the runner rewrote a file on purpose, or another machine did), both sides
 * (or no record) a real conflict.
 */
export type Changed = 'local' | 'bucket' | 'both' | 'unknown';
/** MD5 of zero bytes. */
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

export type Comparison =
  | { kind: 'local-only'; key: S3Key; local: LocalFile }
  | { kind: 's3-only'; key: S3Key; remote: StoredFile }
  | { kind: 'consistent'; key: S3Key; local: LocalFile; remote: StoredFile; basis: 'md5' | 'etag' | 'size' }
  | Conflict;

export interface Conflict {
  kind: 'conflict';
  key: S3Key;
  local: LocalFile;
  remote: StoredFile;
  reason: ConflictReason;
  newer: Newer;
  changed: Changed;
  /** The side holding an empty copy while the other is not empty (a damaged copy, never the winner). */
  empty?: 'local' | 'bucket';
  /** "size 12 B locally, 15 B in the bucket; bucket newer" */
  detail: string;
}

export interface SyncDiff {
  localOnly: LocalFile[];
  s3Only: StoredFile[];
  consistent: { local: LocalFile; remote: StoredFile }[];
  conflicts: Conflict[];
}

export type Direction = 'download' | 'upload';
export interface Decision {
  transfer: boolean;
  reason: string;
}

/**
 * Whether the local MD5 must be computed before `compareFile` can decide: same size, the
 * bucket's ETag is a plain MD5, and the cache does not already vouch for this version.
 */
export function needsHash(local: LocalFile, remote: StoredFile): boolean {
  return local.md5 === undefined && local.size === remote.size && remote.md5 !== undefined && local.knownEtag !== remote.etag;
}

export function newerSide(local: StoredFile, remote: StoredFile): Newer {
  const l = Math.floor(local.modified.getTime() / 1000);
  const r = Math.floor(remote.modified.getTime() / 1000);
  return l > r ? 'local' : r > l ? 'bucket' : 'same';
}

/** Which side moved away from the last version both agreed on. */
export function changedSide(local: LocalFile, remote: StoredFile): Changed {
  const agreed = local.lastEtag;
  if (agreed === undefined) return 'unknown';
  const localChanged = local.knownEtag !== agreed;
  const bucketChanged = remote.etag !== agreed;
  if (localChanged && bucketChanged) return 'both';
  if (localChanged) return 'local';
  if (bucketChanged) return 'bucket';
  return 'unknown';
}

/** Compare one key's two sides. Same size and (where known) same checksum = consistent. */
export function compareFile(local: LocalFile | undefined, remote: StoredFile | undefined): Comparison {
  if (local && !remote) return { kind: 'local-only', key: local.key, local };
  if (remote && !local) return { kind: 's3-only', key: remote.key, remote };
  if (!local || !remote) throw new Error('compareFile needs at least one side');
  const key = local.key;
  const conflict = (reason: ConflictReason, what: string): Conflict => {
    const newer = newerSide(local, remote);
    const side = newer === 'same' ? 'same modification time' : `${newer} newer`;
    const empty = remote.size === 0 && local.size > 0 ? 'bucket' : local.size === 0 && remote.size > 0 ? 'local' : undefined;
    return { kind: 'conflict', key, local, remote, reason, newer, changed: changedSide(local, remote), ...(empty ? { empty } : {}), detail: `${what}; ${side}` };
  };
  if (local.size !== remote.size) {
    return conflict('size', `size ${formatBytes(local.size)} locally, ${formatBytes(remote.size)} in the bucket`);
  }
  if (local.md5 !== undefined && remote.md5 !== undefined && local.md5 === remote.md5) {
    return { kind: 'consistent', key, local, remote, basis: 'md5' };
  }
  if (local.knownEtag !== undefined && remote.etag !== undefined && local.knownEtag === remote.etag) {
    return { kind: 'consistent', key, local, remote, basis: 'etag' };
  }
  if (local.md5 !== undefined && remote.md5 !== undefined) {
    return conflict('checksum', `same size, MD5 ${local.md5.slice(0, 8)}… locally, ${remote.md5.slice(0, 8)}… in the bucket`);
  }
  if (local.knownEtag !== undefined && remote.etag !== undefined) {
    // Multipart object whose ETag changed since this local version was transferred.
    return conflict('checksum', `same size, bucket ETag changed since the last transfer`);
  }
  // Nothing to compare beyond the size (multipart ETag, file never hashed).
  return { kind: 'consistent', key, local, remote, basis: 'size' };
}

/** Merge two listings (any order) into the four sets, each sorted by key. */
export function diffListings(local: readonly LocalFile[], remote: readonly StoredFile[]): SyncDiff {
  const remoteByKey = new Map(remote.map((f) => [f.key as string, f]));
  const diff: SyncDiff = { localOnly: [], s3Only: [], consistent: [], conflicts: [] };
  const seen = new Set<string>();
  for (const file of local) {
    seen.add(file.key);
    const c = compareFile(file, remoteByKey.get(file.key));
    switch (c.kind) {
      case 'local-only':
        diff.localOnly.push(c.local);
        break;
      case 'consistent':
        diff.consistent.push({ local: c.local, remote: c.remote });
        break;
      case 'conflict':
        diff.conflicts.push(c);
        break;
      case 's3-only':
        throw new Error('unreachable: a local file cannot be s3-only');
      default:
        return unreachableComparison(c);
    }
  }
  for (const file of remote) if (!seen.has(file.key)) diff.s3Only.push(file);
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  diff.localOnly.sort(byKey);
  diff.s3Only.sort(byKey);
  diff.consistent.sort((a, b) => byKey(a.local, b.local));
  diff.conflicts.sort(byKey);
  return diff;
}

/**
 * The comparison after pre-sync: each downloaded key is now consistent, its local side the
 * file just written. Keys that failed keep their place (s3-only, or a conflict).
 */
export function afterDownloads(diff: SyncDiff, downloaded: ReadonlyMap<string, LocalFile>): SyncDiff {
  if (downloaded.size === 0) return diff;
  const consistent = [...diff.consistent];
  const s3Only: StoredFile[] = [];
  for (const remote of diff.s3Only) {
    const local = downloaded.get(remote.key);
    if (local) consistent.push({ local, remote });
    else s3Only.push(remote);
  }
  const conflicts: Conflict[] = [];
  for (const conflict of diff.conflicts) {
    const local = downloaded.get(conflict.key);
    if (local) consistent.push({ local, remote: conflict.remote });
    else conflicts.push(conflict);
  }
  consistent.sort((a, b) => (a.local.key < b.local.key ? -1 : a.local.key > b.local.key ? 1 : 0));
  return { localOnly: diff.localOnly, s3Only, consistent, conflicts };
}

function unreachableComparison(c: never): never {
  throw new Error(`unreachable comparison ${JSON.stringify(c)}`);
}

/**
 * The one place that decides whether a file moves, and why. pre-sync downloads what the
 * bucket alone has and conflicts the bucket wins (newer, or a tie: the bucket is the copy
 * every other machine sees); upload sends what only exists locally and conflicts where the
 * local side is newer. Nothing is ever deleted.
 */
export function needsTransfer(c: Comparison, direction: Direction): Decision {
  switch (c.kind) {
    case 'consistent':
      return { transfer: false, reason: `consistent (${c.basis === 'size' ? 'same size' : `same size and ${c.basis === 'md5' ? 'MD5' : 'ETag'}`})` };
    case 's3-only':
      return direction === 'download' ? { transfer: true, reason: 'missing locally' } : { transfer: false, reason: 'only in the bucket' };
    case 'local-only':
      return direction === 'upload' ? { transfer: true, reason: 'missing in the bucket' } : { transfer: false, reason: 'only local' };
    case 'conflict': {
      const verdict = conflictVerdict(c);
      const bucketWins = verdict.winner === 'bucket';
      if (direction === 'download') {
        return bucketWins ? { transfer: true, reason: `${verdict.why}: bucket wins` } : { transfer: false, reason: `${verdict.why}: local wins, left for upload` };
      }
      return bucketWins ? { transfer: false, reason: `${verdict.why}: bucket wins, left for pre-sync` } : { transfer: true, reason: `${verdict.why}: local wins` };
    }
    default:
      return unreachableComparison(c);
  }
}

/**
 * Who wins a conflict, and whether it is a real one. An empty copy never replaces a non-empty
 * one (a server that stored a cut-off upload as an empty object; a damaged local file). A side
 * that alone changed since both last agreed wins: a routine update. Otherwise (both changed,
 * or no record) the newer side wins, and the loser's copy is kept (tasks/engines/sync/conflicts.ts).
 */
export function conflictVerdict(c: Conflict): { winner: 'local' | 'bucket'; routine: boolean; why: string } {
  if (c.empty === 'bucket') return { winner: 'local', routine: false, why: `the bucket's copy is empty (${c.detail})` };
  if (c.empty === 'local') return { winner: 'bucket', routine: false, why: `the local copy is empty (${c.detail})` };
  if (c.changed === 'local') return { winner: 'local', routine: true, why: 'changed locally since the last sync' };
  if (c.changed === 'bucket') return { winner: 'bucket', routine: true, why: 'changed in the bucket since the last sync' };
  const both = c.changed === 'both' ? 'both sides changed since the last sync' : 'no record of the last sync';
  // A tie within S3's one-second resolution goes to the bucket: the copy every machine sees.
  return { winner: c.newer === 'local' ? 'local' : 'bucket', routine: false, why: `conflict (${both}; ${c.detail})` };
}

export interface PlannedTransfer {
  key: S3Key;
  size: number;
  reason: string;
  local?: LocalFile;
  remote?: StoredFile;
  /** A real conflict: the losing side's copy is kept before it is replaced. */
  keepLoser?: boolean;
}

/** The transfers one direction needs, with their reasons, in key order. */
export function planTransfers(diff: SyncDiff, direction: Direction): PlannedTransfer[] {
  const comparisons: Comparison[] = [
    ...diff.localOnly.map((local): Comparison => ({ kind: 'local-only', key: local.key, local })),
    ...diff.s3Only.map((remote): Comparison => ({ kind: 's3-only', key: remote.key, remote })),
    ...diff.conflicts,
  ];
  const planned: PlannedTransfer[] = [];
  for (const c of comparisons) {
    // Merged, never transferred as a file (tasks/engines/manifest/manifest-sync.ts).
    if (c.key === MANIFEST_KEY) continue;
    const decision = needsTransfer(c, direction);
    if (!decision.transfer) continue;
    const local = c.kind === 's3-only' ? undefined : c.local;
    const remote = c.kind === 'local-only' ? undefined : c.remote;
    const size = direction === 'download' ? remote!.size : local!.size;
    const keepLoser = c.kind === 'conflict' && !conflictVerdict(c).routine && c.empty === undefined;
    planned.push({ key: c.key, size, reason: decision.reason, local, remote, ...(keepLoser ? { keepLoser } : {}) });
  }
  planned.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return planned;
}

export interface FolderDiff {
  localOnly: number;
  s3Only: number;
  consistent: number;
  conflicts: number;
}

/** Per top-level folder counts, every synced folder present (zeros included). */
export function countByFolder(diff: SyncDiff, folders: readonly string[]): Record<string, FolderDiff> {
  const out: Record<string, FolderDiff> = {};
  for (const folder of folders) out[folder] = { localOnly: 0, s3Only: 0, consistent: 0, conflicts: 0 };
  const bump = (key: string, field: keyof FolderDiff) => {
    const folder = (out[topFolder(key)] ??= { localOnly: 0, s3Only: 0, consistent: 0, conflicts: 0 });
    folder[field]++;
  };
  for (const f of diff.localOnly) bump(f.key, 'localOnly');
  for (const f of diff.s3Only) bump(f.key, 's3Only');
  for (const f of diff.consistent) bump(f.local.key, 'consistent');
  for (const f of diff.conflicts) bump(f.key, 'conflicts');
  return out;
}
