// What a nightly entry runs and where it lives, shared by the three kinds (systemd, launchd,
// cron): the spec install writes, the entry status reads back, the checks that call an entry
// broken, the next run time, and the machine's environment (every path overridable for tests).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type EntryKind = 'systemd' | 'launchd' | 'cron';
export const ENTRY_KINDS: readonly EntryKind[] = ['systemd', 'launchd', 'cron'];

/** The project folder this code runs from (the launcher keeps each module's own location). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Every entry carries this tag followed by its project folder: how status and remove find ours. */
export const MARKER = 'podcast-ingest:';
/** Written in every entry, so whoever opens it knows where it comes from. */
export const MANAGED_NOTE = 'Written by `node scripts/ingest.mjs schedule install`: rerun it to change this entry, `schedule remove` to delete it.';

/** Where entries go and whether the scheduler itself may be told. Tests point all of it at a temp folder. */
export interface ScheduleEnv {
  home: string;
  configHome: string;
  /** INGEST_CRONTAB_FILE: read and write this file instead of calling `crontab`. */
  crontabFile?: string;
  /** False with INGEST_SCHEDULE_NO_ACTIVATE: write files, never call systemctl or launchctl. */
  activate: boolean;
  platform: NodeJS.Platform;
}

export function scheduleEnv(env: NodeJS.ProcessEnv = process.env): ScheduleEnv {
  const home = env.HOME || os.homedir();
  return {
    home,
    configHome: env.XDG_CONFIG_HOME || path.join(home, '.config'),
    crontabFile: env.INGEST_CRONTAB_FILE || undefined,
    activate: !env.INGEST_SCHEDULE_NO_ACTIVATE,
    platform: process.platform,
  };
}

/** What install writes: one nightly run of this project. */
export interface EntrySpec {
  project: string;
  /** HH:MM, local time. */
  at: string;
  maxRuntimeMs: number;
  /** Absolute: node, scripts/ingest.mjs, then the run's arguments. */
  argv: string[];
  /** PATH of the run: ffmpeg's and node's folders, then the system's. */
  pathEnv: string;
  logFile: string;
  /** A name unique to the project folder: the unit and label names. */
  name: string;
}

