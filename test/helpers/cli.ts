// Drives the real CLI as a child process, the way an operator or cron does: through
// scripts/ingest.mjs (the bundled Taskfile.ts that `npm run ingest` and cron use).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TSX_LOADER = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A running CLI process whose output is collected. */
export interface RunningCli {
  child: ChildProcess;
  result: Promise<CliResult>;
  /** Resolves when stdout+stderr first matches `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  output(): string;
}

export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  // Resolved here so the CLI can run from any working directory (the demo test uses a temp one).
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'), ...args], {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so tests can check that no child survives
  });
  let stdout = '';
  let stderr = '';
  const watchers: { pattern: RegExp; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...watchers]) {
      if (w.pattern.test(stdout + stderr)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const result = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    result,
    output: () => stdout + stderr,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${stdout}${stderr}`)), timeoutMs);
        watchers.push({
          pattern,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
        check();
      });
    },
  };
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).result;
}

/** Every process still alive in the process group `pgid` (Linux /proc). */
export async function processGroupMembers(pgid: number): Promise<number[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const alive: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] = state, fields[2] = pgrp
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') alive.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return alive;
}
