// Sync benchmark (not a test): this runner vs `rclone sync --fast-list` vs `aws s3 sync`,
// side by side against one local S3 server, on the same data: 5,000 files of 1-10 KB plus
// 20 files of 5 MB. Three phases, each run for every tool before the next phase (so load
// on a shared machine hits them alike): first upload into an empty bucket, a no-op rerun,
// and a full download into an empty folder. Prints seconds, ratios and request counts.
//
//   npx tsx bench/sync.ts [--small=5000] [--big=20] [--keep]
//
// Needs rclone and awscli (Debian: apt-get install -y rclone awscli).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3Server, type RecordedRequest } from '../tasks/demo/local/s3-server.ts';
import { mapPool } from '../tasks/platform/limiter.ts';
import { bytes, fileDigests } from '../test/helpers/data.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SITE = 'bench';
const TOOLS = ['runner', 'rclone', 'aws'] as const;
type Tool = (typeof TOOLS)[number];
const PHASES = ['first upload', 'no-op rerun', 'full download'] as const;
type Phase = (typeof PHASES)[number];

interface Measurement {
  seconds: number;
  requests: RecordedRequest[];
  /** Runner only: time inside its steps (wall time minus start-up and exit). */
  inSteps?: number;
}

const { values } = parseArgs({
  options: {
    small: { type: 'string', default: '5000' },
    big: { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
  },
});
const SMALL = Number(values.small);
const BIG = Number(values.big);


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

async function main(): Promise<void> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-sync-'));
  const s3 = await startLocalS3({ dir: path.join(root, 's3'), buckets: TOOLS.map((t) => `bench-${t}`), recordRequests: true });
  try {
    await bench(root, s3);
  } finally {
    await s3.stop();
    if (!values.keep) await rm(root, { recursive: true, force: true });
    else process.stdout.write(`kept ${root}\n`);
  }
}

async function bench(root: string, s3: LocalS3Server): Promise<void> {
  // The source tree, laid out as the runner's local root for the upload phases.
  const upRoot = path.join(root, 'runner-up');
  const data = path.join(upRoot, 'sites', SITE);
  const made = await makeData(data);
  process.stdout.write(`data: ${made.files} files, ${(made.bytes / 1024 / 1024).toFixed(1)} MB; s3rver at ${s3.endpoint}\n`);
  const source = await fileDigests(data, { skipDotFiles: true });

  const sitesRoot = path.join(root, 'sites');
  await mkdir(path.join(sitesRoot, SITE), { recursive: true });
  await writeFile(
    path.join(sitesRoot, SITE, 'site.config.json'),
    JSON.stringify({ id: SITE, includedPodcasts: [], automation: { bucket: 'bench-runner', region: 'us-east-1', endpoint: s3.endpoint } }),
  );
  const awsConfig = path.join(root, 'aws-config');
  await writeFile(awsConfig, '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n');
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: awsConfig,
    AWS_SHARED_CREDENTIALS_FILE: path.join(root, 'no-credentials'),
    AWS_PAGER: '',
    FORCE_COLOR: '0',
  };
  // rclone refuses the CA bundle variable set on this machine.
  const rcloneEnv: NodeJS.ProcessEnv = {
    ...baseEnv,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCH_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG: path.join(root, 'rclone.conf'),
  };
  delete rcloneEnv.AWS_CA_BUNDLE;

  const downRoot = (tool: Tool) => path.join(root, `${tool}-down`);
  let runnerRuns = 0;
  // The operator's command (npm run ingest, cron): the bundled Taskfile.ts.
  const runner = (localRoot: string) => [
    path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'),
    'run',
    '--only=pre-sync,consistency,upload',
    `--sites-root=${sitesRoot}`,
    `--local-root=${localRoot}`,
    '--renderer=plain',
    `--summary-json=${path.join(root, `runner-summary-${++runnerRuns}.json`)}`,
  ];
  const commands: Record<Phase, Record<Tool, () => [string, string[], NodeJS.ProcessEnv]>> = {
    'first upload': {
      runner: () => [process.execPath, runner(upRoot), baseEnv],
      rclone: () => ['rclone', ['sync', data, 'bench:bench-rclone', '--fast-list'], rcloneEnv],
      aws: () => ['/usr/bin/aws', ['s3', 'sync', data, 's3://bench-aws', '--endpoint-url', s3.endpoint, '--only-show-errors'], baseEnv],
    },
    'no-op rerun': {
      runner: () => [process.execPath, runner(upRoot), baseEnv],
      rclone: () => ['rclone', ['sync', data, 'bench:bench-rclone', '--fast-list'], rcloneEnv],
      aws: () => ['/usr/bin/aws', ['s3', 'sync', data, 's3://bench-aws', '--endpoint-url', s3.endpoint, '--only-show-errors'], baseEnv],
    },
    'full download': {
      runner: () => [process.execPath, runner(downRoot('runner')), baseEnv],
      rclone: () => ['rclone', ['sync', 'bench:bench-rclone', path.join(downRoot('rclone'), 'sites', SITE), '--fast-list'], rcloneEnv],
      aws: () => ['/usr/bin/aws', ['s3', 'sync', 's3://bench-aws', path.join(downRoot('aws'), 'sites', SITE), '--endpoint-url', s3.endpoint, '--only-show-errors'], baseEnv],
    },
  };

  const results = new Map<string, Measurement>();
  const measure = async (label: string, [command, args, env]: [string, string[], NodeJS.ProcessEnv]) => {
    const from = s3.requests.length;
    const started = process.hrtime.bigint();
    const r = await run(command, args, env);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Let the server's last request lines arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (r.code !== 0) throw new Error(`${label} exited ${r.code}:\n${r.output}`);
    const m: Measurement = { seconds, requests: s3.requests.slice(from) };
    results.set(label, m);
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
    process.stdout.write(`  ${label.padEnd(32)} ${seconds.toFixed(1).padStart(6)} s  ${String(m.requests.length).padStart(6)} requests${steps}\n`);
  };

  for (const phase of PHASES) {
    // A no-op is cheap: three rounds, the median kept, so one hiccup of a shared machine does not decide.
    const rounds = phase === 'no-op rerun' ? 3 : 1;
    const samples = new Map<string, Measurement[]>();
    for (let round = 0; round < rounds; round++) {
      for (const tool of TOOLS) {
        const label = `${tool} ${phase}`;
        await measure(label, commands[phase][tool]());
        samples.set(label, [...(samples.get(label) ?? []), results.get(label)!]);
      }
      if (phase === 'no-op rerun') {
        // The cheaper rclone mode, for reference: sizes only, no HEAD per object.
        const label = 'rclone no-op --size-only';
        await measure(label, ['rclone', ['sync', data, 'bench:bench-rclone', '--fast-list', '--size-only'], rcloneEnv]);
        samples.set(label, [...(samples.get(label) ?? []), results.get(label)!]);
      }
    }
    for (const [label, list] of samples) results.set(label, [...list].sort((a, b) => a.seconds - b.seconds)[Math.floor(list.length / 2)]!);
  }

  // Every tool must have produced the same tree.
  for (const tool of TOOLS) {
    const got = await fileDigests(path.join(downRoot(tool), 'sites', SITE), { skipDotFiles: true });
    const wrong = [...source].filter(([k, v]) => got.get(k) !== v).length + [...got.keys()].filter((k) => !source.has(k)).length;
    if (wrong > 0) throw new Error(`${tool}: the downloaded tree differs from the source in ${wrong} files`);
  }
  process.stdout.write(`all three downloads are identical to the source (${source.size} files)\n\n`);
  process.stdout.write(report(results));
}

