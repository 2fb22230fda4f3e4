// One run at a time per local data folder. The lock names its holder (pid, host, start
// time). It never expires by age: it is stale only when its process is gone, so a run that
// spans a laptop sleep keeps it. A pid reused by another process is detected through the
// process start time recorded next to it.
import { open, readFile, rm, mkdir, rename } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  /** Kernel start time of the holder process (Linux), to tell a reused pid apart. */
  processStart?: string;
  command?: string;
}

export type LockResult =
  | { status: 'acquired'; release: () => Promise<void>; tookOverFrom?: LockHolder }
  | { status: 'held'; holder: LockHolder; lockPath: string };

export const LOCK_NAME = '.ingest.lock';

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

export async function acquireLock(localRoot: string, command: string): Promise<LockResult> {
  await mkdir(localRoot, { recursive: true });
  const lockPath = path.join(localRoot, LOCK_NAME);
  const me: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    processStart: processStartTime(process.pid),
    command,
  };
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // 'wx' fails when the file exists: creation is the atomic test-and-set.
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(JSON.stringify(me, null, 2) + '\n');
      await handle.sync();
      await handle.close();
      const release = async () => {
        const current = await readHolder(lockPath);
        if (current?.pid === me.pid && current.host === me.host) await rm(lockPath, { force: true });
      };
      return { status: 'acquired', release, tookOverFrom };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readHolder(lockPath);
    if (holder && (holder.host !== me.host || isAlive(holder))) return { status: 'held', holder, lockPath };
    // Stale (holder gone, or unreadable because it was killed while writing): move it aside
    // atomically so two runs taking over at once cannot both win.
    const aside = `${lockPath}.stale-${process.pid}`;
    try {
      await rename(lockPath, aside);
      await rm(aside, { force: true });
      tookOverFrom = holder ?? { pid: 0, host: 'unknown', startedAt: 'unknown' };
    } catch {
      // Someone else moved it first; try again.
    }
  }
  const holder = (await readHolder(lockPath)) ?? { pid: 0, host: 'unknown', startedAt: 'unknown' };
  return { status: 'held', holder, lockPath };
}

async function readHolder(lockPath: string): Promise<LockHolder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(lockPath, 'utf8')) as LockHolder;
    return typeof parsed.pid === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function describeHolder(holder: LockHolder): string {
  return `pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}${holder.command ? ` (${holder.command})` : ''}`;
}
