// `schedule install|status|remove`: the nightly run as a systemd user timer, a launchd agent or a
// crontab line (tasks/commands/schedule/). One entry per project folder: installing again
// replaces it, whatever its kind; remove also clears entries whose project folder is gone.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ScheduleFlags } from './command-line.ts';
import { errorMessage, unreachable } from '../platform/errors.ts';
import { EXIT } from '../platform/types.ts';
import { installCron, listCron, removeCron } from './schedule/cron.ts';
import {
  autoKind, buildSpec, ENTRY_KINDS, entryProblems, nextRunAt, PROJECT_ROOT, scheduleEnv, shQuote,
  type EntryKind, type EntrySpec, type InstalledEntry, type ScheduleEnv,
} from './schedule/entry.ts';
import { installLaunchd, listLaunchd, removeLaunchd } from './schedule/launchd.ts';
import { installSystemd, listSystemd, removeSystemd } from './schedule/systemd.ts';

export { nextRunAt } from './schedule/entry.ts';

interface Backend {
  list(env: ScheduleEnv): Promise<InstalledEntry[]>;
  install(spec: EntrySpec, env: ScheduleEnv): Promise<string[]>;
  remove(entries: InstalledEntry[], env: ScheduleEnv): Promise<string[]>;
}

const BACKENDS: Record<EntryKind, Backend> = {
  systemd: { list: listSystemd, install: installSystemd, remove: removeSystemd },
  launchd: { list: listLaunchd, install: installLaunchd, remove: removeLaunchd },
  cron: { list: listCron, install: installCron, remove: (entries, env) => removeCron(new Set(entries.map((e) => e.project)), env) },
};

/** An entry as status shows it. */
export interface ScheduledEntry extends InstalledEntry {
  /** Of the project folder this code runs from. */
  ours: boolean;
  /** Why it would not run tonight; empty when it would. */
  broken: string[];
  nextRun?: Date;
}

/** Every podcast-ingest entry on this machine (this project's and other checkouts'), of every kind. */
export async function readSchedule(env: ScheduleEnv = scheduleEnv(), now: Date = new Date()): Promise<ScheduledEntry[]> {
  const found = (await Promise.all(ENTRY_KINDS.map((kind) => BACKENDS[kind].list(env)))).flat();
  return found.map((entry) => ({ ...entry, ours: entry.project === PROJECT_ROOT, broken: entryProblems(entry), nextRun: entry.at ? nextRunAt(entry.at, now) : undefined }));
}

/** This project's next nightly run, for `status`; undefined when none is installed. */
export async function nextScheduledRun(now: Date = new Date(), env: ScheduleEnv = scheduleEnv()): Promise<{ kind: EntryKind; at: string; nextRun: Date; broken: string[] } | undefined> {
  const ours = (await readSchedule(env, now)).filter((e) => e.ours && e.at && e.nextRun);
  ours.sort((a, b) => a.nextRun!.getTime() - b.nextRun!.getTime());
  const first = ours[0];
  return first ? { kind: first.kind, at: first.at!, nextRun: first.nextRun!, broken: first.broken } : undefined;
}

export async function scheduleCommand(flags: ScheduleFlags): Promise<number> {
  const env = scheduleEnv();
  try {
    switch (flags.action) {
      case 'install':
        return await install(flags, env);
      case 'status':
        return await status(env);
      case 'remove':
        return await remove(flags, env);
      default:
        return unreachable(flags.action);
    }
  } catch (error) {
    process.stderr.write(`error: schedule ${flags.action}: ${errorMessage(error)}\n`);
    return EXIT.failed;
  }
}

async function install(flags: ScheduleFlags, env: ScheduleEnv): Promise<number> {
  const sitesRoot = path.resolve(flags.sitesRoot);
  if (!existsSync(sitesRoot)) {
    process.stderr.write(`error: schedule install: the sites root ${sitesRoot} does not exist (run from the project folder, or pass --sites-root=DIR)\n`);
    return EXIT.usage;
  }
  const choice = flags.kind === 'auto' ? autoKind(env) : { kind: flags.kind, reason: 'chosen with --kind' };
  const spec = buildSpec({ at: flags.at, maxRuntimeMs: flags.maxRuntimeMs, sitesRoot, localRoot: flags.localRoot });
  mkdirSync(path.dirname(spec.logFile), { recursive: true });
  // One nightly run per project: its entries of another kind go first.
  const notes: string[] = [];
  for (const kind of ENTRY_KINDS.filter((k) => k !== choice.kind)) {
    const old = (await BACKENDS[kind].list(env)).filter((e) => e.project === spec.project);
    if (old.length === 0) continue;
    notes.push(...(await BACKENDS[kind].remove(old, env)), `removed the ${kind} entry it replaces`);
  }
  notes.push(...(await BACKENDS[choice.kind].install(spec, env)));
  // Read back what was written: the same parser status uses.
  const written = (await readSchedule(env)).filter((e) => e.ours && e.kind === choice.kind);
  out(`schedule: installed the nightly run with ${choice.kind} (${choice.reason})`);
  // The backend's notes say more than the read-back's ("not activated, because...").
  for (const entry of written) describe(entry, false);
  for (const note of [...notes, ...warnings(spec)]) out(`  ${note}`);
  return written.length === 1 && written[0]!.broken.length === 0 ? EXIT.ok : EXIT.failed;
}