export function buildSpec(options: { at: string; maxRuntimeMs: number; sitesRoot: string; localRoot: string; project?: string; env?: NodeJS.ProcessEnv }): EntrySpec & { ffmpeg?: string } {
  const project = options.project ?? PROJECT_ROOT;
  const localRoot = path.resolve(options.localRoot);
  const ffmpeg = findFfmpeg(options.env ?? process.env);
  const dirs = [...(ffmpeg ? [path.dirname(ffmpeg)] : []), path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'];
  return {
    project,
    at: options.at,
    maxRuntimeMs: options.maxRuntimeMs,
    argv: [
      process.execPath,
      path.join(project, 'scripts', 'ingest.mjs'),
      'run',
      '--renderer=plain',
      `--max-runtime=${formatRuntime(options.maxRuntimeMs)}`,
      `--sites-root=${path.resolve(options.sitesRoot)}`,
      `--local-root=${localRoot}`,
    ],
    pathEnv: [...new Set(dirs)].join(':'),
    logFile: path.join(localRoot, '.runs', 'cron.log'),
    name: entryName(project),
    ffmpeg,
  };
}

export function entryName(project: string): string {
  return `podcast-ingest-${createHash('sha1').update(project).digest('hex').slice(0, 8)}`;
}

/** `command -v ffmpeg`, or FFMPEG when it names a file (tasks/engines/transcription/toolchain/ffmpeg.ts reads it). */
function findFfmpeg(env: NodeJS.ProcessEnv): string | undefined {
  if (env.FFMPEG && path.isAbsolute(env.FFMPEG)) return env.FFMPEG;
  for (const dir of (env.PATH ?? '').split(':')) {
    const candidate = path.join(dir || '.', env.FFMPEG || 'ffmpeg');
    if (path.isAbsolute(candidate) && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** "8h", "6h30m", "45m": what parseDuration (command-line.ts) reads back. */
export function formatRuntime(ms: number): string {
  const total = Math.max(1, Math.round(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** The next HH:MM of local wall-clock time strictly after `now` (today or tomorrow). */
export function nextRunAt(at: string, now: Date = new Date()): Date {
  const [hour, minute] = at.split(':').map(Number) as [number, number];
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate(), hour, minute, 0, 0);
  if (next.getTime() <= now.getTime()) next.setDate(next.getDate() + 1);
  // setDate keeps the wall-clock time across a DST change; a time the change skips moves forward.
  return next;
}

/** An entry found on the machine, of this project or another. */
export interface InstalledEntry {
  kind: EntryKind;
  /** The unit, label, or "crontab line". */
  name: string;
  /** The project folder its marker names. */
  project: string;
  at?: string;
  /** The command as parsed back (node, script, arguments), when it could be. */
  argv?: string[];
  workingDirectory?: string;
  pathEnv?: string;
  logFile?: string;
  /** Files (or the crontab) holding it. */
  where: string[];
  /** What makes it broken, found while reading it. */
  problems: string[];
  /** Activation state and the like. */
  notes: string[];
}

/** Why an entry would not run tonight: what it points at is gone, or it could not be read. */
export function entryProblems(entry: InstalledEntry): string[] {
  const problems = [...entry.problems];
  // A gone project folder says it all: its runner and working directory went with it.
  const projectGone = !existsSync(entry.project);
  if (projectGone) problems.push(`its project folder ${entry.project} is gone`);
  if (!entry.argv) return [...problems, 'its command could not be read'];
  const [node, script, ...args] = entry.argv;
  if (!node || !isExecutable(node)) problems.push(`node ${node ?? '(none)'} is gone (reinstall after a Node upgrade)`);
  if (!projectGone && (!script || !existsSync(script))) problems.push(`the runner ${script ?? '(none)'} is gone`);
  if (!projectGone && entry.workingDirectory && !existsSync(entry.workingDirectory)) problems.push(`its working directory ${entry.workingDirectory} is gone`);
  const sitesRoot = args.find((a) => a.startsWith('--sites-root='))?.slice('--sites-root='.length);
  if (sitesRoot && !existsSync(sitesRoot)) problems.push(`its sites root ${sitesRoot} is gone`);
  // cron makes the log folder itself; systemd and launchd fail to start without it.
  if (entry.kind !== 'cron' && entry.logFile && !existsSync(path.dirname(entry.logFile))) problems.push(`its log folder ${path.dirname(entry.logFile)} is gone`);
  return [...new Set(problems)];
}

/** Split a command line into words: '...', "..." with backslash escapes, bare backslashes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      word = (word ?? '') + text.slice(i + 1, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '"') {
      word ??= '';
      for (i++; i < text.length && text[i] !== '"'; i++) word += text[i] === '\\' && i + 1 < text.length ? text[++i] : text[i];
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** POSIX shell quoting, only where needed. */
export function shQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A child process's outcome; never throws (a missing program is `missing`). */
export function runTool(command: string, args: string[], input?: string): { ok: boolean; missing: boolean; code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: 30_000 });
  const missing = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: result.status === 0, missing, code: result.status, stdout: result.stdout ?? '', stderr: (result.stderr ?? '') + (result.error && !missing ? String(result.error) : '') };
}

/** PID 1's name on Linux ("systemd", or a container's init); undefined elsewhere. */
function pid1(): string | undefined {
  try {
    return readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whether a systemd user manager answers here, and if not why. */
export function systemdUserManager(env: ScheduleEnv): { ok: true } | { ok: false; reason: string } {
  if (env.platform !== 'linux') return { ok: false, reason: `this is ${env.platform}, not Linux` };
  const init = pid1();
  if (init !== 'systemd') return { ok: false, reason: `PID 1 is ${init ?? 'unknown'}, not systemd` };
  const probe = runTool('systemctl', ['--user', 'show-environment']);
  if (!probe.ok) return { ok: false, reason: `\`systemctl --user\` does not answer (${probe.missing ? 'systemctl not found' : probe.stderr.trim().split('\n')[0]})` };
  return { ok: true };
}

/** What `--kind=auto` picks on this machine, and why. */
export function autoKind(env: ScheduleEnv): { kind: EntryKind; reason: string } {
  if (env.platform === 'darwin') return { kind: 'launchd', reason: 'macOS' };
  const systemd = systemdUserManager(env);
  if (systemd.ok) return { kind: 'systemd', reason: 'PID 1 is systemd and `systemctl --user` answers' };
  return { kind: 'cron', reason: systemd.reason };
}
