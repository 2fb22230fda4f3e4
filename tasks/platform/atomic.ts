// Atomic writes (ARCHITECTURE.md "Sync rules"): write to a temporary name in the same folder, fsync, rename.
// Temporary names start with "." and end in ".partial", so sync ignores them and a later
// run never mistakes one for a complete file. Live temporaries are tracked so an
// interrupted run can remove them before it exits.
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsync, futimesSync, open as openCallback, renameSync, rmSync, writeSync, type Stats, type WriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, utimes, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { processExists } from './lock.ts';

export const PARTIAL_SUFFIX = '.partial';

/**
 * UNSAFE, for benchmarks only (bench/sync.ts): INGEST_BENCH_NO_FSYNC=1 skips every fsync of files
 * and folders made here, as rclone and `aws s3 sync` do, so the cost of durability can be measured.
 * A power loss can then leave complete-looking files whose content never reached the disk. Never
 * set it for a real run; a process that has it set says so on stderr.
 */
const NO_FSYNC = process.env.INGEST_BENCH_NO_FSYNC === '1';
if (NO_FSYNC) process.emitWarning('INGEST_BENCH_NO_FSYNC=1: files are not fsynced (unsafe, for benchmarks only)');
const liveTemporaries = new Set<string>();
const fsyncDescriptor = promisify(fsync);
const openDescriptor = promisify(openCallback);

// Unique per process without a random draw per file (thousands of files per run).
const processTag = `${process.pid}-${randomBytes(3).toString('hex')}`;
let temporaryCount = 0;

/** `<dir>/.<name>.<pid>-<random><n>.partial` */
export function temporaryPathFor(finalPath: string): string {
  const dir = path.dirname(finalPath);
  const name = path.basename(finalPath);
  return path.join(dir, `.${name}.${processTag}${(temporaryCount++).toString(36)}${PARTIAL_SUFFIX}`);
}

// Folders this process already made: a download of thousands of files into ten folders
// should not ask the kernel ten thousand times.
const madeFolders = new Set<string>();

async function ensureFolder(dir: string): Promise<void> {
  if (madeFolders.has(dir)) return;
  await mkdir(dir, { recursive: true });
  madeFolders.add(dir);
}

/** Open a new file in its folder, making the folder if needed (again if it vanished since). */
async function openInFolder<T>(filePath: string, openFile: () => Promise<T>): Promise<T> {
  const dir = path.dirname(filePath);
  await ensureFolder(dir);
  try {
    return await openFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    madeFolders.delete(dir);
    await ensureFolder(dir);
    return openFile();
  }
}

export function isTemporaryName(name: string): boolean {
  return name.endsWith(PARTIAL_SUFFIX) || name.endsWith('.tmp') || name.endsWith('.part') || name.endsWith('.download');
}

