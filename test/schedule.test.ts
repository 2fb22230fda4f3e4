// `schedule install|status|remove` for each kind, against a temporary home: HOME,
// XDG_CONFIG_HOME and the crontab (INGEST_CRONTAB_FILE) point into it, and
// INGEST_SCHEDULE_NO_ACTIVATE keeps systemctl and launchctl out of it. The generated entries are
// checked by the real tools: systemd-analyze verify, Python's plistlib, sh running the cron line,
// and the real crontab of a throwaway user, edited by the command run as that user.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, runCli, TSX_LOADER } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { parseDuration } from '../tasks/commands/command-line.ts';
import { buildSpec, entryName, formatRuntime, nextRunAt } from '../tasks/commands/schedule/entry.ts';
import { cronLine, parseCronLine } from '../tasks/commands/schedule/cron.ts';
import { plist } from '../tasks/commands/schedule/launchd.ts';
import { unitFiles } from '../tasks/commands/schedule/systemd.ts';

const NAME = entryName(PROJECT_ROOT);
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const pid1 = () => (existsSync('/proc/1/comm') ? readFileSync('/proc/1/comm', 'utf8').trim() : undefined);

async function rig(t: TestContext) {
  const home = await tempDir(t, 'ingest-schedule-');
  // Odd characters on purpose: every kind must quote them.
  const sites = path.join(home, 'my sites');
  const local = path.join(home, "lo'cal 100%");
  mkdirSync(sites);
  const env = { HOME: home, XDG_CONFIG_HOME: path.join(home, 'config'), INGEST_CRONTAB_FILE: path.join(home, 'crontab'), INGEST_SCHEDULE_NO_ACTIVATE: '1' };
  const schedule = (action: string, ...flags: string[]) =>
    runCli(['schedule', action, ...flags, ...(action === 'install' ? [`--sites-root=${sites}`, `--local-root=${local}`] : [])], { env });
  const units = path.join(home, 'config', 'systemd', 'user');
  const agents = path.join(home, 'Library', 'LaunchAgents');
  const logFile = path.join(local, '.runs', 'cron.log');
  return { home, sites, local, env, schedule, units, agents, logFile, crontab: env.INGEST_CRONTAB_FILE };
}

const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

test('nextRunAt: the next HH:MM of local time, strictly after now', () => {
  assert.deepEqual(nextRunAt('02:30', new Date(2026, 0, 31, 1, 0)), new Date(2026, 0, 31, 2, 30));
  assert.deepEqual(nextRunAt('02:30', new Date(2026, 0, 31, 2, 30)), new Date(2026, 1, 1, 2, 30));
  assert.deepEqual(nextRunAt('00:00', new Date(2026, 11, 31, 23, 59)), new Date(2027, 0, 1, 0, 0));
  assert.deepEqual(nextRunAt('23:59', new Date(2026, 1, 28, 23, 59, 30)), new Date(2026, 2, 1, 23, 59));
});

test('--max-runtime is written so the runner reads it back', () => {
  for (const [ms, text] of [[8 * 3_600_000, '8h'], [90 * 60_000, '1h30m'], [45_000, '45s'], [3_723_000, '1h2m3s']] as const) {
    assert.equal(formatRuntime(ms), text);
    assert.equal(parseDuration(text), ms);
  }
});

test('the cron line parses back to what was written, whatever the paths hold', () => {
  const spec = buildSpec({ at: '04:05', maxRuntimeMs: 3_600_000, sitesRoot: "/srv/it's sites", localRoot: '/srv/100% "local"', project: '/srv/my ingest' });
  const line = cronLine(spec);
  assert.match(line, /^5 4 \* \* \* cd '\/srv\/my ingest' && /);
  assert.ok(!/[^\\]%/.test(line), 'every % escaped for cron');
  const parsed = parseCronLine(line)!;
  assert.deepEqual(
    { project: parsed.project, at: parsed.at, argv: parsed.argv, cwd: parsed.workingDirectory, pathEnv: parsed.pathEnv, log: parsed.logFile, problems: parsed.problems },
    { project: spec.project, at: '04:05', argv: spec.argv, cwd: spec.project, pathEnv: spec.pathEnv, log: spec.logFile, problems: [] },
  );
  assert.equal(parseCronLine('0 5 * * * /bin/true # someone else'), undefined);
});

