// Sync benchmark (not a test): this runner vs `rclone sync --fast-list` vs `aws s3 sync`,
// side by side against one S3 server, on the same data: 5,000 files of 1-10 KB plus 20 files
// of 5 MB. Three phases, each run for every tool before the next phase (so load on a shared
// machine hits them alike): first upload into an empty bucket, a no-op rerun, and a full
// download into an empty folder; the whole sequence --rounds times (fresh buckets and folders
// each round), so every figure is measured at least twice. The download phase also runs the
// runner with INGEST_BENCH_NO_FSYNC=1 (UNSAFE, benchmark only: no fsync at all, as rclone and
// aws do it), so the cost of the runner's per-file durability is visible. Prints seconds,
// ratios, request counts (counted by the server) and the machine's load at each measurement.
//
//   npx tsx bench/sync.ts [--server=both|s3rver|radosgw] [--small=5000] [--big=20] [--rounds=2] [--keep]
//
// Servers: the embedded s3rver (tasks/demo/local/s3-server.ts) and Ceph's RADOS Gateway
// (test/helpers/radosgw.ts; installed by scripts/install-test-services.sh; skipped with the
// reason when missing). Needs rclone and awscli (Debian: apt-get install -y rclone awscli).
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mapPool } from '../tasks/platform/limiter.ts';
import { bytes, fileDigests } from '../test/helpers/data.ts';
import { describeCounts, SERVER_KINDS, serverUnavailable, startServer, type BenchServer, type RequestCounts, type ServerKind } from './support/servers.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SITE = 'bench';
const TOOLS = ['runner', 'rclone', 'aws'] as const;
type Tool = (typeof TOOLS)[number];
const PHASES = ['first upload', 'no-op rerun', 'full download'] as const;
type Phase = (typeof PHASES)[number];
/** The runner's download without any fsync (INGEST_BENCH_NO_FSYNC=1: unsafe, benchmark only). */
const NO_FSYNC = 'runner full download, no fsync';

interface Measurement {
  seconds: number;
  requests: RequestCounts;
  /** 1-minute load average when it started. */
  load: number;
  /** Runner only: time inside its steps (wall time minus start-up and exit). */
  inSteps?: number;
}

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'both' },
    small: { type: 'string', default: '5000' },
    big: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '2' },
    keep: { type: 'boolean', default: false },
  },
});
const SMALL = Number(values.small);
const BIG = Number(values.big);
const ROUNDS = Number(values.rounds);
const SERVERS: ServerKind[] = values.server === 'both' ? [...SERVER_KINDS] : [values.server as ServerKind];
if (!SERVERS.every((s) => (SERVER_KINDS as readonly string[]).includes(s))) throw new Error(`--server: one of both, ${SERVER_KINDS.join(', ')}`);

