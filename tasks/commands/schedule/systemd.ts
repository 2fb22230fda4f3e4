// systemd: a user .service (oneshot) and its .timer in $XDG_CONFIG_HOME/systemd/user/, enabled
// with `systemctl --user` when a user manager answers; files only otherwise (said in the output).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../platform/atomic.ts';
import { MANAGED_NOTE, MARKER, runTool, splitWords, systemdUserManager, type EntrySpec, type InstalledEntry, type ScheduleEnv } from './entry.ts';

/** Beyond --max-runtime, for the runner to stop by itself before systemd kills it. */
const STOP_MARGIN_MS = 10 * 60_000;
const UNIT_NAME = /^(podcast-ingest-[0-9a-f]{8})\.(service|timer)$/;

export const unitDir = (env: ScheduleEnv) => path.join(env.configHome, 'systemd', 'user');

/** systemd expands %specifiers in most settings (and $VARS in ExecStart): both doubled. */
function escape(value: string, dollars = false): string {
  const text = value.replace(/%/g, '%%');
  return dollars ? text.replace(/\$/g, '$$$$') : text;
}

function quote(word: string): string {
  return /^[A-Za-z0-9_@+=:,./-]+$/.test(word) ? word : `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** "8h 10min": a systemd time span. */
function span(ms: number): string {
  const total = Math.round(ms / 1000);
  const parts = [[Math.floor(total / 3600), 'h'], [Math.floor((total % 3600) / 60), 'min'], [total % 60, 's']] as const;
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join(' ') || '0';
}

export function unitFiles(spec: EntrySpec): { service: string; timer: string } {
  const header = [`# ${MARKER}${spec.project}`, `# ${MANAGED_NOTE}`];
  const service = [
    ...header,
    '[Unit]',
    `Description=${escape(`podcast-ingest nightly run of ${spec.project}`)}`,
    '',
    '[Service]',
    'Type=oneshot',
    `WorkingDirectory=${escape(spec.project)}`,
    `Environment=${escape(quote(`PATH=${spec.pathEnv}`))}`,
    `ExecStart=${escape(spec.argv.map(quote).join(' '), true)}`,
    `StandardOutput=append:${escape(spec.logFile)}`,
    `StandardError=append:${escape(spec.logFile)}`,
    '# RuntimeMaxSec= has no effect on Type=oneshot: the start timeout bounds the run instead,',
    '# past --max-runtime, at which the runner stops by itself.',
    `TimeoutStartSec=${span(spec.maxRuntimeMs + STOP_MARGIN_MS)}`,
  ];
  const timer = [
    ...header,
    '[Unit]',
    `Description=${escape(`podcast-ingest nightly run of ${spec.project} at ${spec.at}`)}`,
    '',
    '[Timer]',
    `OnCalendar=*-*-* ${spec.at}:00`,
    '# A night missed while the machine was off runs at the next boot.',
    'Persistent=true',
    'RandomizedDelaySec=5min',
    '',
    '[Install]',
    'WantedBy=timers.target',
  ];
  return { service: service.join('\n') + '\n', timer: timer.join('\n') + '\n' };
}

/** The settings of a unit file, the last of a repeated key winning. */
function settings(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) found.set(m[1]!, m[2]!);
  }
  return found;
}

const unescape = (value: string) => value.replace(/%%/g, '%').replace(/\$\$/g, '$');

function parseUnits(name: string, dir: string, has: Set<string>): InstalledEntry {
  const read = (ext: string) => (has.has(ext) ? readFileSync(path.join(dir, `${name}.${ext}`), 'utf8') : '');
  const [serviceText, timerText] = [read('service'), read('timer')];
  const service = settings(serviceText);
  const marker = new RegExp(`^#\\s*${MARKER}(.+)$`, 'm').exec(serviceText || timerText)?.[1]?.trim();
  const workingDirectory = service.has('WorkingDirectory') ? unescape(service.get('WorkingDirectory')!).replace(/^-/, '') : undefined;
  const entry: InstalledEntry = {
    kind: 'systemd',
    name: `${name}.timer`,
    project: marker ?? workingDirectory ?? '(unknown)',
    workingDirectory,
    where: [...has].sort().map((ext) => path.join(dir, `${name}.${ext}`)),
    problems: [],
    notes: [],
  };
  for (const ext of ['service', 'timer']) if (!has.has(ext)) entry.problems.push(`${name}.${ext} is missing`);
  const calendar = /^\*-\*-\* (\d\d:\d\d)(?::00)?$/.exec(settings(timerText).get('OnCalendar') ?? '');
  if (calendar) entry.at = calendar[1];
  else if (has.has('timer')) entry.problems.push(`its OnCalendar= is not the daily time install writes`);
  if (service.has('ExecStart')) entry.argv = splitWords(unescape(service.get('ExecStart')!));
  entry.pathEnv = splitWords(unescape(service.get('Environment') ?? '')).find((w) => w.startsWith('PATH='))?.slice('PATH='.length);
  entry.logFile = service.get('StandardOutput')?.replace(/^append:/, '');
  if (entry.logFile !== undefined) entry.logFile = unescape(entry.logFile);
  return entry;
}