async function status(env: ScheduleEnv): Promise<number> {
  const entries = await readSchedule(env);
  if (entries.length === 0) {
    const auto = autoKind(env);
    out(`schedule: not installed (install would use ${auto.kind}: ${auto.reason})`);
    return EXIT.ok;
  }
  for (const entry of entries) {
    out(`schedule: ${entry.kind} entry of ${entry.ours ? `this project (${entry.project})` : `another project folder, ${entry.project}`}`);
    describe(entry);
  }
  if (entries.filter((e) => e.ours).length > 1) out(`  warning: this project has ${entries.filter((e) => e.ours).length} entries: run schedule install again to keep one`);
  return entries.some((e) => e.broken.length > 0) ? EXIT.failed : EXIT.ok;
}

async function remove(flags: ScheduleFlags, env: ScheduleEnv): Promise<number> {
  const entries = (await readSchedule(env)).filter((e) => flags.kind === 'auto' || e.kind === flags.kind);
  // Nobody else can remove an entry whose project folder is gone.
  const targets = entries.filter((e) => e.ours || !existsSync(e.project));
  for (const kind of ENTRY_KINDS) {
    const ofKind = targets.filter((e) => e.kind === kind);
    if (ofKind.length === 0) continue;
    const notes = await BACKENDS[kind].remove(ofKind, env);
    for (const entry of ofKind) out(`schedule: removed the ${kind} entry of ${entry.project}${entry.ours ? '' : ' (folder gone)'}: ${entry.where.join(', ')}`);
    for (const note of notes) out(`  ${note}`);
  }
  for (const entry of entries.filter((e) => !targets.includes(e))) {
    out(`schedule: left the ${entry.kind} entry of ${entry.project} alone (another project folder: remove it from there)`);
  }
  if (targets.length === 0) out(`schedule: nothing to remove (not installed${flags.kind === 'auto' ? '' : ` with ${flags.kind}`})`);
  return EXIT.ok;
}

function describe(entry: ScheduledEntry, withNotes = true): void {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (entry.at) out(`  time      ${entry.at} every night, local time (${zone})${entry.kind === 'systemd' ? ', up to 5 min later' : ''}`);
  if (entry.nextRun) out(`  next run  ${formatLocal(entry.nextRun)} (in ${until(entry.nextRun)})`);
  if (entry.argv) out(`  command   ${entry.argv.map(shQuote).join(' ')}`);
  if (entry.workingDirectory) out(`  in        ${entry.workingDirectory}`);
  if (entry.pathEnv) out(`  PATH      ${entry.pathEnv}`);
  if (entry.logFile) out(`  log       ${entry.logFile}`);
  out(`  entry     ${entry.where.join(', ')}`);
  if (withNotes) for (const note of entry.notes) out(`  ${note}`);
  for (const problem of entry.broken) out(`  BROKEN    ${problem}`);
  if (entry.broken.length > 0) out(`  fix       node scripts/ingest.mjs schedule remove (from any checkout for a folder that is gone), then schedule install`);
}

/** What the nightly run will miss, said once at install. */
function warnings(spec: EntrySpec & { ffmpeg?: string }): string[] {
  const found: string[] = [];
  if (!spec.ffmpeg) found.push('warning: ffmpeg is not on PATH: transcription will fail until it is installed (then run schedule install again)');
  const envFile = path.join(spec.project, '.env.automation');
  const mode = statSync(envFile, { throwIfNoEntry: false })?.mode;
  if (mode === undefined) found.push(`note: ${envFile} does not exist: the run reads its credentials and WHISPER_MODEL from it (see .env.automation.example)`);
  else if ((mode & 0o077) !== 0) found.push(`warning: ${envFile} is readable by group or others: chmod 600 ${envFile}`);
  return found;
}

function formatLocal(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function until(date: Date): string {
  const minutes = Math.max(0, Math.round((date.getTime() - Date.now()) / 60_000));
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

function out(line: string): void {
  process.stdout.write(line + '\n');
}
