// Scale benchmark (not a test): the runner's no-op run over many sites with many episodes,
// next to the floor measured in the same run. Six sites (by default) with 5,000 episodes each
// (audio, transcript and search entries per episode: small synthetic files; a manifest listing
// them; one feed snapshot per podcast), all in sync locally and in the bucket: 90,036 objects.
// Against the embedded s3rver and against Ceph's RADOS Gateway.
//
//   npx tsx bench/scale.ts [--server=both|s3rver|radosgw] [--sites=6] [--episodes=1000,2500,5000]
//                          [--rounds=2] [--profile] [--keep] [--hold]
//
// For each server, the data grows through the --episodes steps (per site). At each step:
//   1. seed the new episodes straight into the server (PutObject over keep-alive HTTP, 64 in
//      flight: bench/support/s3-put.ts) and into the local folders, and rewrite the manifest
//      on both sides;
//   2. one unmeasured runner run (the first after the seed hashes the new local files once and
//      remembers them, as the first night after a bulk copy would);
//   3. --rounds times, alternating: the runner's no-op run (`node scripts/ingest.mjs run
//      --only=pre-sync,consistency,upload --renderer=plain`: wall time and peak RSS through
//      /usr/bin/time -v, requests counted by the server, invocations by a local Lambda
//      endpoint the sites point at) and the limit (bench/support/scale-limit.ts: a bare
//      paginated ListObjectsV2 of the same prefixes with the runner's S3 client, concurrently
//      with a readdir-recursive + stat scan of the same folders, sites as many at once as the
//      runner takes them).
// The 1-minute load average is printed with every measurement: the machines are shared.
//
// Targets (at the largest step): runner <= 1.5 x limit, peak RSS < 300 MB, no GET or PUT of
// an object, no invocation. --profile adds one runner run under `node --cpu-prof` at the
// largest step and prints where its time went. --hold keeps the server and the data after the
// last step (until Ctrl-C) and prints the runner's command, for measuring by hand.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startLocalLambda, type LocalLambda } from '../tasks/demo/local/lambda-server.ts';
import { MANIFEST_KEY, serializeManifest, type Manifest, type ManifestEpisode } from '../tasks/site/manifest.ts';
import { bytes } from '../test/helpers/data.ts';
import { summarizeProfile } from './support/cpu-profile.ts';
import { describeCounts, SERVER_KINDS, serverUnavailable, startServer, type BenchServer, type RequestCounts, type ServerKind } from './support/servers.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PODCASTS = 5;
const KINDS = [
  { folder: 'audio', ext: 'mp3', min: 2048, spread: 6144 },
  { folder: 'transcripts', ext: 'srt', min: 1024, spread: 3072 },
  { folder: 'search-entries', ext: 'json', min: 1024, spread: 3072 },
] as const;
const TARGET_RATIO = 1.5;
const TARGET_RSS_MB = 300;

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'both' },
    sites: { type: 'string', default: '6' },
    episodes: { type: 'string', default: '1000,2500,5000' },
    rounds: { type: 'string', default: '2' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    hold: { type: 'boolean', default: false },
  },
});
const SITES = Number(values.sites);
const STEPS = values.episodes.split(',').map(Number);
const ROUNDS = Number(values.rounds);
if (!STEPS.every((n, i) => Number.isInteger(n) && n > 0 && (i === 0 || n > STEPS[i - 1]!))) throw new Error('--episodes: increasing positive integers');
const SERVERS: ServerKind[] = values.server === 'both' ? [...SERVER_KINDS] : [values.server as ServerKind];
if (!SERVERS.every((s) => (SERVER_KINDS as readonly string[]).includes(s))) throw new Error(`--server: one of both, ${SERVER_KINDS.join(', ')}`);

const siteId = (s: number) => `scale-${s + 1}`;
const bucketOf = (s: number) => `scale-${s + 1}-bench`;
const INDEX_FUNCTION = 'srt-indexing-scale';

// ---- the data ---------------------------------------------------------------------------

interface Episode {
  podcast: string;
  fileKey: string;
  entry: ManifestEpisode;
}