async function fsyncPath(p: string, flags: 'r' | 'r+' = 'r'): Promise<void> {
  if (NO_FSYNC) return;
  const handle = await open(p, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync the folder so the rename itself survives power loss. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/**
 * Folders whose renames still need their fsync. A step that commits many files into few
 * folders collects them here and syncs each folder once at the end; a crash before that
 * can only lose a rename (the file is then missing and fetched again), never leave a
 * complete-looking file with incomplete content: each file's data is synced before its rename.
 */
export class PendingFolderSyncs {
  private readonly folders = new Set<string>();

  add(dir: string): void {
    this.folders.add(dir);
  }

  async flush(): Promise<void> {
    const folders = [...this.folders];
    this.folders.clear();
    await Promise.all(folders.map(fsyncDir));
  }
}

export interface AtomicWriteOptions {
  /** Set the final file's mtime (e.g. an object's LastModified). */
  mtime?: Date;
  /** Sync the folder later, with its other renames, instead of now. */
  folderSyncs?: PendingFolderSyncs;
}

/**
 * Write `data` to `finalPath` atomically; returns the final file's stat. Every whole-content
 * write goes here: manifests, transcripts, caches, and downloads of thousands of small objects.
 * Write, stamp, stat, close and rename take microseconds on a local disk, less than a
 * thread-pool round trip apiece, so they run inline (measured: about 1 s less per 5,000
 * files); creating the file and the fsync can wait on the filesystem journal, so those two
 * leave the event loop.
 */
export async function writeFileAtomic(finalPath: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<Stats> {
  const content = typeof data === 'string' ? Buffer.from(data) : data;
  const tempPath = temporaryPathFor(finalPath);
  liveTemporaries.add(tempPath);
  let fd: number | undefined;
  try {
    fd = await openInFolder(tempPath, () => openDescriptor(tempPath, 'w'));
    for (let offset = 0; offset < content.length; ) offset += writeSync(fd, content, offset);
    if (!NO_FSYNC) await fsyncDescriptor(fd);
    if (options.mtime) futimesSync(fd, options.mtime, options.mtime);
    const info = fstatSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tempPath, finalPath);
    await placed(tempPath, finalPath, options.folderSyncs);
    return info;
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tempPath, { force: true });
    liveTemporaries.delete(tempPath);
    throw error;
  }
}

/** A temporary file that becomes `finalPath` only on commit(). */
export interface AtomicFile {
  readonly tempPath: string;
  /** A stream into the temporary file (for content that arrives in pieces). */
  readonly stream: WriteStream;
  /** Write the whole content at once (instead of the stream). */
  write(data: string | Uint8Array): Promise<void>;
  /** Flush, fsync, stamp the mtime, rename into place; returns the final file's stat. */
  commit(options?: AtomicWriteOptions): Promise<Stats>;
  /** Remove the temporary file (safe to call more than once, or after commit). */
  abort(): Promise<void>;
}

export async function createAtomicFile(finalPath: string): Promise<AtomicFile> {
  const tempPath = temporaryPathFor(finalPath);
  liveTemporaries.add(tempPath);
  let handle: FileHandle;
  try {
    handle = await openInFolder(tempPath, () => open(tempPath, 'w'));
  } catch (error) {
    liveTemporaries.delete(tempPath);
    throw error;
  }
  // One descriptor for the whole life of the file: write, fsync, stamp and stat through it.
  let stream: WriteStream | undefined;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    stream?.destroy();
    await handle.close();
  };
  let done = false;
  return {
    tempPath,
    get stream() {
      stream ??= handle.createWriteStream({ autoClose: false }) as unknown as WriteStream;
      return stream;
    },
    write: (data) => handle.writeFile(data),
    async commit(commitOptions = {}) {
      if (stream && !stream.writableFinished) {
        await new Promise<void>((resolve, reject) => {
          stream!.once('error', reject);
          stream!.end(() => resolve());
        });
      }
      if (!NO_FSYNC) await handle.sync();
      if (commitOptions.mtime) await handle.utimes(commitOptions.mtime, commitOptions.mtime);
      const info = await handle.stat();
      await close();
      await rename(tempPath, finalPath);
      done = true;
      await placed(tempPath, finalPath, commitOptions.folderSyncs);
      return info;
    },
    async abort() {
      if (done) return;
      done = true;
      await close().catch(() => undefined);
      await rm(tempPath, { force: true });
      liveTemporaries.delete(tempPath);
    },
  };
}

/** After the rename: forget the temporary name, fsync the folder (now or with the step's others). */
async function placed(tempPath: string, finalPath: string, folderSyncs: PendingFolderSyncs | undefined): Promise<void> {
  liveTemporaries.delete(tempPath);
  if (folderSyncs) folderSyncs.add(path.dirname(finalPath));
  else await fsyncDir(path.dirname(finalPath));
}

/** fsync a complete temporary file, stamp its mtime if asked, rename it to `finalPath`, fsync the folder. */
export async function renameIntoPlace(tempPath: string, finalPath: string, options: AtomicWriteOptions = {}): Promise<void> {
  await fsyncPath(tempPath, 'r+');
  if (options.mtime) await utimes(tempPath, options.mtime, options.mtime);
  await rename(tempPath, finalPath);
  await placed(tempPath, finalPath, options.folderSyncs);
}

/** Register a temporary file or folder (e.g. a whisper work folder) to remove if the run is interrupted. */
export function trackTemporary(p: string): void {
  liveTemporaries.add(p);
}

/** The owner removed it (or made it permanent). */
export function untrackTemporary(p: string): void {
  liveTemporaries.delete(p);
}

/** Remove every temporary file and folder this process still has (on interrupt). */
export async function removeLiveTemporaries(): Promise<void> {
  await Promise.all([...liveTemporaries].map((p) => rm(p, { recursive: true, force: true }).catch(() => undefined)));
  liveTemporaries.clear();
}

/** Remove leftovers of killed runs under `root` (the run lock guarantees none is in use): their count and bytes. */
export async function removeStaleTemporaries(root: string): Promise<{ count: number; bytes: number }> {
  return removePartials(root, () => true);
}

/** A temporary copy this module writes (`.<name>.<pid>-<tag>.partial`), by its file name. */
export function isPartialName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(PARTIAL_SUFFIX);
}

/** `.partial` files under `root` (recursively) that `remove` accepts and this process does not own. */
async function removePartials(root: string, remove: (name: string) => boolean): Promise<{ count: number; bytes: number }> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true, recursive: true });
  } catch {
    return { count: 0, bytes: 0 };
  }
  const found = entries.filter((e) => e.isFile() && isPartialName(e.name) && remove(e.name));
  return removeLeftoverFiles(found.map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));
}

/**
 * Remove these temporary files of killed runs, except the ones this process is writing; the
 * caller holds the run lock (or knows their writers are dead). Their count and bytes.
 */
export async function removeLeftoverFiles(paths: readonly string[]): Promise<{ count: number; bytes: number }> {
  const result = { count: 0, bytes: 0 };
  for (const full of paths) {
    if (liveTemporaries.has(full)) continue;
    result.bytes += await sizeOf(full);
    await rm(full, { force: true });
    result.count++;
  }
  return result;
}