export async function listSystemd(env: ScheduleEnv): Promise<InstalledEntry[]> {
  const dir = unitDir(env);
  if (!existsSync(dir)) return [];
  const units = new Map<string, Set<string>>();
  for (const file of readdirSync(dir)) {
    const m = UNIT_NAME.exec(file);
    if (m) units.set(m[1]!, (units.get(m[1]!) ?? new Set()).add(m[2]!));
  }
  const entries = [...units].map(([name, has]) => parseUnits(name, dir, has));
  const manager = managerFor(env);
  for (const entry of entries) {
    if (!manager.ok) {
      entry.notes.push(`activation not checked: ${manager.reason}`);
      continue;
    }
    const active = runTool('systemctl', ['--user', 'is-active', entry.name]).stdout.trim();
    if (active === 'active') entry.notes.push(`${entry.name} is active`);
    else entry.problems.push(`${entry.name} is ${active || 'not loaded'} (systemctl --user enable --now ${entry.name})`);
  }
  return entries;
}

/** The user manager when we may talk to it. */
function managerFor(env: ScheduleEnv): { ok: true } | { ok: false; reason: string } {
  if (!env.activate) return { ok: false, reason: 'INGEST_SCHEDULE_NO_ACTIVATE is set' };
  return systemdUserManager(env);
}

function systemctl(...args: string[]): void {
  const result = runTool('systemctl', ['--user', ...args]);
  if (!result.ok) throw new Error(`systemctl --user ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
}

export async function installSystemd(spec: EntrySpec, env: ScheduleEnv): Promise<string[]> {
  const dir = unitDir(env);
  mkdirSync(dir, { recursive: true });
  const files = unitFiles(spec);
  await writeFileAtomic(path.join(dir, `${spec.name}.service`), files.service);
  await writeFileAtomic(path.join(dir, `${spec.name}.timer`), files.timer);
  const manager = managerFor(env);
  if (!manager.ok) {
    return [`not activated: ${manager.reason}; on a machine running systemd: systemctl --user daemon-reload && systemctl --user enable --now ${spec.name}.timer`];
  }
  systemctl('daemon-reload');
  systemctl('enable', '--now', `${spec.name}.timer`);
  const notes = [`enabled and started ${spec.name}.timer (systemctl --user)`];
  // A user's timers run only while their manager does: from login to logout, unless lingering.
  const user = os.userInfo().username;
  if (runTool('loginctl', ['show-user', user, '--property=Linger', '--value']).stdout.trim() !== 'yes') {
    notes.push(`warning: the timer runs only while ${user} is logged in; to run it at night regardless: loginctl enable-linger ${user}`);
  }
  return notes;
}

export async function removeSystemd(entries: InstalledEntry[], env: ScheduleEnv): Promise<string[]> {
  const manager = managerFor(env);
  const notes: string[] = [];
  for (const entry of entries) {
    if (manager.ok) {
      // Stopped and disabled before its files go, so nothing is left loaded.
      const result = runTool('systemctl', ['--user', 'disable', '--now', entry.name]);
      if (!result.ok) notes.push(`warning: systemctl --user disable --now ${entry.name}: ${result.stderr.trim()}`);
    }
    // The enablement link too, should systemctl be gone since it was made.
    for (const file of [...entry.where, path.join(unitDir(env), 'timers.target.wants', entry.name)]) rmSync(file, { force: true });
  }
  if (entries.length === 0) return notes;
  if (manager.ok) systemctl('daemon-reload');
  else notes.push(`systemctl not called: ${manager.reason}`);
  return notes;
}