function episode(s: number, i: number): Episode {
  const podcast = `podcast-${i % PODCASTS}`;
  const published = new Date(Date.UTC(2010, 0, 1) + i * 86_400_000);
  const downloadedAt = 1_700_000_000_000 + s * 10_000_000 + i * 1000;
  const title = `Episode ${i + 1}: a synthetic title for site ${s + 1}`;
  const fileKey = `${published.toISOString().slice(0, 10)}_Episode_${i + 1}_a_synthetic_title_for_site_${s + 1}--${downloadedAt}`;
  return {
    podcast,
    fileKey,
    entry: {
      sequentialId: i + 1,
      podcastId: podcast,
      title,
      fileKey,
      originalAudioURL: `https://feeds.example.com/${podcast}/episodes/${i + 1}.mp3`,
      summary: `A synthetic episode (${i + 1}) of ${podcast}, for the scale benchmark.`,
      durationInSeconds: 600 + (i % 3000),
      publishedAt: published.toISOString(),
      downloadedAt: new Date(downloadedAt).toISOString(),
      hasCompletedLLMAnnotations: false,
      llmAnnotations: {},
      guid: `scale-${s + 1}-${podcast}-${i + 1}`,
    },
  };
}

function episodeFile(s: number, i: number, kind: number): { key: string; body: Buffer } {
  const e = episode(s, i);
  const k = KINDS[kind]!;
  const size = k.min + ((i * 7919 + kind * 104_729 + s * 15_485_863) % k.spread);
  return { key: `${k.folder}/${e.podcast}/${e.fileKey}.${k.ext}`, body: bytes(size, s * 1_000_000 + i * 3 + kind + 1) };
}

function manifestText(s: number, episodes: number): string {
  const manifest: Manifest = { lastUpdated: new Date(Date.UTC(2024, 0, 1) + episodes * 60_000).toISOString(), episodes: [] };
  for (let i = 0; i < episodes; i++) manifest.episodes.push(episode(s, i).entry);
  return serializeManifest(manifest);
}

function feedText(s: number, p: number): string {
  const items = Array.from({ length: 20 }, (_, j) => `    <item><title>Episode ${j + 1}</title><guid>scale-${s + 1}-podcast-${p}-${j + 1}</guid><enclosure url="https://feeds.example.com/podcast-${p}/episodes/${j + 1}.mp3" length="1000" type="audio/mpeg"/></item>`);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Podcast ${p} of site ${s + 1}</title>\n${items.join('\n')}\n</channel></rss>\n`;
}

/** Objects per site at `episodes`: three files per episode, the manifest, one feed per podcast. */
const objectsPerSite = (episodes: number) => episodes * KINDS.length + 1 + PODCASTS;

async function writeSiteConfigs(sitesRoot: string, server: BenchServer, lambda: LocalLambda): Promise<void> {
  for (let s = 0; s < SITES; s++) {
    const dir = path.join(sitesRoot, siteId(s));
    await mkdir(dir, { recursive: true });
    const config = {
      id: siteId(s),
      includedPodcasts: Array.from({ length: PODCASTS }, (_, p) => ({ id: `podcast-${p}`, title: `Podcast ${p}`, url: `https://feeds.example.com/podcast-${p}/feed.xml`, rssFeedFile: `podcast-${p}.xml`, status: 'active' })),
      automation: { bucket: bucketOf(s), region: 'us-east-1', endpoint: server.endpoint, lambdaEndpoint: lambda.endpoint, indexingFunction: INDEX_FUNCTION },
    };
    await writeFile(path.join(dir, 'site.config.json'), JSON.stringify(config, null, 2));
  }
}