/** The site tree: search-entries (small JSON-ish files) and audio (5 MB files). */
async function makeData(dir: string): Promise<{ files: number; bytes: number }> {
  const small = Array.from({ length: SMALL }, (_, i) => ({
    key: `search-entries/p${i % 10}/2024-01-01_Episode_${String(i).padStart(5, '0')}--1704067200000.json`,
    size: 1024 + ((i * 7919) % (9 * 1024)),
    seed: i + 1,
  }));
  const big = Array.from({ length: BIG }, (_, i) => ({
    key: `audio/p${i % 2}/2024-01-01_Episode_${String(i).padStart(3, '0')}--1704067200000.mp3`,
    size: 5 * 1024 * 1024,
    seed: 100_000 + i,
  }));
  const all = [...small, ...big];
  await mapPool(all, 16, async (f) => {
    const file = path.join(dir, ...f.key.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes(f.size, f.seed));
  });
  return { files: all.length, bytes: all.reduce((n, f) => n + f.size, 0) };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function load1(): Promise<number> {
  return Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
}

function which(command: string): string {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`]).toString().trim();
  } catch {
    throw new Error(`${command} not found (Debian: apt-get install -y rclone awscli)`);
  }
}

async function main(): Promise<void> {
  const tools = { rclone: which('rclone'), aws: which('aws') };
  const reports: string[] = [];
  for (const kind of SERVERS) {
    const why = serverUnavailable(kind);
    if (why) {
      reports.push(`${kind}: skipped (${why})\n`);
      continue;
    }
    const root = await mkdtemp(path.join(os.tmpdir(), `bench-sync-${kind}-`));
    const server = await startServer(kind, path.join(root, 's3'));
    try {
      reports.push(await bench(root, server, tools));
    } finally {
      await server.stop();
      if (!values.keep) await rm(root, { recursive: true, force: true });
      else process.stdout.write(`kept ${root}\n`);
    }
  }
  process.stdout.write('\n' + reports.join('\n'));
}

async function bench(root: string, server: BenchServer, tools: { rclone: string; aws: string }): Promise<string> {
  // The source tree, laid out as the runner's local root for the upload phases.
  const upRoot = path.join(root, 'runner-up');
  const data = path.join(upRoot, 'sites', SITE);
  const made = await makeData(data);
  process.stdout.write(`\n== ${server.description}\ndata: ${made.files} files, ${(made.bytes / 1024 / 1024).toFixed(1)} MB; ${ROUNDS} rounds\n`);
  const source = await fileDigests(data, { skipDotFiles: true });
  const bucket = (tool: Tool, round: number) => `bench-${tool}-r${round}`;
  await server.createBuckets(Array.from({ length: ROUNDS }, (_, r) => TOOLS.map((t) => bucket(t, r))).flat());

  const awsConfig = path.join(root, 'aws-config');
  await writeFile(awsConfig, '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: awsConfig,
    AWS_SHARED_CREDENTIALS_FILE: path.join(root, 'no-credentials'),
    AWS_PAGER: '',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    FORCE_COLOR: '0',
  };
  // rclone refuses the CA bundle variable set on this machine.
  const rcloneEnv: NodeJS.ProcessEnv = {
    ...baseEnv,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: server.kind === 'radosgw' ? 'Ceph' : 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: server.credentials.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG: path.join(root, 'rclone.conf'),
  };
  delete rcloneEnv.AWS_CA_BUNDLE;

  // One sites root per round: the runner's site points at that round's bucket.
  const sitesRoot = (round: number) => path.join(root, `sites-r${round}`);
  for (let round = 0; round < ROUNDS; round++) {
    await mkdir(path.join(sitesRoot(round), SITE), { recursive: true });
    await writeFile(
      path.join(sitesRoot(round), SITE, 'site.config.json'),
      JSON.stringify({ id: SITE, includedPodcasts: [], automation: { bucket: bucket('runner', round), region: 'us-east-1', endpoint: server.endpoint } }),
    );
  }
  const downRoot = (label: string, round: number) => path.join(root, `${label.replace(/\W+/g, '-')}-down-r${round}`);
  let runnerRuns = 0;
  // The operator's command (npm run ingest, cron): the bundled Taskfile.ts.
  const runner = (localRoot: string, round: number) => [
    path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'),
    'run',
    '--only=pre-sync,consistency,upload',
    `--sites-root=${sitesRoot(round)}`,
    `--local-root=${localRoot}`,
    '--renderer=plain',
    `--summary-json=${path.join(root, `runner-summary-${++runnerRuns}.json`)}`,
  ];
  const upRclone = (round: number): [string, string[], NodeJS.ProcessEnv] => [tools.rclone, ['sync', data, `bench:${bucket('rclone', round)}`, '--fast-list'], rcloneEnv];
  const upAws = (round: number): [string, string[], NodeJS.ProcessEnv] => [tools.aws, ['s3', 'sync', data, `s3://${bucket('aws', round)}`, '--endpoint-url', server.endpoint, '--only-show-errors'], baseEnv];
  const commands: Record<Phase, Record<Tool, (round: number) => [string, string[], NodeJS.ProcessEnv]>> = {
    'first upload': {
      runner: (round) => [process.execPath, runner(upRoot, round), baseEnv],
      rclone: upRclone,
      aws: upAws,
    },
    'no-op rerun': {
      runner: (round) => [process.execPath, runner(upRoot, round), baseEnv],
      rclone: upRclone,
      aws: upAws,
    },
    'full download': {
      runner: (round) => [process.execPath, runner(downRoot('runner', round), round), baseEnv],
      rclone: (round) => [tools.rclone, ['sync', `bench:${bucket('rclone', round)}`, path.join(downRoot('rclone', round), 'sites', SITE), '--fast-list'], rcloneEnv],
      aws: (round) => [tools.aws, ['s3', 'sync', `s3://${bucket('aws', round)}`, path.join(downRoot('aws', round), 'sites', SITE), '--endpoint-url', server.endpoint, '--only-show-errors'], baseEnv],
    },
  };

  // label -> one measurement per round
  const results = new Map<string, Measurement[]>();
  const measure = async (label: string, [command, args, env]: [string, string[], NodeJS.ProcessEnv]) => {
    const load = await load1();
    const mark = await server.mark();
    const started = process.hrtime.bigint();
    const r = await run(command, args, env);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (r.code !== 0) throw new Error(`${label} exited ${r.code}:\n${r.output}`);
    const m: Measurement = { seconds, requests: await server.since(mark), load };
    results.set(label, [...(results.get(label) ?? []), m]);
    // The runner's own account of where the time went (the rest is start-up and exit).
    const summaryArg = args.find((a) => a.startsWith('--summary-json='));
    let steps = '';
    if (summaryArg) {
      const summary = JSON.parse(await readFile(summaryArg.slice('--summary-json='.length), 'utf8')) as {
        sites: { steps: { step: string; status: string; durationMs: number }[] }[];
      };
      const ran = summary.sites[0]!.steps.filter((st) => st.status !== 'skipped');
      const inSteps = ran.reduce((n, st) => n + st.durationMs, 0) / 1000;
      m.inSteps = inSteps;
      steps = `  (${ran.map((st) => `${st.step} ${(st.durationMs / 1000).toFixed(1)} s`).join(', ')}; start-up and exit ${(seconds - inSteps).toFixed(1)} s)`;
    }
    process.stdout.write(`  ${label.padEnd(32)} ${seconds.toFixed(1).padStart(6)} s  load ${load.toFixed(1).padStart(4)}  ${describeCounts(m.requests, server.kind)}${steps}\n`);
  };

  for (let round = 0; round < ROUNDS; round++) {
    process.stdout.write(`round ${round + 1}\n`);
    for (const phase of PHASES) {
      for (const tool of TOOLS) {
        await measure(`${tool} ${phase}`, commands[phase][tool](round));
        if (phase === 'full download' && tool === 'runner') {
          // Right after the safe one, from the same bucket into another empty folder.
          await measure(NO_FSYNC, [process.execPath, runner(downRoot(NO_FSYNC, round), round), { ...baseEnv, INGEST_BENCH_NO_FSYNC: '1' }]);
        }
      }
      if (phase === 'no-op rerun') {
        // The cheaper rclone mode, for reference: sizes only, no HEAD per object.
        await measure('rclone no-op --size-only', [tools.rclone, ['sync', data, `bench:${bucket('rclone', round)}`, '--fast-list', '--size-only'], rcloneEnv]);
      }
    }
    // Every tool must have produced the same tree.
    for (const label of [...TOOLS, NO_FSYNC]) {
      const got = await fileDigests(path.join(downRoot(label, round), 'sites', SITE), { skipDotFiles: true });
      const wrong = [...source].filter(([k, v]) => got.get(k) !== v).length + [...got.keys()].filter((k) => !source.has(k)).length;
      if (wrong > 0) throw new Error(`${label}: the downloaded tree differs from the source in ${wrong} files`);
      // Free the disk for the next round.
      if (!values.keep) await rm(downRoot(label, round), { recursive: true, force: true });
    }
    process.stdout.write(`  all four downloads are identical to the source (${source.size} files)\n`);
  }
  return report(server, results);
}

function report(server: BenchServer, results: Map<string, Measurement[]>): string {
  const get = (label: string) => results.get(label)!;
  const secs = (label: string) => get(label).map((m) => m.seconds);
  const each = (xs: number[], digits = 1, unit = ' s') => xs.map((x) => x.toFixed(digits)).join(' / ') + unit;
  const ratios = (a: string, b: string) => secs(a).map((x, i) => x / secs(b)[i]!);
  let out = `${server.description}: ${SMALL} files of 1-10 KB + ${BIG} of 5 MB, ${ROUNDS} rounds (figures per round, separated by /)\n`;
  const rows: string[][] = [['phase', 'runner', 'rclone --fast-list', 'aws s3 sync', 'runner/rclone', 'runner/aws', 'load (1 min)']];
  for (const phase of PHASES) {
    const loads = TOOLS.flatMap((t) => get(`${t} ${phase}`).map((m) => m.load.toFixed(1)));
    rows.push([phase, each(secs(`runner ${phase}`)), each(secs(`rclone ${phase}`)), each(secs(`aws ${phase}`)), each(ratios(`runner ${phase}`, `rclone ${phase}`), 2, ''), each(ratios(`runner ${phase}`, `aws ${phase}`), 2, ''), loads.join(' ')]);
  }
  rows.push(['full download, runner without fsync (UNSAFE)', each(secs(NO_FSYNC)), '', '', each(ratios(NO_FSYNC, 'rclone full download'), 2, ''), each(ratios(NO_FSYNC, 'aws full download'), 2, ''), get(NO_FSYNC).map((m) => m.load.toFixed(1)).join(' ')]);
  for (const phase of PHASES) {
    const inSteps = get(`runner ${phase}`).map((m) => m.inSteps ?? NaN);
    rows.push([`${phase}: runner steps only`, each(inSteps), '', '', each(inSteps.map((x, i) => x / secs(`rclone ${phase}`)[i]!), 2, ''), each(inSteps.map((x, i) => x / secs(`aws ${phase}`)[i]!), 2, ''), '']);
  }
  rows.push(['no-op (rclone --size-only)', '', each(secs('rclone no-op --size-only')), '', each(ratios('runner no-op rerun', 'rclone no-op --size-only'), 2, ''), '', '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  out += rows.map((row) => '  ' + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n') + '\n';
  out += `  cost of durability (runner's download with fsync / without): ${each(ratios('runner full download', NO_FSYNC), 2, '')}\n`;
  out += 'requests per tool and phase (first round; counted by the server):\n';
  for (const label of [...PHASES.flatMap((phase) => TOOLS.map((tool) => `${tool} ${phase}`)), NO_FSYNC, 'rclone no-op --size-only']) {
    out += `  ${label.padEnd(32)} ${describeCounts(get(label)[0]!.requests, server.kind)}\n`;
  }
  const every = (xs: number[], ok: (x: number) => boolean) => xs.every(ok);
  const noop = ratios('runner no-op rerun', 'rclone no-op rerun');
  const checks: [string, boolean][] = [
    [`no-op: runner <= 0.5 x rclone's default no-op (${each(noop, 2, '')})`, every(noop, (x) => x <= 0.5)],
    [`no-op: runner < aws s3 sync (${each(ratios('runner no-op rerun', 'aws no-op rerun'), 2, '')})`, every(ratios('runner no-op rerun', 'aws no-op rerun'), (x) => x < 1)],
    [`first upload: runner/rclone <= 1.0 (${each(ratios('runner first upload', 'rclone first upload'), 2, '')})`, every(ratios('runner first upload', 'rclone first upload'), (x) => x <= 1)],
    [`full download: runner/rclone <= 1.0 (${each(ratios('runner full download', 'rclone full download'), 2, '')})`, every(ratios('runner full download', 'rclone full download'), (x) => x <= 1)],
  ];
  out += 'targets (wall time, start-up included, every round):\n' + checks.map(([text, ok]) => `  ${ok ? 'met   ' : 'MISSED'} ${text}`).join('\n') + '\n';
  return out;
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