async function sizeOf(p: string): Promise<number> {
  try {
    const info = await lstat(p);
    if (!info.isDirectory()) return info.size;
    const entries = await readdir(p, { withFileTypes: true, recursive: true });
    const sizes = await Promise.all(entries.filter((e) => e.isFile()).map((e) => lstat(path.join(e.parentPath, e.name)).then((s) => s.size, () => 0)));
    return sizes.reduce((a, b) => a + b, 0);
  } catch {
    return 0;
  }
}

/** Where the transcribe step keeps a site's work folders (decoded audio, chunk WAVs): on the local root's disk, swept by sweepLocalRoot. */
export function workRootFor(localRoot: string, siteId: string): string {
  return path.join(localRoot, '.work', siteId);
}

/**
 * The writer's pid in a name from temporaryPathFor (`.<name>.<pid>-<tag><n>.partial`), or in a
 * probe's name (`.<name>-<pid>.partial`, the preflight's write check in the local root).
 */
function writerPid(name: string): number | undefined {
  const m = /\.(\d+)-[0-9a-f]{6}[0-9a-z]+\.partial$/.exec(name) ?? /^\.[A-Za-z0-9_]+-(\d+)\.partial$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

export interface SweepResult {
  removed: number;
  partialFiles: number;
  workFolders: number;
  bytes: number;
}

/**
 * Remove what killed runs left under the local root: partial files in the given sites' folders,
 * partial files of dead processes in the local root itself (the preflight's write probe) and in
 * the dot-folders beside the sites (`.cache`, `.runs`, `.backups`, `.conflicts`: commands without
 * the run lock, such as consistency, write there too), and every work folder under `.work`.
 * Call it only while holding the run lock; what this process tracks is kept.
 */
export async function sweepLocalRoot(localRoot: string, siteIds: readonly string[]): Promise<SweepResult> {
  const result: SweepResult = { removed: 0, partialFiles: 0, workFolders: 0, bytes: 0 };
  const add = (found: { count: number; bytes: number }, kind: 'partialFiles' | 'workFolders') => {
    result[kind] += found.count;
    result.removed += found.count;
    result.bytes += found.bytes;
  };
  for (const found of await Promise.all(siteIds.map((id) => removePartials(path.join(localRoot, 'sites', id), () => true)))) add(found, 'partialFiles');
  // A name without a pid is not ours; a pid that is alive may be another command's write in progress.
  const dead = (name: string) => {
    const pid = writerPid(name);
    return pid !== undefined && !processExists(pid);
  };
  for (const entry of await readdir(localRoot, { withFileTypes: true }).catch(() => [])) {
    // In the local root itself: the preflight's write probe of a run killed before it removed it.
    if (entry.isFile() && isPartialName(entry.name) && dead(entry.name)) {
      add(await removeLeftoverFiles([path.join(localRoot, entry.name)]), 'partialFiles');
      continue;
    }
    if (!entry.isDirectory() || !entry.name.startsWith('.') || entry.name === '.work') continue;
    add(await removePartials(path.join(localRoot, entry.name), dead), 'partialFiles');
  }
  // Only runs (under the lock) make work folders: none of another process can be live.
  const work = path.join(localRoot, '.work');
  for (const site of await readdir(work, { withFileTypes: true }).catch(() => [])) {
    if (!site.isDirectory()) continue;
    for (const name of await readdir(path.join(work, site.name)).catch(() => [])) {
      const full = path.join(work, site.name, name);
      if (liveTemporaries.has(full)) continue;
      const bytes = await sizeOf(full);
      await rm(full, { recursive: true, force: true });
      add({ count: 1, bytes }, 'workFolders');
    }
  }
  return result;
}

/** The run's warning line for a sweep that removed something (its start is the wording operators and tests already know). */
export function describeSweep(r: Pick<SweepResult, 'partialFiles' | 'workFolders' | 'bytes'>): string {
  const parts = r.partialFiles > 0 || r.workFolders === 0 ? [`${r.partialFiles} partial files`] : [];
  if (r.workFolders > 0) parts.push(`${r.workFolders} work folder${r.workFolders === 1 ? '' : 's'}`);
  return `removed ${parts.join(' and ')} left by an interrupted run (${(r.bytes / 1024 / 1024).toFixed(1)} MB)`;
}

/**
 * Temporary copies of `finalPath` (`.<name>.<pid>-<tag>.partial`) whose writer is dead: for
 * files that a process without the run lock may be writing at the same time.
 */
export async function removeTemporariesOfDeadProcesses(finalPath: string): Promise<void> {
  const dir = path.dirname(finalPath);
  const prefix = `.${path.basename(finalPath)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(PARTIAL_SUFFIX)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && processExists(pid)) continue;
    await rm(path.join(dir, name), { force: true });
  }
}