/** Episodes [from, to) of every site into the server and the local folders; manifests rewritten on both sides (and the feeds, the first time). */
async function seed(server: BenchServer, localRoot: string, from: number, to: number): Promise<{ objects: number; seconds: number }> {
  const started = process.hrtime.bigint();
  const siteDir = (s: number) => path.join(localRoot, 'sites', siteId(s));
  for (let s = 0; s < SITES; s++) {
    for (const k of KINDS) for (let p = 0; p < PODCASTS; p++) await mkdir(path.join(siteDir(s), k.folder, `podcast-${p}`), { recursive: true });
    await mkdir(path.join(siteDir(s), 'rss'), { recursive: true });
    await mkdir(path.join(siteDir(s), 'episode-manifest'), { recursive: true });
  }
  const perSite = (to - from) * KINDS.length;
  const count = SITES * perSite;
  let last = Date.now();
  await server.seed.putAll(
    count,
    async (n) => {
      const s = Math.floor(n / perSite);
      const rest = n % perSite;
      const file = episodeFile(s, from + Math.floor(rest / KINDS.length), rest % KINDS.length);
      await writeFile(path.join(siteDir(s), ...file.key.split('/')), file.body);
      return { bucket: bucketOf(s), key: file.key, body: file.body };
    },
    (done) => {
      if (Date.now() - last < 15_000) return;
      last = Date.now();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      process.stdout.write(`    seeded ${done}/${count} (${(done / seconds).toFixed(0)}/s)\n`);
    },
  );
  const extra: { s: number; key: string; body: Buffer }[] = [];
  for (let s = 0; s < SITES; s++) {
    extra.push({ s, key: MANIFEST_KEY, body: Buffer.from(manifestText(s, to)) });
    if (from === 0) for (let p = 0; p < PODCASTS; p++) extra.push({ s, key: `rss/podcast-${p}.xml`, body: Buffer.from(feedText(s, p)) });
  }
  await server.seed.putAll(extra.length, async (n) => {
    const { s, key, body } = extra[n]!;
    await writeFile(path.join(siteDir(s), ...key.split('/')), body);
    return { bucket: bucketOf(s), key, body };
  });
  return { objects: count + extra.length, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

// ---- measuring -------------------------------------------------------------------------

interface Timed {
  seconds: number;
  /** User + system CPU seconds of the process. */
  cpu: number;
  rssMb: number;
  load: number;
  output: string;
}

async function load1(): Promise<number> {
  return Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
}

/** Run under /usr/bin/time -v: wall time (ours), peak RSS (its "Maximum resident set size"). */
async function timed(args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const load = await load1();
  const started = process.hrtime.bigint();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-30_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, output: out }));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${args.slice(0, 4).join(' ')} exited ${code}:\n${output}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(output);
  const cpu = ['User', 'System'].reduce((sum, kind) => sum + Number(new RegExp(`${kind} time \\(seconds\\): ([\\d.]+)`).exec(output)?.[1] ?? NaN), 0);
  return { seconds, cpu, rssMb: rss ? Number(rss[1]) / 1024 : NaN, load, output };
}

interface RunnerSample extends Timed {
  requests: RequestCounts;
  invocations: number;
  /** The runner's own duration (start of the run to its summary). */
  inRunSeconds: number;
  /** Per step, the slowest site's time. */
  stepMax: Record<string, number>;
  actions: number;
}

interface LimitSample extends Timed {
  limit: { seconds: number; listSeconds: number; scanSeconds: number; objects: number; files: number; pages: number; retries: number };
}

interface Summary {
  durationMs: number;
  exitCode: number;
  sites: { site: string; steps: { step: string; status: string; durationMs: number; counts?: Record<string, unknown>; actions?: unknown[] }[] }[];
}

