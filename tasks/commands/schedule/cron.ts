// cron: one crontab line per project folder, tagged `# podcast-ingest:<project>` at its end (a
// shell comment to cron). Install and remove rewrite only our tagged lines; every other line of
// the operator's crontab is written back as it was read.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../platform/atomic.ts';
import { MARKER, runTool, shQuote, splitWords, type EntrySpec, type InstalledEntry, type ScheduleEnv } from './entry.ts';

const TAG = new RegExp(`\\s#\\s*${MARKER}(.+)$`);

export function cronLine(spec: EntrySpec): string {
  const [hour, minute] = spec.at.split(':').map(Number) as [number, number];
  const command = [
    `cd ${shQuote(spec.project)}`,
    // A wiped local root would otherwise make the shell refuse the redirection: no run, no log.
    `mkdir -p ${shQuote(path.dirname(spec.logFile))}`,
    `PATH=${shQuote(spec.pathEnv)} exec ${spec.argv.map(shQuote).join(' ')} >>${shQuote(spec.logFile)} 2>&1`,
  ].join(' && ');
  // cron turns an unescaped % into a newline.
  return `${minute} ${hour} * * * ${command} # ${MARKER}${spec.project}`.replace(/%/g, '\\%');
}

/** The project a crontab line belongs to, when it is one of ours. */
function projectOf(line: string): string | undefined {
  return TAG.exec(line.replace(/\\%/g, '%'))?.[1]!.trim();
}

export function parseCronLine(line: string): InstalledEntry | undefined {
  const text = line.replace(/\\%/g, '%');
  const tag = TAG.exec(text);
  if (!tag) return undefined;
  const entry: InstalledEntry = { kind: 'cron', name: 'crontab line', project: tag[1]!.trim(), where: [], problems: [], notes: [] };
  let body = text.slice(0, tag.index).trim();
  if (body.startsWith('#')) {
    entry.problems.push('it is commented out');
    body = body.replace(/^#\s*/, '');
  }
  const fields = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(body);
  if (!fields) return { ...entry, problems: [...entry.problems, `"${body}" is not a crontab entry`] };
  const [minute, hour, ...rest] = fields.slice(1, 6) as [string, string, string, string, string];
  if (/^\d{1,2}$/.test(minute) && /^\d{1,2}$/.test(hour) && Number(minute) < 60 && Number(hour) < 24 && rest.every((f) => f === '*')) {
    entry.at = `${hour.padStart(2, '0')}:${minute.padStart(2, '0')}`;
  } else {
    entry.problems.push(`its schedule "${fields.slice(1, 6).join(' ')}" is not the daily time install writes`);
  }
  const words = splitWords(fields[6]!);
  const cd = words.indexOf('cd');
  if (cd >= 0) entry.workingDirectory = words[cd + 1];
  const exec = words.indexOf('exec');
  if (exec >= 0) {
    const end = words.findIndex((w, i) => i > exec && (w.startsWith('>') || w === '2>&1' || w === '&&'));
    entry.argv = words.slice(exec + 1, end < 0 ? undefined : end);
    if (words[exec - 1]?.startsWith('PATH=')) entry.pathEnv = words[exec - 1]!.slice('PATH='.length);
  }
  entry.logFile = words.find((w) => w.startsWith('>>'))?.slice(2);
  return entry;
}

type Crontab = { ok: true; lines: string[] } | { ok: false; missing: boolean; message: string };

function readCrontab(env: ScheduleEnv): Crontab {
  if (env.crontabFile) {
    return { ok: true, lines: existsSync(env.crontabFile) ? toLines(readFileSync(env.crontabFile, 'utf8')) : [] };
  }
  const result = runTool('crontab', ['-l']);
  if (result.ok) return { ok: true, lines: toLines(result.stdout) };
  // Debian's crontab -l exits 1 with "no crontab for <user>" when there is none yet.
  if (/no crontab for/i.test(result.stderr)) return { ok: true, lines: [] };
  if (result.missing) return { ok: false, missing: true, message: 'crontab not found: install cron (Debian: apt-get install cron)' };
  return { ok: false, missing: false, message: `crontab -l failed: ${result.stderr.trim()}` };
}

function toLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

async function writeCrontab(env: ScheduleEnv, lines: string[]): Promise<void> {
  // Nothing of ours or theirs left: no crontab at all, rather than an empty one.
  const empty = lines.every((l) => l.trim() === '');
  if (env.crontabFile) {
    if (empty) rmSync(env.crontabFile, { force: true });
    else await writeFileAtomic(env.crontabFile, lines.join('\n') + '\n');
    return;
  }
  // cron refuses a last line without its newline.
  const result = empty ? runTool('crontab', ['-r']) : runTool('crontab', ['-'], lines.join('\n') + '\n');
  if (!result.ok) throw new Error(`crontab ${empty ? '-r' : '-'} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
}

function where(env: ScheduleEnv): string {
  return env.crontabFile ? `${env.crontabFile} (INGEST_CRONTAB_FILE)` : `the crontab of ${os.userInfo().username} (crontab -l)`;
}

export async function listCron(env: ScheduleEnv): Promise<InstalledEntry[]> {
  const crontab = readCrontab(env);
  if (!crontab.ok) {
    if (crontab.missing) return [];
    throw new Error(crontab.message);
  }
  const entries = crontab.lines.map(parseCronLine).filter((e): e is InstalledEntry => e !== undefined);
  for (const entry of entries) entry.where.push(where(env));
  const daemon = cronDaemon(env);
  if (daemon) for (const entry of entries) entry.notes.push(daemon);
  return entries;
}

export async function installCron(spec: EntrySpec, env: ScheduleEnv): Promise<string[]> {
  const crontab = readCrontab(env);
  if (!crontab.ok) throw new Error(crontab.message);
  await writeCrontab(env, [...crontab.lines.filter((l) => projectOf(l) !== spec.project), cronLine(spec)]);
  const daemon = cronDaemon(env);
  return daemon ? [daemon] : [];
}

export async function removeCron(projects: Set<string>, env: ScheduleEnv): Promise<string[]> {
  const crontab = readCrontab(env);
  if (!crontab.ok) throw new Error(crontab.message);
  const kept = crontab.lines.filter((l) => !projects.has(projectOf(l) ?? ''));
  if (kept.length !== crontab.lines.length) await writeCrontab(env, kept);
  return [];
}

/** A warning when no cron daemon runs here (a container): the entry is there but never fires. */
function cronDaemon(env: ScheduleEnv): string | undefined {
  if (env.crontabFile || env.platform !== 'linux') return undefined;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (['cron', 'crond'].includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim())) return undefined;
    } catch {
      // Gone meanwhile.
    }
  }
  return 'warning: no cron daemon runs on this machine: the entry will not fire until it does (Debian: service cron start)';
}
