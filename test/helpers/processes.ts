// Processes as Linux /proc shows them, for the tests of how children start and how long they
// live; and the environment cron gives a job.
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

export interface ProcessInfo {
  pid: number;
  argv: string[];
}

/** Live (not zombie) processes whose command line contains `text`. */
export async function processesWithArg(text: string): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(text)) found.push({ pid: Number(entry), argv: cmdline.split('\0').filter(Boolean) });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Poll until `find` returns something (or `timeoutMs` passes). */
export async function waitUntil<T>(find: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await find();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * What cron hands a job (`env -i` style): only `keep`, no SHLVL. Every inherited variable is
 * set to undefined, which child_process.spawn leaves out (the CLI helper merges process.env).
 */
export function cronEnv(keep: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.keys(process.env).map((k) => [k, undefined])), ...keep };
}

/** The pid of a process that has exited (reuse within a test is practically impossible). */
export function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid;
}