class Bench {
  private runs = 0;
  constructor(
    private readonly root: string,
    private readonly server: BenchServer,
    private readonly lambda: LocalLambda,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get sitesRoot() {
    return path.join(this.root, 'config');
  }
  get localRoot() {
    return path.join(this.root, 'local');
  }

  /**
   * The launcher's bundle, up to date with the sources before a measured run (other people
   * edit tasks/ while this runs): built now if needed, in a cache of this benchmark's own, so a
   * build during a measured run shows as a new entry there and the run is measured again.
   */
  private async bundleState(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'), '--help'], { env: this.env, stdio: 'ignore' });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ingest.mjs --help exited ${code}`))));
    });
    return (await readdir(this.env.INGEST_BUNDLE_CACHE!)).sort().join(',');
  }

  /** One no-op run of the runner; fails unless every site is exactly in sync and nothing moved. */
  async runner(expectedPerSite: number, nodeOptions: string[] = []): Promise<RunnerSample> {
    const summaryFile = path.join(this.root, `summary-${++this.runs}.json`);
    let t: Timed | undefined;
    let mark: unknown;
    let invocationsBefore = 0;
    for (let attempt = 1; !t; attempt++) {
      const bundles = await this.bundleState();
      mark = await this.server.mark();
      invocationsBefore = this.lambda.invocations.length;
      const sample = await timed(
        [process.execPath, ...nodeOptions, path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'), 'run', '--only=pre-sync,consistency,upload', `--sites-root=${this.sitesRoot}`, `--local-root=${this.localRoot}`, '--renderer=plain', `--summary-json=${summaryFile}`],
        this.env,
      );
      const rebuilt = (await readdir(this.env.INGEST_BUNDLE_CACHE!)).sort().join(',') !== bundles;
      if (!rebuilt || attempt >= 3) t = sample;
      else process.stdout.write(`    (the sources changed during this run and its start rebuilt the bundle: measured again)\n`);
      if (rebuilt) await this.server.since(mark);
    }
    const requests = await this.server.since(mark);
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as Summary;
    if (summary.sites.length !== SITES) throw new Error(`runner: ${summary.sites.length} sites in the summary, expected ${SITES}`);
    const stepMax: Record<string, number> = {};
    let actions = 0;
    for (const site of summary.sites) {
      for (const step of site.steps) {
        if (step.status === 'skipped') continue;
        stepMax[step.step] = Math.max(stepMax[step.step] ?? 0, step.durationMs / 1000);
        actions += step.actions?.length ?? 0;
        if (step.step === 'consistency') {
          const c = step.counts as { consistent?: number; localOnly?: number; s3Only?: number; conflicts?: number };
          if (c.consistent !== expectedPerSite || c.localOnly || c.s3Only || c.conflicts) {
            throw new Error(`runner: ${site.site} is not in sync: ${JSON.stringify(c)} (expected ${expectedPerSite} consistent)`);
          }
        }
        if (step.status !== 'up-to-date') throw new Error(`runner: ${site.site} ${step.step} ${step.status}, expected up-to-date\n${t.output.slice(-3000)}`);
      }
    }
    return { ...t, requests, invocations: this.lambda.invocations.length - invocationsBefore, inRunSeconds: summary.durationMs / 1000, stepMax, actions };
  }

  async limit(): Promise<LimitSample> {
    const t = await timed([process.execPath, '--import', 'tsx', path.join(PROJECT_ROOT, 'bench', 'support', 'scale-limit.ts'), `--sites-root=${this.sitesRoot}`, `--local-root=${this.localRoot}`], this.env);
    const line = t.output.split('\n').find((l) => l.startsWith('{"seconds"'));
    if (!line) throw new Error(`limit: no result line:\n${t.output}`);
    return { ...t, limit: JSON.parse(line) };
  }
}

