// Atomic writes (DESIGN §4): write to a temporary name in the same folder, fsync, rename.
// Temporary names start with "." and end in ".partial", so sync ignores them and a later
// run never mistakes one for a complete file. Live temporaries are tracked so an
// interrupted run can remove them before it exits.
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, utimes } from 'node:fs/promises';
import path from 'node:path';

export const PARTIAL_SUFFIX = '.partial';
const liveTemporaries = new Set<string>();

/** `<dir>/.<name>.<pid>-<random>.partial` */
export function temporaryPathFor(finalPath: string): string {
  const dir = path.dirname(finalPath);
  const name = path.basename(finalPath);
  return path.join(dir, `.${name}.${process.pid}-${randomBytes(4).toString('hex')}${PARTIAL_SUFFIX}`);
}

export function isTemporaryName(name: string): boolean {
  return name.endsWith(PARTIAL_SUFFIX) || name.endsWith('.tmp') || name.endsWith('.part') || name.endsWith('.download');
}

async function fsyncPath(p: string, flags: 'r' | 'r+' = 'r'): Promise<void> {
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

export interface AtomicWriteOptions {
  /** Set the final file's mtime (e.g. an object's LastModified). */
  mtime?: Date;
}

/** Write `data` to `finalPath` atomically. */
export async function writeFileAtomic(finalPath: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await mkdir(path.dirname(finalPath), { recursive: true });
  const temp = temporaryPathFor(finalPath);
  liveTemporaries.add(temp);
  try {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.mtime) await utimes(temp, options.mtime, options.mtime);
    await rename(temp, finalPath);
    await fsyncDir(path.dirname(finalPath));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  } finally {
    liveTemporaries.delete(temp);
  }
}

/** A stream to a temporary file that becomes `finalPath` only on commit(). */
export interface AtomicFile {
  readonly tempPath: string;
  readonly stream: WriteStream;
  /** Flush, fsync and rename into place. */
  commit(options?: AtomicWriteOptions): Promise<void>;
  /** Remove the temporary file (safe to call more than once, or after commit). */
  abort(): Promise<void>;
}

export async function createAtomicFile(finalPath: string): Promise<AtomicFile> {
  await mkdir(path.dirname(finalPath), { recursive: true });
  const tempPath = temporaryPathFor(finalPath);
  liveTemporaries.add(tempPath);
  const stream = createWriteStream(tempPath);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  let done = false;
  const closed = () =>
    new Promise<void>((resolve, reject) => {
      if (stream.closed) return resolve();
      stream.once('error', reject);
      stream.end(() => resolve());
    });
  return {
    tempPath,
    stream,
    async commit(commitOptions = {}) {
      await closed();
      await renameIntoPlace(tempPath, finalPath, commitOptions);
      done = true;
      liveTemporaries.delete(tempPath);
    },
    async abort() {
      if (done) return;
      done = true;
      stream.destroy();
      await rm(tempPath, { force: true });
      liveTemporaries.delete(tempPath);
    },
  };
}

/** fsync a complete temporary file, stamp its mtime if asked, rename it to `finalPath`, fsync the folder. */
export async function renameIntoPlace(tempPath: string, finalPath: string, options: AtomicWriteOptions = {}): Promise<void> {
  await fsyncPath(tempPath, 'r+');
  if (options.mtime) await utimes(tempPath, options.mtime, options.mtime);
  await rename(tempPath, finalPath);
  await fsyncDir(path.dirname(finalPath));
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

/** Remove leftovers of killed runs under `root` (the run lock guarantees none is in use). */
export async function removeStaleTemporaries(root: string): Promise<number> {
  let removed = 0;
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.startsWith('.') || !entry.name.endsWith(PARTIAL_SUFFIX)) continue;
    const full = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    if (liveTemporaries.has(full)) continue;
    await rm(full, { force: true });
    removed++;
  }
  return removed;
}
