// launchd: a LaunchAgent plist in ~/Library/LaunchAgents, loaded with `launchctl bootstrap
// gui/<uid>` on macOS. StartCalendarInterval runs a night missed during sleep on wake.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../platform/atomic.ts';
import { MANAGED_NOTE, runTool, type EntrySpec, type InstalledEntry, type ScheduleEnv } from './entry.ts';

const LABEL_PREFIX = 'local.';
const FILE_NAME = /^(local\.podcast-ingest-[0-9a-f]{8})\.plist$/;

export const agentDir = (env: ScheduleEnv) => path.join(env.home, 'Library', 'LaunchAgents');

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const unxml = (text: string) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const str = (value: string) => `<string>${xml(value)}</string>`;

export function plist(spec: EntrySpec): string {
  const [hour, minute] = spec.at.split(':').map(Number) as [number, number];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    // The project folder is WorkingDirectory: an XML comment cannot hold every path ("--").
    `<!-- ${MANAGED_NOTE} -->`,
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key>${str(LABEL_PREFIX + spec.name)}`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...spec.argv.map((arg) => `    ${str(arg)}`),
    '  </array>',
    `  <key>WorkingDirectory</key>${str(spec.project)}`,
    `  <key>EnvironmentVariables</key><dict><key>PATH</key>${str(spec.pathEnv)}</dict>`,
    `  <key>StartCalendarInterval</key><dict><key>Hour</key><integer>${hour}</integer><key>Minute</key><integer>${minute}</integer></dict>`,
    `  <key>StandardOutPath</key>${str(spec.logFile)}`,
    `  <key>StandardErrorPath</key>${str(spec.logFile)}`,
    '  <key>RunAtLoad</key><false/>',
    '  <key>ProcessType</key><string>Background</string>',
    '</dict>',
    '</plist>',
    '',
  ].join('\n');
}

/** A key's value in the plist we write (a plist edited by hand into another shape reads as broken). */
function value(text: string, key: string, type: string): string | undefined {
  return new RegExp(`<key>${key}</key>\\s*<${type}>([\\s\\S]*?)</${type}>`).exec(text)?.[1];
}

function parsePlist(file: string, label: string): InstalledEntry {
  const text = readFileSync(file, 'utf8');
  const workingDirectory = value(text, 'WorkingDirectory', 'string');
  const entry: InstalledEntry = { kind: 'launchd', name: label, project: workingDirectory ? unxml(workingDirectory) : '(unknown)', where: [file], problems: [], notes: [] };
  if (workingDirectory) entry.workingDirectory = entry.project;
  if (!text.startsWith('<?xml')) entry.problems.push('it is not an XML plist (plutil -convert xml1 it, or reinstall)');
  const args = value(text, 'ProgramArguments', 'array');
  if (args) entry.argv = [...args.matchAll(/<string>([\s\S]*?)<\/string>/g)].map((m) => unxml(m[1]!));
  const calendar = value(text, 'StartCalendarInterval', 'dict') ?? '';
  const [hour, minute] = [value(calendar, 'Hour', 'integer'), value(calendar, 'Minute', 'integer')];
  if (hour !== undefined && minute !== undefined) entry.at = `${hour.padStart(2, '0')}:${minute.padStart(2, '0')}`;
  else entry.problems.push('its StartCalendarInterval has no Hour and Minute');
  const pathEnv = value(value(text, 'EnvironmentVariables', 'dict') ?? '', 'PATH', 'string');
  if (pathEnv !== undefined) entry.pathEnv = unxml(pathEnv);
  const log = value(text, 'StandardOutPath', 'string');
  if (log !== undefined) entry.logFile = unxml(log);
  return entry;
}

/** launchctl when we may use it: macOS, not told otherwise. */
function launchctlFor(env: ScheduleEnv): { ok: true; domain: string } | { ok: false; reason: string } {
  if (!env.activate) return { ok: false, reason: 'INGEST_SCHEDULE_NO_ACTIVATE is set' };
  if (env.platform !== 'darwin') return { ok: false, reason: `launchctl is macOS's; this is ${env.platform}` };
  return { ok: true, domain: `gui/${process.getuid?.() ?? 501}` };
}

export async function listLaunchd(env: ScheduleEnv): Promise<InstalledEntry[]> {
  const dir = agentDir(env);
  if (!existsSync(dir)) return [];
  const launchctl = launchctlFor(env);
  const entries: InstalledEntry[] = [];
  for (const file of readdirSync(dir)) {
    const label = FILE_NAME.exec(file)?.[1];
    if (!label) continue;
    const entry = parsePlist(path.join(dir, file), label);
    if (!launchctl.ok) entry.notes.push(`loading not checked: ${launchctl.reason}`);
    else if (runTool('launchctl', ['print', `${launchctl.domain}/${label}`]).ok) entry.notes.push(`${label} is loaded`);
    else entry.problems.push(`${label} is not loaded (launchctl bootstrap ${launchctl.domain} ${entry.where[0]})`);
    entries.push(entry);
  }
  return entries;
}

export async function installLaunchd(spec: EntrySpec, env: ScheduleEnv): Promise<string[]> {
  const label = LABEL_PREFIX + spec.name;
  const file = path.join(agentDir(env), `${label}.plist`);
  mkdirSync(agentDir(env), { recursive: true });
  await writeFileAtomic(file, plist(spec));
  const launchctl = launchctlFor(env);
  if (!launchctl.ok) return [`not loaded: ${launchctl.reason}; on macOS: launchctl bootstrap gui/$(id -u) ${file}`];
  // A loaded older version must go first: bootstrap refuses a label already loaded.
  runTool('launchctl', ['bootout', `${launchctl.domain}/${label}`]);
  const result = runTool('launchctl', ['bootstrap', launchctl.domain, file]);
  if (!result.ok) throw new Error(`launchctl bootstrap ${launchctl.domain} ${file} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
  return [`loaded ${label} (launchctl bootstrap ${launchctl.domain})`];
}

export async function removeLaunchd(entries: InstalledEntry[], env: ScheduleEnv): Promise<string[]> {
  const launchctl = launchctlFor(env);
  for (const entry of entries) {
    if (launchctl.ok) runTool('launchctl', ['bootout', `${launchctl.domain}/${entry.name}`]);
    for (const file of entry.where) rmSync(file, { force: true });
  }
  return launchctl.ok || entries.length === 0 ? [] : [`launchctl not called: ${launchctl.reason}`];
}