interface StepResult {
  episodes: number;
  objects: number;
  seedSeconds: number;
  seedRate: number;
  warmup: RunnerSample;
  runner: RunnerSample[];
  limit: LimitSample[];
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

async function benchServer(kind: ServerKind): Promise<{ kind: ServerKind; description: string; steps: StepResult[]; profile?: string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), `bench-scale-${kind}-`));
  const server = await startServer(kind, path.join(root, 's3'));
  const lambda = await startLocalLambda({ functions: { [INDEX_FUNCTION]: async () => ({ ok: true }) } });
  const steps: StepResult[] = [];
  let profile: string | undefined;
  try {
    process.stdout.write(`\n== ${server.description}\n`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_SHARED_CREDENTIALS_FILE: path.join(root, 'no-credentials'),
      AWS_CONFIG_FILE: path.join(root, 'no-config'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      FORCE_COLOR: '0',
      // Inside node_modules (the bundle imports its packages from there), apart from everyone else's.
      INGEST_BUNDLE_CACHE: path.join(PROJECT_ROOT, 'node_modules', '.cache', 'podcast-ingest-bundle-bench'),
    };
    await mkdir(env.INGEST_BUNDLE_CACHE!, { recursive: true });
    const bench = new Bench(root, server, lambda, env);
    await server.createBuckets(Array.from({ length: SITES }, (_, s) => bucketOf(s)));
    await writeSiteConfigs(bench.sitesRoot, server, lambda);
    let have = 0;
    for (const episodes of STEPS) {
      process.stdout.write(`  ${episodes} episodes per site (load ${(await load1()).toFixed(2)}): seeding ${SITES * (episodes - have) * KINDS.length} files...\n`);
      const seeded = await seed(server, bench.localRoot, have, episodes);
      have = episodes;
      const expected = objectsPerSite(episodes);
      process.stdout.write(`    seeded ${seeded.objects} objects in ${f1(seeded.seconds)} s (${(seeded.objects / seeded.seconds).toFixed(0)}/s); ${SITES * expected} objects in all\n`);
      const warmup = await bench.runner(expected);
      process.stdout.write(`    first run after the seed (hashes the new local files once): ${f1(warmup.seconds)} s, ${describeCounts(warmup.requests, kind)}\n`);
      const result: StepResult = { episodes, objects: SITES * expected, seedSeconds: seeded.seconds, seedRate: seeded.objects / seeded.seconds, warmup, runner: [], limit: [] };
      for (let round = 0; round < ROUNDS; round++) {
        const r = await bench.runner(expected);
        result.runner.push(r);
        process.stdout.write(
          `    runner no-op  ${f2(r.seconds).padStart(6)} s (in run ${f2(r.inRunSeconds)} s; slowest site: ${Object.entries(r.stepMax).map(([k, v]) => `${k} ${f2(v)}`).join(', ')}), CPU ${f1(r.cpu)} s, peak RSS ${r.rssMb.toFixed(0)} MB, load ${r.load.toFixed(2)}; ${describeCounts(r.requests, kind)}; ${r.invocations} invocations\n`,
        );
        const l = await bench.limit();
        result.limit.push(l);
        if (l.limit.objects !== SITES * expected || l.limit.files !== SITES * expected) throw new Error(`limit: ${l.limit.objects} objects, ${l.limit.files} files; expected ${SITES * expected}`);
        process.stdout.write(
          `    limit         ${f2(l.limit.seconds).padStart(6)} s (list alone ${f2(l.limit.listSeconds)} s in ${l.limit.pages} pages${l.limit.retries ? `, ${l.limit.retries} retried` : ''}, scan alone ${f2(l.limit.scanSeconds)} s; process ${f2(l.seconds)} s, CPU ${f1(l.cpu)} s, peak RSS ${l.rssMb.toFixed(0)} MB), load ${l.load.toFixed(2)}\n`,
        );
      }
      steps.push(result);
    }
    if (values.hold) {
      // For measuring by hand: the server, the data and the command stay until Ctrl-C.
      const command = `node scripts/ingest.mjs run --only=pre-sync,consistency,upload --sites-root=${bench.sitesRoot} --local-root=${bench.localRoot} --renderer=plain`;
      // The bench's own bundle cache too: by hand, the runner measured is the one the benchmark measured.
      const vars = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', 'INGEST_BUNDLE_CACHE'].map((k) => `${k}=${env[k]}`).join(' ');
      await writeFile(path.join(root, 'hold.env'), vars.replaceAll(' ', '\n') + '\n');
      process.stdout.write(`  holding (Ctrl-C ends): env in ${path.join(root, 'hold.env')}\n  ${vars} ${command}\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    if (values.profile) {
      const dir = path.join(root, 'profile');
      await mkdir(dir, { recursive: true });
      const r = await bench.runner(objectsPerSite(have), ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
      profile = `  runner no-op under --cpu-prof: ${f2(r.seconds)} s (load ${r.load.toFixed(2)})\n`;
      for (const file of files) profile += (await summarizeProfile(path.join(dir, file))) + '\n';
      if (values.keep) profile += `  (profiles kept in ${dir})\n`;
    }
  } finally {
    await lambda.stop();
    await server.stop();
    if (!values.keep) await rm(root, { recursive: true, force: true });
    else process.stdout.write(`kept ${root}\n`);
  }
  return { kind, description: server.description, steps, ...(profile ? { profile } : {}) };
}

function report(results: Awaited<ReturnType<typeof benchServer>>[]): string {
  let out = `\n${SITES} sites, ${STEPS.join(' / ')} episodes per site, ${ROUNDS} rounds each (runner and limit alternating); ${os.cpus().length} CPUs\n`;
  const checks: [string, boolean][] = [];
  for (const { kind, description, steps, profile } of results) {
    if (ROUNDS === 0) continue;
    out += `\n${description}\n`;
    const rows: string[][] = [['episodes/site', 'objects', 'seed', 'runner no-op', 'limit', 'runner/limit', 'runner peak RSS', 'load (1 min)', 'GET', 'PUT', 'invocations']];
    for (const s of steps) {
      const ratios = s.runner.map((r, i) => r.seconds / s.limit[i]!.limit.seconds);
      rows.push([
        String(s.episodes),
        s.objects.toLocaleString('en-US'),
        `${s.seedRate.toFixed(0)}/s`,
        s.runner.map((r) => `${f2(r.seconds)}`).join(' / ') + ' s',
        s.limit.map((l) => `${f2(l.limit.seconds)}`).join(' / ') + ' s',
        ratios.map(f2).join(' / '),
        s.runner.map((r) => r.rssMb.toFixed(0)).join(' / ') + ' MB',
        [...s.runner.map((r) => r.load.toFixed(1)), ...s.limit.map((l) => l.load.toFixed(1))].join(' '),
        String(Math.max(...s.runner.map((r) => r.requests.getObject))),
        String(Math.max(...s.runner.map((r) => r.requests.putObject))),
        String(Math.max(...s.runner.map((r) => r.invocations))),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    out += rows.map((row) => '  ' + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n') + '\n';

    // Growth from the first step to the last: time and memory per 1,000 episodes per site.
    const first = steps[0]!;
    const last = steps[steps.length - 1]!;
    const best = (xs: number[]) => Math.min(...xs);
    const grow = (pick: (s: StepResult) => number, unit: string, digits = 2) =>
      steps.map((s) => `${pick(s).toFixed(digits)} ${unit}`).join(' -> ') +
      (steps.length > 1 ? ` (+${((pick(last) - pick(first)) / ((last.episodes - first.episodes) / 1000)).toFixed(digits)} ${unit} per 1,000 more episodes per site)` : '');
    out += `  growth, best of the rounds at each step:\n`;
    out += `    runner no-op:  ${grow((s) => best(s.runner.map((r) => r.seconds)), 's')}\n`;
    out += `    limit:         ${grow((s) => best(s.limit.map((l) => l.limit.seconds)), 's')}\n`;
    out += `    runner memory: ${grow((s) => best(s.runner.map((r) => r.rssMb)), 'MB', 0)}\n`;
    out += `    limit memory:  ${grow((s) => best(s.limit.map((l) => l.rssMb)), 'MB', 0)} (its process: listing + scan, nothing kept)\n`;
    out += `  requests of each no-op run at ${last.episodes} episodes: ${last.runner.map((r) => describeCounts(r.requests, kind)).join('; ')}\n`;
    if (profile) out += profile;

    const ratios = last.runner.map((r, i) => r.seconds / last.limit[i]!.limit.seconds);
    checks.push(
      [`${kind}: runner no-op <= ${TARGET_RATIO} x limit at ${last.episodes} episodes/site, every round (${ratios.map(f2).join(', ')})`, ratios.every((x) => x <= TARGET_RATIO)],
      [`${kind}: runner peak RSS < ${TARGET_RSS_MB} MB (${last.runner.map((r) => r.rssMb.toFixed(0)).join(', ')} MB)`, last.runner.every((r) => r.rssMb < TARGET_RSS_MB)],
      [`${kind}: no GET or PUT of an object, no invocation in any no-op run`, steps.every((s) => s.runner.every((r) => r.requests.getObject === 0 && r.requests.putObject === 0 && r.invocations === 0))],
    );
  }
  out += '\ntargets:\n' + checks.map(([text, ok]) => `  ${ok ? 'met   ' : 'MISSED'} ${text}`).join('\n') + '\n';
  return out;
}

async function main(): Promise<void> {
  const results = [];
  for (const kind of SERVERS) {
    const why = serverUnavailable(kind);
    if (why) {
      process.stdout.write(`skipping ${kind}: ${why}\n`);
      continue;
    }
    results.push(await benchServer(kind));
  }
  process.stdout.write(report(results));
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