test('cron (auto here, PID 1 is not systemd): install twice, status, the line runs the runner, remove; other lines untouched', async (t) => {
  const r = await rig(t);
  const seed = 'MAILTO=""\n# the operator\'s own: untouched\n0 5 * * * /bin/true # podcast-ingest-ish but not ours\n\n';
  writeFileSync(r.crontab, seed);
  const auto = pid1() !== 'systemd' && process.platform === 'linux';
  const kind = auto ? [] : ['--kind=cron'];
  for (let i = 0; i < 2; i++) {
    const installed = await r.schedule('install', ...kind);
    assert.equal(installed.code, 0, installed.stdout + installed.stderr);
    if (auto) assert.match(installed.stdout, new RegExp(`installed the nightly run with cron \\(PID 1 is ${pid1()}, not systemd\\)`));
  }
  const lines = readFileSync(r.crontab, 'utf8').split('\n');
  const ours = lines.filter((l) => l.includes(`# podcast-ingest:${PROJECT_ROOT}`));
  assert.equal(ours.length, 1, 'installing twice leaves one line');
  assert.equal(readFileSync(r.crontab, 'utf8').replace(`${ours[0]}\n`, ''), seed, 'the other lines, as they were');
  assert.match(ours[0]!, /^30 2 \* \* \* /);

  const status = await r.schedule('status');
  assert.equal(status.code, 0, status.stdout);
  const next = nextRunAt('02:30');
  const pad = (n: number) => String(n).padStart(2, '0');
  assert.match(status.stdout, /cron entry of this project/);
  assert.ok(status.stdout.includes(`next run  ${next.getFullYear()}-${pad(next.getMonth() + 1)}-${pad(next.getDate())} 02:30`), status.stdout);
  assert.ok(status.stdout.includes(`command   ${process.execPath} ${PROJECT_ROOT}/scripts/ingest.mjs run --renderer=plain --max-runtime=8h '--sites-root=${r.sites}'`), status.stdout);

  // What cron would do: sh with cron's bare PATH, from another folder, % unescaped by cron.
  // The sites root is empty, so the runner exits 2 saying so, into the log.
  const command = ours[0]!.replace(/^(\S+\s+){5}/, '').replace(/\\%/g, '%');
  const ran = spawnSync('sh', ['-c', command], { cwd: '/', env: { PATH: '/usr/bin:/bin', HOME: r.home }, encoding: 'utf8' });
  assert.equal(ran.status, 2, ran.stderr);
  assert.match(readFileSync(r.logFile, 'utf8'), new RegExp(`no sites found under ${r.sites}`));

  const removed = await r.schedule('remove');
  assert.equal(removed.code, 0);
  assert.equal(readFileSync(r.crontab, 'utf8'), seed, 'only our line went');
  assert.match((await r.schedule('status')).stdout, /^schedule: not installed \(install would use (cron|systemd|launchd)/);
  assert.match((await r.schedule('remove')).stdout, /nothing to remove/);
});

test('systemd (forced, files only here): install twice, systemd-analyze verify finds nothing, status, remove', async (t) => {
  const r = await rig(t);
  for (let i = 0; i < 2; i++) {
    const installed = await r.schedule('install', '--kind=systemd', '--at=03:15', '--max-runtime=6h');
    assert.equal(installed.code, 0, installed.stdout + installed.stderr);
    assert.match(installed.stdout, /not activated: INGEST_SCHEDULE_NO_ACTIVATE is set/);
  }
  assert.deepEqual(files(r.units), [`${NAME}.service`, `${NAME}.timer`]);
  const service = readFileSync(path.join(r.units, `${NAME}.service`), 'utf8');
  const timer = readFileSync(path.join(r.units, `${NAME}.timer`), 'utf8');
  for (const line of ['Type=oneshot', `WorkingDirectory=${PROJECT_ROOT}`, 'TimeoutStartSec=6h 10min', `StandardOutput=append:${r.logFile.replace(/%/g, '%%')}`]) assert.ok(service.includes(`\n${line}\n`), line);
  const pathDirs = /\nEnvironment=PATH=(\S+)\n/.exec(service)?.[1]?.split(':') ?? [];
  const ffmpeg = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim();
  for (const dir of [path.dirname(process.execPath), ...(ffmpeg ? [path.dirname(ffmpeg)] : []), '/usr/local/bin', '/usr/bin', '/bin']) assert.ok(pathDirs.includes(dir), `PATH has ${dir}`);
  assert.ok(service.includes(`\nExecStart=${process.execPath} ${PROJECT_ROOT}/scripts/ingest.mjs run --renderer=plain --max-runtime=6h "--sites-root=${r.sites}"`));
  for (const line of ['OnCalendar=*-*-* 03:15:00', 'Persistent=true', 'RandomizedDelaySec=5min', 'WantedBy=timers.target']) assert.ok(timer.includes(`\n${line}\n`), line);

  if (!has('systemd-analyze')) {
    t.diagnostic('systemd-analyze missing: units not verified (scripts/install-test-services.sh installs systemd)');
  } else {
    const runtime = path.join(r.home, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const verify = (dir: string) =>
      spawnSync('systemd-analyze', ['--user', 'verify', `${NAME}.service`, `${NAME}.timer`], { cwd: dir, env: { ...process.env, ...r.env, XDG_RUNTIME_DIR: runtime }, encoding: 'utf8' });
    const result = verify(r.units);
    const about = (result.stdout + result.stderr).split('\n').filter((l) => l.includes(NAME));
    assert.deepEqual({ code: result.status, about }, { code: 0, about: [] }, result.stdout + result.stderr);
    // The check can fail: a setting systemd ignores on a oneshot is reported.
    const planted = path.join(r.home, 'planted');
    mkdirSync(planted);
    writeFileSync(path.join(planted, `${NAME}.service`), service + 'RuntimeMaxSec=1h\n');
    writeFileSync(path.join(planted, `${NAME}.timer`), timer);
    assert.match(verify(planted).stderr, /RuntimeMaxSec= has no effect in combination with Type=oneshot/);
  }

  const status = await r.schedule('status');
  assert.equal(status.code, 0, status.stdout);
  assert.match(status.stdout, /systemd entry of this project[\s\S]*03:15 every night[\s\S]*activation not checked/);
  const removed = await r.schedule('remove');
  assert.equal(removed.code, 0);
  assert.deepEqual(files(r.units), []);
  assert.match((await r.schedule('status')).stdout, /not installed/);
});

test('launchd (forced, files only here): install twice, plistlib reads it, status, remove', async (t) => {
  const r = await rig(t);
  for (let i = 0; i < 2; i++) assert.equal((await r.schedule('install', '--kind=launchd', '--at=07:05')).code, 0);
  const label = `local.${NAME}`;
  assert.deepEqual(files(r.agents), [`${label}.plist`]);
  const file = path.join(r.agents, `${label}.plist`);
  if (!has('python3')) {
    t.diagnostic('python3 missing: the plist is not validated');
  } else {
    const read = spawnSync('python3', ['-c', 'import json,plistlib,sys; print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))', file], { encoding: 'utf8' });
    assert.equal(read.status, 0, read.stderr);
    const data = JSON.parse(read.stdout);
    assert.deepEqual(Object.keys(data).sort(), ['EnvironmentVariables', 'Label', 'ProcessType', 'ProgramArguments', 'RunAtLoad', 'StandardErrorPath', 'StandardOutPath', 'StartCalendarInterval', 'WorkingDirectory']);
    assert.equal(data.Label, label);
    assert.deepEqual(data.ProgramArguments, [process.execPath, path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'), 'run', '--renderer=plain', '--max-runtime=8h', `--sites-root=${r.sites}`, `--local-root=${r.local}`]);
    assert.deepEqual(data.StartCalendarInterval, { Hour: 7, Minute: 5 });
    assert.equal(data.WorkingDirectory, PROJECT_ROOT);
    assert.ok(data.EnvironmentVariables.PATH.split(':').includes(path.dirname(process.execPath)));
    assert.deepEqual([data.StandardOutPath, data.StandardErrorPath, data.RunAtLoad], [r.logFile, r.logFile, false]);
  }
  const status = await r.schedule('status');
  assert.equal(status.code, 0, status.stdout);
  assert.match(status.stdout, /launchd entry of this project[\s\S]*07:05 every night/);
  assert.equal((await r.schedule('remove')).code, 0);
  assert.deepEqual(files(r.agents), []);
});

test('one entry per project: installing another kind replaces the first', async (t) => {
  const r = await rig(t);
  assert.equal((await r.schedule('install', '--kind=cron')).code, 0);
  const replaced = await r.schedule('install', '--kind=systemd');
  assert.match(replaced.stdout, /removed the cron entry it replaces/);
  assert.ok(!existsSync(r.crontab), 'the crontab held only our line: none is left');
  const status = await r.schedule('status');
  assert.equal(status.stdout.match(/^schedule: /gm)?.length, 1, status.stdout);
});

test('status: exit 1 for an entry whose project folder is gone; remove clears it, leaves another live project alone', async (t) => {
  const r = await rig(t);
  const gone = path.join(r.home, 'moved-away');
  const other = await tempDir(t, 'ingest-other-project-');
  mkdirSync(path.join(other, 'scripts'));
  writeFileSync(path.join(other, 'scripts', 'ingest.mjs'), '');
  const entry = (project: string) => buildSpec({ at: '01:00', maxRuntimeMs: 3_600_000, sitesRoot: r.sites, localRoot: r.local, project });
  mkdirSync(r.units, { recursive: true });
  mkdirSync(r.agents, { recursive: true });
  mkdirSync(path.dirname(r.logFile), { recursive: true });
  const units = unitFiles(entry(gone));
  writeFileSync(path.join(r.units, `${entryName(gone)}.service`), units.service);
  writeFileSync(path.join(r.units, `${entryName(gone)}.timer`), units.timer);
  writeFileSync(path.join(r.agents, `local.${entryName(gone)}.plist`), plist(entry(gone)));
  writeFileSync(r.crontab, `${cronLine(entry(gone))}\n${cronLine(entry(other))}\n`);

  const status = await r.schedule('status');
  assert.equal(status.code, 1, status.stdout);
  assert.equal(status.stdout.match(new RegExp(`BROKEN    its project folder ${gone} is gone`, 'g'))?.length, 3, status.stdout);
  assert.match(status.stdout, new RegExp(`cron entry of another project folder, ${other}`));

  const removed = await r.schedule('remove');
  assert.equal(removed.code, 0);
  assert.equal(removed.stdout.match(/\(folder gone\)/g)?.length, 3, removed.stdout);
  assert.match(removed.stdout, new RegExp(`left the cron entry of ${other} alone`));
  assert.deepEqual([...files(r.units), ...files(r.agents)], []);
  assert.equal(readFileSync(r.crontab, 'utf8'), `${cronLine(entry(other))}\n`);
  const after = await r.schedule('status');
  assert.equal(after.code, 0, after.stdout);
});

test('install refuses a sites root that does not exist (exit 2)', async (t) => {
  const r = await rig(t);
  const result = await runCli(['schedule', 'install', `--sites-root=${path.join(r.home, 'nope')}`], { env: r.env });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /the sites root .*nope does not exist/);
  assert.ok(!existsSync(r.crontab));
});

test('cron: the real crontab of a throwaway user, edited by the command run as that user', async (t) => {
  const missing = ['useradd', 'userdel', 'runuser', 'crontab'].filter((tool) => !has(tool));
  if (process.getuid?.() !== 0 || missing.length > 0) {
    t.skip(`needs root and ${missing.join(', ') || 'nothing else'} (scripts/install-test-services.sh installs cron)`);
    return;
  }
  const user = `ingest-sched-${process.pid}`;
  const run = (command: string, args: string[], input?: string) => spawnSync(command, args, { input, encoding: 'utf8' });
  assert.equal(run('useradd', ['-m', '-s', '/bin/sh', user]).status, 0);
  t.after(() => {
    run('crontab', ['-u', user, '-r']);
    run('userdel', ['-r', user]);
  });
  const dir = await tempDir(t, 'ingest-schedule-user-');
  mkdirSync(path.join(dir, 'sites'));
  chmodSync(dir, 0o755);
  run('chown', ['-R', user, dir]);
  const seed = 'MAILTO=""\n# theirs: untouched\n0 5 * * * /bin/true\n';
  writeFileSync(path.join(dir, 'seed'), seed);
  assert.equal(run('crontab', ['-u', user, path.join(dir, 'seed')]).status, 0);
  // crontab really checks what it is given.
  assert.notEqual(run('crontab', ['-u', user, '-'], '61 2 * * * /bin/true\n').status, 0);

  // From the sources (tsx): the launcher's bundle cache belongs to root.
  const asUser = (...args: string[]) =>
    spawnSync('runuser', ['-u', user, '--', 'env', '-i', `HOME=/home/${user}`, 'PATH=/usr/bin:/bin', 'INGEST_SCHEDULE_NO_ACTIVATE=1',
      process.execPath, '--import', TSX_LOADER, path.join(PROJECT_ROOT, 'Taskfile.ts'), 'schedule', ...args], { cwd: dir, encoding: 'utf8' });
  for (let i = 0; i < 2; i++) {
    const installed = asUser('install', '--kind=cron', '--at=01:45', '--sites-root=sites', '--local-root=local');
    assert.equal(installed.status, 0, installed.stdout + installed.stderr);
  }
  const listed = run('crontab', ['-u', user, '-l']).stdout;
  const ours = listed.split('\n').filter((l) => l.includes('# podcast-ingest:'));
  assert.equal(ours.length, 1, listed);
  assert.equal(listed.replace(ours[0]! + '\n', ''), seed);
  assert.ok(ours[0]!.startsWith(`45 1 * * * cd ${PROJECT_ROOT} && mkdir -p ${dir}/local/.runs && `), ours[0]);
  t.diagnostic(`crontab -u ${user} -l:\n${listed}`);
  const status = asUser('status');
  assert.equal(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, new RegExp(`the crontab of ${user} \\(crontab -l\\)`));
  assert.equal(asUser('remove').status, 0);
  assert.equal(run('crontab', ['-u', user, '-l']).stdout, seed);
});

test('.env.automation.example lists what the run reads, and git keeps it (not .env.automation)', () => {
  const example = readFileSync(path.join(PROJECT_ROOT, '.env.automation.example'), 'utf8').split('\n');
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'WHISPER_MODEL', 'WHISPER_THREADS', 'INGEST_PING_URL']) {
    const at = example.findIndex((l) => new RegExp(`^#? ?${name}=`).test(l));
    assert.ok(at > 0, `${name} listed`);
    assert.match(example[at - 1]!, /^# \S/, `${name} has its comment`);
  }
  const ignored = (file: string) => spawnSync('git', ['check-ignore', '-q', file], { cwd: PROJECT_ROOT }).status;
  if (!existsSync(path.join(PROJECT_ROOT, '.git'))) return;
  assert.equal(ignored('.env.automation.example'), 1);
  assert.equal(ignored('.env.automation'), 0);
});
