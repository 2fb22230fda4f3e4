// Local indexing benchmark (not a test): the sharded build of tasks/engines/indexer/local/ next
// to the single-database build the upstream indexer does (every entry in one Orama database in
// one process), on the same synthetic search entries, measured side by side in one run, each in
// a child process of its own. Prints build time, peak resident memory and index size per shard
// and in total. Synthetic speech: cues of 1.5-4.5 s of Zipf-distributed words, chunked by the
// real rule (search-entries.ts), one-hour episodes unless said otherwise.
//
//   npx tsx bench/index.ts [--scenarios=400k,1500h,limit,limit-short] [--keep]
//
// Peak memory: the child's own maxRSS (getrusage); for the sharded build the runner process
// plus its largest build worker (they run at the same time; workers one after another).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { seededRandom } from '../test/helpers/random.ts';
import { cuesToSearchEntries, type SearchEntry } from '../tasks/engines/indexer/search-entries.ts';
import { buildLocalIndex, checkLocalIndex, DEFAULT_SHARD_TARGET_BYTES, type BuiltIndexFile } from '../tasks/engines/indexer/local/local-index.ts';
import { createSearchDb, encodeIndex } from '../tasks/engines/indexer/local/index-format.ts';
import { insertMultiple } from '@orama/orama';
import { HashCache } from '../tasks/engines/sync/hash-cache.ts';
import type { SiteWork } from '../tasks/engines/site-work.ts';
import type { SiteClients } from '../tasks/aws/clients.ts';
import { hostLimiters, Limiter } from '../tasks/platform/limiter.ts';
import { createGate } from '../tasks/platform/plan.ts';
import { silentLogger } from '../tasks/platform/log.ts';
import { formatBytes } from '../tasks/platform/format.ts';
import { DEFAULT_SINGLE_INDEX_MAX_ENTRIES, resolveAutomation, type SiteConfig } from '../tasks/site/site-config.ts';
import type { SiteId } from '../tasks/platform/types.ts';
import type { Cue } from '../tasks/site/srt.ts';

const SELF = fileURLToPath(import.meta.url);
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const LIMIT = DEFAULT_SINGLE_INDEX_MAX_ENTRIES.toLocaleString('en-US');
const SCENARIOS: Record<string, { label: string; entries?: number; hours?: number; episodeSeconds?: number }> = {
  '400k': { label: '400,000 entries', entries: 400_000 },
  '1500h': { label: '1,500 hours of audio', hours: 1_500 },
  // At singleIndexMaxEntries: hour-long episodes, and five-minute ones (episode ids near 1,000 cost the most memory).
  limit: { label: `${LIMIT} entries (singleIndexMaxEntries), one-hour episodes`, entries: DEFAULT_SINGLE_INDEX_MAX_ENTRIES },
  'limit-short': { label: `${LIMIT} entries (singleIndexMaxEntries), five-minute episodes`, entries: DEFAULT_SINGLE_INDEX_MAX_ENTRIES, episodeSeconds: 300 },
};

const { values } = parseArgs({
  options: {
    scenarios: { type: 'string', default: '400k,1500h,limit,limit-short' },
    keep: { type: 'boolean', default: false },
    child: { type: 'string' },
    dir: { type: 'string' },
  },
});

// ---- Synthetic speech ------------------------------------------------------------------------


