// The runner's contract with an operator: flags, exit codes, plain output, lock, config errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT, TSX_LOADER, runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { writeSite, siteConfig } from './helpers/sites.ts';

const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO|WARN|ERROR|DEBUG) +\[[^\]]+\] \[[^\]]+\] /;

async function twoSites(t: import('node:test').TestContext) {
  const root = await tempDir(t);
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, siteConfig('alpha'));
  await writeSite(sitesRoot, siteConfig('beta'));
  return { root, sitesRoot, localRoot: path.join(root, 'local') };
}

test('--sites with an unknown id exits 2 and names the known sites, in every command that takes it', async (t) => {
  const { sitesRoot, localRoot } = await twoSites(t);
  for (const command of ['run', 'consistency', 'validate', 'check-access']) {
    const r = await runCli([command, '--sites=alpha,nope', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`]);
    assert.equal(r.code, 2, `${command}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /unknown site "nope"/, command);
    assert.match(r.stderr, /alpha, beta/, command);
  }
});

test('unknown flags and bad values are usage errors naming the flag', async () => {
  for (const [args, pattern] of [
    [['run', '--frobnicate'], /frobnicate/],
    [['run', '--skip=download'], /--skip: unknown step "download"/],
    [['run', '--concurrency=0'], /--concurrency/],
    [['run', '--renderer=fancy'], /--renderer/],
    [['explode'], /unknown command "explode"/],
  ] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')} should exit 2`);
    assert.match(r.stderr, pattern);
  }
});

test('--help and --version print and exit 0', async () => {
  const help = await runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--sites=a,b/);
  const version = await runCli(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^podcast-ingest \d+\.\d+\.\d+/);
});

test('plain output: every line has an ISO-8601 timestamp with offset, the site and the step', async (t) => {
  const { sitesRoot, localRoot, root } = await twoSites(t);
  const logFile = path.join(root, 'logs', 'run.log');
  const summaryFile = path.join(root, 'summary.json');
  const r = await runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, `--log-file=${logFile}`, `--summary-json=${summaryFile}`, '--only=index']);
  const lines = r.stdout.trimEnd().split('\n');
  assert.ok(lines.length >= 3, r.stdout);
  for (const line of lines) assert.match(line, TIMESTAMPED);
  // The terminal gets the compact summary (a line per site), the log file every step.
  assert.ok(lines.some((l) => l.includes('[alpha] [summary:site]')), r.stdout);
  const logged = (await readFile(logFile, 'utf8')).trimEnd().split('\n');
  assert.ok(logged.some((l) => l.includes('[alpha] [summary:index]')));
  const events = (all: string[]) => all.filter((l) => !/\[summary:/.test(l));
  assert.deepEqual(events(logged), events(lines), 'the log file holds the same plain lines');
  const summary = JSON.parse(await readFile(summaryFile, 'utf8'));
  assert.equal(summary.schema, 'podcast-ingest/summary@1');
  assert.deepEqual(summary.sites.map((s: { site: string }) => s.site), ['alpha', 'beta']);
  assert.equal(summary.exitCode, r.code);
});

test('an invalid site config fails that site only, names the file and field, and the run exits 1', async (t) => {
  const { sitesRoot, localRoot, root } = await twoSites(t);
  await writeSite(sitesRoot, { id: 'gamma', includedPodcasts: [{ id: 'p', url: 'not a url', rssFeedFile: 'p.xml', status: 'active' }] });
  await writeSite(sitesRoot, { id: 'wrong-name', includedPodcasts: [] }, 'delta');
  await mkdir(path.join(sitesRoot, 'epsilon'), { recursive: true });
  await writeFile(path.join(sitesRoot, 'epsilon', 'site.config.json'), '{ "id": "epsilon", ');
  const summaryFile = path.join(root, 'summary.json');
  // --only=index: no bucket is needed to show that config errors stay with their site.
  const r = await runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, `--summary-json=${summaryFile}`, '--only=index']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /\[gamma\] \[config\] .*gamma\/site\.config\.json: field "includedPodcasts\.0\.url"/);
  assert.match(r.stdout, /\[delta\] \[config\] .*field "id" is "wrong-name" but the folder is named "delta"/);
  assert.match(r.stdout, /\[epsilon\] \[config\] .*epsilon\/site\.config\.json: not valid JSON at line 1, column 20: the text ends too early/);
  const summary = JSON.parse(await readFile(summaryFile, 'utf8'));
  const status = Object.fromEntries(summary.sites.map((s: { site: string; status: string }) => [s.site, s.status]));
  assert.equal(status.gamma, 'failed');
  assert.notEqual(status.alpha, 'failed');
  assert.notEqual(status.beta, 'failed');
  assert.equal(summary.errors.filter((e: { step: string }) => e.step === 'config').length, 3);
});

