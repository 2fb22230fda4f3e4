// One run at a time per local data folder. The lock names its holder (pid, host, start
// time). It never expires by age: it is stale only when its process is gone, so a run that
// spans a laptop sleep keeps it. A pid reused by another process is detected through the
// process start time recorded next to it.
//
// The lock file is published complete: the holder is written and fsynced under a unique name,
// then hard-linked to the lock name (link fails if the lock exists: the atomic test-and-set).
// So a lock file that exists is always readable; one that is not (an older version, disk
// damage) is treated as held until it is old. A stale lock is replaced only under a claim on
// that exact file (inode and content), so of several runs taking it over one wins, and a run
// that judged an older file stale cannot replace the lock the winner has just published.
import { link, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  /** Kernel start time of the holder process (Linux), to tell a reused pid apart. */
  processStart?: string;
  command?: string;
  /** When the holder said it would be done (its --max-runtime): past it, a live holder is probably stuck. */
  deadline?: string;
}

export type LockResult =
  | { status: 'acquired'; release: () => Promise<void>; tookOverFrom?: LockHolder }
  | { status: 'held'; holder: LockHolder; lockPath: string };

export const LOCK_NAME = '.ingest.lock';

/** An unreadable lock file younger than this may be an older version still writing it. */
const UNREADABLE_GRACE_MS = 10 * 60_000;
/** How long to wait for another process that is taking over the same stale lock. */
const BUSY_RETRIES = 200;
const BUSY_WAIT_MS = 10;
/** Suffix of the complete holder file that gets linked: not `.partial`, which the run sweeps. */
const OWN_SUFFIX = '.new';
const CLAIM_INFIX = '.claim-';

/** The holder as stored: `token` makes every published lock file's content unique. */
type StoredHolder = LockHolder & { token?: string };