function breakdown(requests: RecordedRequest[]): string {
  const count = (f: (r: RecordedRequest) => boolean) => requests.filter(f).length;
  const list = count((r) => r.method === 'GET' && /[?&]list-type=2|[?&](delimiter|prefix|max-keys)=/.test(r.url));
  const parts = [
    ['LIST', list],
    ['GET', count((r) => r.method === 'GET') - list],
    ['HEAD', count((r) => r.method === 'HEAD')],
    ['PUT', count((r) => r.method === 'PUT')],
    ['POST', count((r) => r.method === 'POST')],
  ].filter(([, n]) => (n as number) > 0);
  return parts.map(([name, n]) => `${n} ${name}`).join(', ');
}

function report(results: Map<string, Measurement>): string {
  const get = (label: string) => results.get(label)!;
  const rows: string[][] = [['phase', 'runner', 'rclone --fast-list', 'aws s3 sync', 'runner/rclone', 'runner/aws']];
  for (const phase of PHASES) {
    const [r, c, a] = TOOLS.map((t) => get(`${t} ${phase}`).seconds);
    rows.push([phase, `${r!.toFixed(1)} s`, `${c!.toFixed(1)} s`, `${a!.toFixed(1)} s`, (r! / c!).toFixed(2), (r! / a!).toFixed(2)]);
  }
  for (const phase of PHASES) {
    const inSteps = get(`runner ${phase}`).inSteps;
    if (inSteps === undefined) continue;
    const [c, a] = (['rclone', 'aws'] as const).map((t) => get(`${t} ${phase}`).seconds);
    rows.push([`${phase}: runner steps only`, `${inSteps.toFixed(1)} s`, '', '', (inSteps / c!).toFixed(2), (inSteps / a!).toFixed(2)]);
  }
  const sizeOnly = get('rclone no-op --size-only');
  rows.push(['no-op (rclone --size-only)', '', `${sizeOnly.seconds.toFixed(1)} s`, '', (get('runner no-op rerun').seconds / sizeOnly.seconds).toFixed(2), '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  let out = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n') + '\n\n';
  out += 'requests per tool and phase:\n';
  for (const phase of PHASES) {
    for (const tool of TOOLS) {
      const m = get(`${tool} ${phase}`);
      out += `  ${`${tool} ${phase}`.padEnd(28)} ${String(m.requests.length).padStart(6)}  (${breakdown(m.requests)})\n`;
    }
  }
  out += `  ${'rclone no-op --size-only'.padEnd(28)} ${String(sizeOnly.requests.length).padStart(6)}  (${breakdown(sizeOnly.requests)})\n\n`;
  const noop = get('runner no-op rerun').seconds;
  const checks: [string, boolean][] = [
    [`no-op: runner <= 0.5 x rclone's default no-op (${(noop / get('rclone no-op rerun').seconds).toFixed(2)})`, noop <= 0.5 * get('rclone no-op rerun').seconds],
    [`no-op: runner < aws s3 sync (${(noop / get('aws no-op rerun').seconds).toFixed(2)})`, noop < get('aws no-op rerun').seconds],
    [`first upload: runner/rclone <= 1.0 (${(get('runner first upload').seconds / get('rclone first upload').seconds).toFixed(2)})`, get('runner first upload').seconds <= get('rclone first upload').seconds],
    [`full download: runner/rclone <= 1.0 (${(get('runner full download').seconds / get('rclone full download').seconds).toFixed(2)})`, get('runner full download').seconds <= get('rclone full download').seconds],
  ];
  out += 'targets (wall time, start-up included; no-op times are medians of 3):\n' + checks.map(([text, ok]) => `  ${ok ? 'met   ' : 'MISSED'} ${text}`).join('\n') + '\n';
  return out;
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