test('a second run while the lock is held exits 3 naming the holder; a dead holder is taken over', async (t) => {
  const { sitesRoot, localRoot } = await twoSites(t);
  await mkdir(localRoot, { recursive: true });
  // A live process stands in for a running runner.
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  const stat = await readFile(`/proc/${holder.pid}/stat`, 'utf8');
  const processStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  const lockPath = path.join(localRoot, '.ingest.lock');
  await writeFile(lockPath, JSON.stringify({ pid: holder.pid, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', processStart, command: 'run' }));
  const held = await runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--only=index']);
  assert.equal(held.code, 3);
  assert.match(held.stderr, new RegExp(`pid ${holder.pid} on ${os.hostname()}, started 2026-01-01`));

  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  const taken = await runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--only=index']);
  assert.notEqual(taken.code, 3, taken.stderr);
  assert.match(taken.stdout, /took over a stale lock from pid \d+/);
  await assert.rejects(readFile(lockPath), 'the lock is released at the end');
});

test('sites lists the discovered sites; --json gives the same data; my-sites replaces origin-sites', async (t) => {
  const root = await tempDir(t);
  const sitesRoot = path.join(root, 'sites');
  await writeSite(path.join(sitesRoot, 'origin-sites'), siteConfig('origin'));
  let r = await runCli(['sites', `--sites-root=${sitesRoot}`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).sites.map((s: { id: string }) => s.id), ['origin']);
  await writeSite(path.join(sitesRoot, 'my-sites'), { id: 'mine', includedPodcasts: [], automation: { accountId: '123456789012' } });
  r = await runCli(['sites', `--sites-root=${sitesRoot}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^mine\s+0\/0\s+mine-browse-dot-show\s+us-east-1\s+arn:aws:iam::123456789012:role\/browse-dot-show-automation-role\s+srt-indexing-mine/m);
  assert.doesNotMatch(r.stdout, /origin/);
});

test('a concurrent run exits 3 naming the first; SIGTERM mid-run: exit 130 within 5 s, summary printed, lock released, no process left', async (t) => {
  const root = await tempDir(t);
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  // An S3 endpoint that accepts connections and never answers keeps pre-sync busy.
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const stalled = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    stalled.close();
  });
  const port = (stalled.address() as import('node:net').AddressInfo).port;
  await writeSite(sitesRoot, siteConfig('slow', { endpoint: `http://127.0.0.1:${port}` }));
  const { startCli, processGroupMembers } = await import('./helpers/cli.ts');
  const run = startCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`], {
    env: { AWS_ACCESS_KEY_ID: 'test-key-id', AWS_SECRET_ACCESS_KEY: 'test-secret-key', AWS_REGION: 'us-east-1' },
  });
  await run.waitFor(/\[all\] \[run\] run /, 30_000);
  // Let pre-sync reach the stalled server.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  // A second run on the same local folder meanwhile is refused, naming the first.
  const second = await runCli(['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`]);
  assert.equal(second.code, 3, second.stdout + second.stderr);
  assert.match(second.stderr, new RegExp(`another run holds .*: pid ${run.child.pid} on ${os.hostname()}`));
  const sentAt = Date.now();
  process.kill(run.child.pid!, 'SIGTERM');
  const result = await run.result;
  const elapsed = Date.now() - sentAt;
  assert.equal(result.code, 130, result.stdout + result.stderr);
  assert.ok(elapsed < 5000, `exited after ${elapsed} ms`);
  assert.match(result.stdout, /received SIGTERM/);
  assert.match(result.stdout, /\[all\] \[summary\] run \S+ interrupted/);
  await assert.rejects(readFile(path.join(localRoot, '.ingest.lock')), 'the lock is released');
  assert.deepEqual(await processGroupMembers(run.child.pid!), [], 'no process of the run survives');
});

test('live tree in a terminal: a failed site is marked ✖ and a good one ✔, each collapsed to its result', async (t) => {
  const root = await tempDir(t);
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, siteConfig('good'));
  const gone = { id: 'gone', title: 'Gone', url: 'http://127.0.0.1:9/feed.xml', rssFeedFile: 'gone.xml', status: 'active' };
  await writeSite(sitesRoot, siteConfig('bad', { podcasts: [gone] }));
  // A lock left by a dead run: taking it over is a run-level warning, which the tree must not swallow.
  await mkdir(path.join(root, 'local'), { recursive: true });
  await writeFile(path.join(root, 'local', '.ingest.lock'), JSON.stringify({ pid: 2147483646, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'run' }));
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  // Straight from the sources (npx tsx Taskfile.ts), the way the README also allows.
  const command = [process.execPath, '--import', TSX_LOADER, path.join(PROJECT_ROOT, 'Taskfile.ts'), 'run', '--only=rss', '--sync-folders=audio,rss', `--sites-root=${sitesRoot}`, `--local-root=${path.join(root, 'local')}`];
  // `script` gives the run a real terminal (100x30), as an operator's shell would.
  const r = spawnSync('script', ['-qec', `stty cols 100 rows 30; ${command.map(quote).join(' ')}`, '/dev/null'], {
    cwd: root,
    env: { ...process.env, TERM: 'xterm-256color' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const screen = r.stdout.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '');
  assert.match(screen, /✖ bad: rss: feed of "gone" at http:\/\/127\.0\.0\.1:9\/feed\.xml: connect ECONNREFUSED/, screen);
  assert.match(screen, /✔ good: up-to-date/, screen);
  assert.match(screen, /2\/2 sites done, 0 running, 0 waiting · failed: bad/);
  assert.match(screen, /warning: \[all\] \[run\] took over a stale lock from pid 2147483646/);
});

test('scripts/ingest.mjs runs a bundle of the sources, built once and rebuilt when a source file changes', async (t) => {
  // Inside the project, so the bundle resolves the project's packages.
  const cache = path.join(PROJECT_ROOT, 'node_modules', '.cache', `ingest-bundle-test-${process.pid}`);
  const addedSource = path.join(PROJECT_ROOT, 'tasks', `.launcher-test-${process.pid}.ts`);
  t.after(() => Promise.all([rm(cache, { recursive: true, force: true }), rm(addedSource, { force: true })]));
  const env = { INGEST_BUNDLE_CACHE: cache };

  const bundled = await runCli(['--version'], { env });
  const fromSource = spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'Taskfile.ts'), '--version'], { encoding: 'utf8' });
  assert.equal(bundled.code, 0, bundled.stderr);
  assert.equal(bundled.stdout, fromSource.stdout);
  const [built] = await readdir(cache);
  const builtAt = (await stat(path.join(cache, built!, 'Taskfile.js'))).mtimeMs;

  const sites = await runCli(['sites', '--sites-root=/nonexistent'], { env });
  assert.match(sites.stdout + sites.stderr, /no sites under \/nonexistent/, 'a lazily loaded command runs from the bundle');
  assert.deepEqual(await readdir(cache), [built], 'unchanged sources: no rebuild');
  assert.equal((await stat(path.join(cache, built!, 'Taskfile.js'))).mtimeMs, builtAt);

  // A new or changed source file: the next start builds a new bundle (the old one stays a day
  // for runs still loading from it).
  await writeFile(addedSource, 'export {};\n');
  assert.equal((await runCli(['--version'], { env })).code, 0);
  const [current] = (await readdir(cache)).filter((name) => name !== built);
  assert.ok(current);

  // Two days later: a start touches the bundle it runs; the next build prunes only the unused one.
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
  for (const name of [built!, current]) await utimes(path.join(cache, name), twoDaysAgo, twoDaysAgo);
  assert.equal((await runCli(['--version'], { env })).code, 0);
  await writeFile(addedSource, 'export const changed = 1;\n');
  assert.equal((await runCli(['--version'], { env })).code, 0);
  const left = await readdir(cache);
  assert.equal(left.length, 2);
  assert.ok(left.includes(current) && !left.includes(built!), `kept ${left.join(', ')}`);
});