/** A vocabulary of 30,000 made-up words, drawn with Zipf's law (s = 1.05) as speech is. */
function speaker(seed: number): () => string {
  const rnd = seededRandom(seed);
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const words = new Set<string>();
  while (words.size < 30_000) {
    const length = 1 + Math.floor(rnd() * rnd() * 12) + 1;
    let w = '';
    for (let i = 0; i < length; i++) w += letters[Math.floor(rnd() * rnd() * letters.length)];
    words.add(w);
  }
  const list = [...words];
  const weights = new Float64Array(list.length);
  let sum = 0;
  for (let i = 0; i < list.length; i++) weights[i] = sum += 1 / Math.pow(i + 1, 1.05);
  return () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (weights[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return list[lo]!;
  };
}

/** One episode's entries: cues of 1.5-4.5 s (2.6 words a second), chunked by the real rule. */
function episodeEntries(id: number, seconds: number, word: () => string, rnd: () => number): SearchEntry[] {
  const cues: Cue[] = [];
  for (let t = 0; t < seconds * 1000; ) {
    const length = 1500 + Math.floor(rnd() * 3000);
    const words = Array.from({ length: Math.max(1, Math.round((length / 1000) * 2.6)) }, word);
    cues.push({ startMs: t, endMs: t + length, text: words.join(' ') + (rnd() < 0.3 ? '.' : '') });
    t += length;
  }
  return cuesToSearchEntries(cues, { sequentialId: id, publishedAtMs: Date.UTC(2010, 0, 1) + id * 86_400_000 });
}

async function makeSite(dir: string, scenario: { entries?: number; hours?: number; episodeSeconds?: number }): Promise<{ episodes: number; entries: number; bytes: number }> {
  const word = speaker(42);
  const rnd = seededRandom(7);
  const manifest: unknown[] = [];
  let entries = 0;
  let bytes = 0;
  await mkdir(path.join(dir, 'search-entries/bench'), { recursive: true });
  for (let id = 1; scenario.hours ? id <= scenario.hours : entries < scenario.entries!; id++) {
    let list = episodeEntries(id, scenario.episodeSeconds ?? 3600, word, rnd);
    if (scenario.entries) list = list.slice(0, scenario.entries - entries);
    const fileKey = `2010-01-01_Episode_${id}--1262304000000`;
    const text = JSON.stringify(list);
    await writeFile(path.join(dir, `search-entries/bench/${fileKey}.json`), text);
    manifest.push({ sequentialId: id, podcastId: 'bench', title: `Episode ${id}`, fileKey, publishedAt: new Date(list[0]!.episodePublishedUnixTimestamp).toISOString() });
    entries += list.length;
    bytes += text.length;
  }
  await mkdir(path.join(dir, 'episode-manifest'), { recursive: true });
  await writeFile(path.join(dir, 'episode-manifest/full-episode-manifest.json'), JSON.stringify({ lastUpdated: '', episodes: manifest }));
  return { episodes: manifest.length, entries, bytes };
}

// ---- The two builds, each in its own process ---------------------------------------------------

interface LocalReport {
  built: BuiltIndexFile[];
  shardCount: number;
  totalEntries: number;
  indexBytes: number;
  single: 'kept' | 'written' | 'none';
  ownPeakRssBytes: number;
}

interface SingleReport {
  entries: number;
  bytes: number;
  insertMs: number;
  encodeMs: number;
  ownPeakRssBytes: number;
}

async function localChild(dir: string): Promise<LocalReport> {
  const site: SiteConfig = { id: 'bench' as SiteId, configPath: '', configDir: '', podcasts: [], automation: resolveAutomation('bench', {}), localDir: dir };
  const work: SiteWork = {
    signal: new AbortController().signal,
    log: silentLogger,
    limits: { cpu: new Limiter('cpu', os.cpus().length), network: new Limiter('network', 8), perHost: hostLimiters(2) },
    effect: createGate(false, []),
    dryRun: false,
    site,
    clients: {} as SiteClients,
    localRoot: path.dirname(dir),
    syncFolders: ['search-entries', 'search-index', 'episode-manifest'],
  };
  const options = { force: false, singleIndexMaxEntries: site.automation.singleIndexMaxEntries, shardTargetBytes: DEFAULT_SHARD_TARGET_BYTES };
  const cache = await HashCache.load(path.join(path.dirname(dir), 'hashes.json'));
  const result = await buildLocalIndex(work, cache, options, await checkLocalIndex(work, cache, options));
  return { built: result.built, shardCount: result.shardCount, totalEntries: result.totalEntries, indexBytes: result.indexBytes, single: result.single, ownPeakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** The upstream way: every entry read into memory, inserted into one database, saved as one file. */
async function singleChild(dir: string): Promise<SingleReport> {
  const { readdir } = await import('node:fs/promises');
  const folder = path.join(dir, 'search-entries/bench');
  const all: SearchEntry[] = [];
  for (const name of (await readdir(folder)).sort()) all.push(...(JSON.parse(await readFile(path.join(folder, name), 'utf8')) as SearchEntry[]));
  const started = Date.now();
  const db = createSearchDb();
  await insertMultiple(db, all, 1000);
  const inserted = Date.now();
  const bytes = await encodeIndex(db);
  await writeFile(path.join(dir, 'single-db-orama_index.msp'), bytes);
  return { entries: all.length, bytes: bytes.length, insertMs: inserted - started, encodeMs: Date.now() - inserted, ownPeakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

async function measure<T>(args: string[], nodeArgs: string[] = []): Promise<{ ms: number; report: T }> {
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, '--import', TSX, SELF, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${args.join(' ')} exited with ${code}`);
  return { ms: Date.now() - started, report: JSON.parse(out.trim().split('\n').at(-1)!) as T };
}

// ---- Report ----------------------------------------------------------------------------------

const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${mb(os.totalmem())} RAM; shard target ${formatBytes(DEFAULT_SHARD_TARGET_BYTES)} of entry JSON; singleIndexMaxEntries ${DEFAULT_SINGLE_INDEX_MAX_ENTRIES}`);
  for (const name of values.scenarios.split(',')) {
    const scenario = SCENARIOS[name];
    if (!scenario) throw new Error(`unknown scenario ${name} (${Object.keys(SCENARIOS).join(', ')})`);
    const root = await mkdtemp(path.join(os.tmpdir(), 'bench-index-'));
    const dir = path.join(root, 'sites', 'bench');
    try {
      const data = await makeSite(dir, scenario);
      console.log(`\n## ${scenario.label}: ${data.episodes} episodes, ${data.entries.toLocaleString('en-US')} entries, ${mb(data.bytes)} of entry JSON`);
      // Side by side: the single build first (page cache warmed alike for both by makeSite).
      const single = await measure<SingleReport>(['--child=single', `--dir=${dir}`], ['--max-old-space-size=16384']);
      const local = await measure<LocalReport>(['--child=local', `--dir=${dir}`]);
      const workers = local.report.built;
      const peakWorker = Math.max(0, ...workers.map((b) => b.peakRssBytes));
      console.log('| index file | entries | build | peak RSS (worker) | size |');
      console.log('|---|---:|---:|---:|---:|');
      for (const b of workers) console.log(`| ${b.key} | ${b.entries.toLocaleString('en-US')} | ${s(b.ms)} | ${mb(b.peakRssBytes)} | ${formatBytes(b.bytes)} |`);
      console.log(`\n| build | time | peak RSS | index size |`);
      console.log('|---|---:|---:|---:|');
      const withSingle = local.report.single === 'none' ? '' : workers.some((b) => b.key === 'search-index/orama_index.msp') ? ' + single file' : ' + single file (a copy)';
      console.log(`| sharded (${local.report.shardCount} shard${local.report.shardCount === 1 ? '' : 's'}${withSingle}) | ${s(local.ms)} | ${mb(local.report.ownPeakRssBytes + peakWorker)} (runner ${mb(local.report.ownPeakRssBytes)} + worker ${mb(peakWorker)}) | ${formatBytes(local.report.indexBytes)} |`);
      console.log(`| single DB, one process | ${s(single.ms)} (insert ${s(single.report.insertMs)}, encode ${s(single.report.encodeMs)}) | ${mb(single.report.ownPeakRssBytes)} | ${formatBytes(single.report.bytes)} |`);
      console.log(`\ntime ratio sharded/single: ${(local.ms / single.ms).toFixed(2)}x; peak memory ratio: ${((local.report.ownPeakRssBytes + peakWorker) / single.report.ownPeakRssBytes).toFixed(2)}x`);
    } finally {
      if (values.keep) console.log(`kept ${root}`);
      else await rm(root, { recursive: true, force: true });
    }
  }
}

if (values.child === 'local') process.stdout.write(JSON.stringify(await localChild(values.dir!)) + '\n');
else if (values.child === 'single') process.stdout.write(JSON.stringify(await singleChild(values.dir!)) + '\n');
else await main();