/** One lock (or claim) file as read through one descriptor: its identity and content. */
interface Snapshot {
  ino: bigint;
  mtimeMs: number;
  text: string;
  holder?: StoredHolder;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isAlive(holder: LockHolder): boolean {
  if (!processExists(holder.pid)) return false;
  // The same pid with another start time is a new process that reused it.
  const start = processStartTime(holder.pid);
  return !(holder.processStart && start && start !== holder.processStart);
}

function isStale(file: Snapshot, me: LockHolder): boolean {
  // Another host's process cannot be probed from here.
  if (file.holder) return file.holder.host === me.host && !isAlive(file.holder);
  return Date.now() - file.mtimeMs > UNREADABLE_GRACE_MS;
}

/** How an unreadable lock file is reported, as a holder (the callers print describeHolder). */
function unreadableHolder(file: Snapshot): LockHolder {
  const age = Math.round((Date.now() - file.mtimeMs) / 60_000);
  return {
    pid: 0,
    host: 'unknown',
    startedAt: new Date(file.mtimeMs).toISOString(),
    command: `unreadable lock file: ${file.text.length === 0 ? 'empty' : 'no holder in it'}, last modified ${age} min ago; treated as held until ${UNREADABLE_GRACE_MS / 60_000} min old`,
  };
}

function parseHolder(text: string): StoredHolder | undefined {
  try {
    const parsed = JSON.parse(text) as StoredHolder;
    return typeof parsed?.pid === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** Inode and content through one descriptor, so both describe the same file; undefined if absent. */
async function snapshot(file: string): Promise<Snapshot | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const info = await handle.stat({ bigint: true });
    const text = await handle.readFile('utf8');
    return { ino: info.ino, mtimeMs: Number(info.mtimeMs), text, holder: parseHolder(text) };
  } finally {
    await handle.close();
  }
}

function claimPath(lockPath: string, file: Snapshot): string {
  const id = createHash('sha256').update(`${file.ino}\n${file.text}`).digest('hex').slice(0, 20);
  return `${lockPath}${CLAIM_INFIX}${id}`;
}

type Removal = { outcome: 'done' | 'changed' } | { outcome: 'busy'; by: LockHolder };

/**
 * Replace `file` by `own` (rename), or remove it, if it is still exactly `seen` and stale,
 * while holding the claim on `seen` (`own`, linked to the claim name). Only a claim holder
 * touches a stale file and the claim is exclusive, so the file cannot change between the check
 * and the rename. A claim left by a dead process is itself stale and removed the same way.
 */
async function replaceIfUnchanged(lockPath: string, file: string, seen: Snapshot, own: string, me: LockHolder, replace: boolean, depth = 0): Promise<Removal> {
  const claim = claimPath(lockPath, seen);
  for (;;) {
    try {
      await link(own, claim);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const other = await snapshot(claim);
    if (!other) continue; // Its holder just finished.
    if (depth >= 3 || !isStale(other, me)) return { outcome: 'busy', by: other.holder ?? unreadableHolder(other) };
    const cleared = await replaceIfUnchanged(lockPath, claim, other, own, me, false, depth + 1);
    if (cleared.outcome === 'busy') return cleared;
  }
  try {
    const now = await snapshot(file);
    if (!now || now.ino !== seen.ino || now.text !== seen.text || !isStale(now, me)) return { outcome: 'changed' };
    // A rename leaves no moment without a lock file for a newcomer to link into.
    if (replace) await rename(own, file);
    else await unlink(file);
    return { outcome: 'done' };
  } finally {
    await rm(claim, { force: true });
  }
}

/** Holder files and claims left by processes killed while acquiring (we hold the lock now). */
async function removeLeftovers(lockPath: string, me: LockHolder): Promise<void> {
  const dir = path.dirname(lockPath);
  const prefix = `${path.basename(lockPath)}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const full = path.join(dir, name);
    const isOwn = name.endsWith(OWN_SUFFIX);
    if (!name.startsWith(prefix) || !(isOwn || name.startsWith(`${prefix}${CLAIM_INFIX.slice(1)}`))) continue;
    const leftover = await snapshot(full).catch(() => undefined);
    if (!leftover || !isStale(leftover, me)) continue;
    // Only its creator links a holder file; a claim may be re-taken meanwhile, so it goes under a claim.
    if (isOwn) await rm(full, { force: true });
    else await replaceIfUnchanged(lockPath, full, leftover, lockPath, me, false, 1).catch(() => undefined);
  }
}

export async function acquireLock(localRoot: string, command: string, options: { deadline?: Date } = {}): Promise<LockResult> {
  await mkdir(localRoot, { recursive: true });
  const lockPath = path.join(localRoot, LOCK_NAME);
  const token = `${process.pid}-${randomBytes(8).toString('hex')}`;
  const me: StoredHolder = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    processStart: processStartTime(process.pid),
    command,
    ...(options.deadline ? { deadline: options.deadline.toISOString() } : {}),
    token,
  };
  // Complete and on disk before it gets the lock name: a crash must not leave an empty lock.
  const own = `${lockPath}.${token}${OWN_SUFFIX}`;
  const handle = await open(own, 'wx');
  try {
    await handle.writeFile(JSON.stringify(me, null, 2) + '\n');
    await handle.sync();
  } finally {
    await handle.close();
  }
  const acquired = async (tookOverFrom?: LockHolder): Promise<LockResult> => {
    await removeLeftovers(lockPath, me);
    const release = async () => {
      // Only our own lock: the token is unique to this acquisition.
      const current = await snapshot(lockPath).catch(() => undefined);
      if (current?.holder?.token === token) await rm(lockPath, { force: true });
    };
    return { status: 'acquired', release, tookOverFrom };
  };
  try {
    let lastSeen: LockHolder | undefined;
    for (let attempt = 0; attempt < BUSY_RETRIES; attempt++) {
      try {
        await link(own, lockPath);
        return await acquired();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const current = await snapshot(lockPath);
      if (!current) continue; // Released meanwhile.
      const holder = current.holder ?? unreadableHolder(current);
      if (!isStale(current, me)) return { status: 'held', holder, lockPath };
      const takeOver = await replaceIfUnchanged(lockPath, lockPath, current, own, me, true);
      if (takeOver.outcome === 'done') return await acquired(holder);
      if (takeOver.outcome === 'busy') {
        // Another process is taking it over: wait to see who holds it then.
        lastSeen = takeOver.by;
        await sleep(BUSY_WAIT_MS);
      }
    }
    return { status: 'held', holder: lastSeen ?? { pid: 0, host: 'unknown', startedAt: 'unknown' }, lockPath };
  } finally {
    await rm(own, { force: true });
  }
}

export function describeHolder(holder: LockHolder, now = new Date()): string {
  const base = `pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}${holder.command ? ` (${holder.command})` : ''}`;
  if (holder.deadline && Date.parse(holder.deadline) < now.getTime()) {
    return `${base}; it is past its maximum run time (${holder.deadline}) and may be stuck: check it, and stop it with kill ${holder.pid} if so`;
  }
  return base;
}
