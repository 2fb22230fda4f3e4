// The local index build, read back the way the site's search function reads it: zstd, msgpackr,
// Orama's load() into a fresh database. Real transcripts (test/fixtures/srt), real worker processes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { create, insertMultiple, load, search } from '@orama/orama';
import { unpack } from 'msgpackr';
import { decompress, init } from '@bokuweb/zstd-wasm';
import { srtToSearchEntries, type SearchEntry } from '../tasks/engines/indexer/search-entries.ts';
import { buildLocalIndex, checkLocalIndex, type LocalIndexOptions } from '../tasks/engines/indexer/local/local-index.ts';
import { planShards, type EntryFile, type ShardManifest } from '../tasks/engines/indexer/local/shard-plan.ts';
import { HashCache } from '../tasks/engines/sync/hash-cache.ts';
import type { SiteWork } from '../tasks/engines/site-work.ts';
import type { SiteClients } from '../tasks/aws/clients.ts';
import { Limiter, hostLimiters } from '../tasks/platform/limiter.ts';
import { createGate, type PlannedAction } from '../tasks/platform/plan.ts';
import { silentLogger } from '../tasks/platform/log.ts';
import { loadSite, type SiteConfig } from '../tasks/site/site-config.ts';
import { FIXTURES } from './helpers/fixtures.ts';
import { writeSite } from './helpers/sites.ts';
import { tempDir } from './helpers/temp.ts';

const SCHEMA = { id: 'string', text: 'string', sequentialEpisodeIdAsString: 'string', startTimeMs: 'number', endTimeMs: 'number', episodePublishedUnixTimestamp: 'number' } as const;
const TRANSCRIPTS = ['virtualcoffee-s2e9.srt', 'virtualcoffee-s7e9.srt', 'podcastindex-example.srt', 'virtualcoffee-s1e0-trailer.srt', 'pysrt-speech-bom-utf8.srt'];

/** The search function's reader: decompress, unpack, load into a database created with the schema. */
let zstd: Promise<void> | undefined;
async function readIndex(file: string) {
  await (zstd ??= init());
  const db = create({ schema: SCHEMA });
  load(db, unpack(Buffer.from(decompress(await readFile(file)))) as never);
  return db;
}

function memoryDb(entries: readonly SearchEntry[]) {
  const db = create({ schema: SCHEMA });
  void insertMultiple(db, entries as SearchEntry[]);
  return db;
}

/** As the search function asks: exact terms in `text`, no typo tolerance. */
const QUERIES = ['coffee', 'podcast', 'community', 'open source', 'welcome', 'virtual coffee', 'javascript', 'zzzznothing'];
type Db = ReturnType<typeof memoryDb>;
function hits(db: Db, term: string, limit = 20) {
  const found = search(db, { term, properties: ['text'], limit, threshold: 0, exact: true }) as { count: number; hits: { id: string; score: number }[] };
  return { count: found.count, hits: found.hits.map((h) => ({ id: h.id, score: h.score })) };
}
const newest = (db: Db, term: string) =>
  (search(db, { term, properties: ['text'], limit: 15, threshold: 0, exact: true, sortBy: { property: 'episodePublishedUnixTimestamp', order: 'DESC' } }) as {
    hits: { document: { id: string; episodePublishedUnixTimestamp: number } }[];
  }).hits.map((h) => h.document);

interface Site {
  work: SiteWork;
  actions: PlannedAction[];
  dir: string;
  entries: SearchEntry[];
}

/** A site whose transcripts are the fixtures (episode i published on day i), and a SiteWork for it. */
async function site(t: TestContext): Promise<Site> {
  const root = await tempDir(t);
  await writeSite(path.join(root, 'sites'), { id: 'alpha', includedPodcasts: [] });
  const config = (await loadSite(path.join(root, 'sites', 'alpha'), path.join(root, 'local'))) as SiteConfig;
  const dir = config.localDir;
  const episodes = [];
  const entries: SearchEntry[] = [];
  for (const [i, name] of TRANSCRIPTS.entries()) {
    const fileKey = `2024-01-0${i + 1}_Episode_${i + 1}--170400000000${i}`;
    const publishedAt = new Date(Date.UTC(2024, 0, i + 1)).toISOString();
    const srt = await readFile(path.join(FIXTURES, 'srt', name));
    await mkdir(path.join(dir, 'transcripts/pod'), { recursive: true });
    await writeFile(path.join(dir, `transcripts/pod/${fileKey}.srt`), srt);
    episodes.push({ sequentialId: i + 1, podcastId: 'pod', title: name, fileKey, publishedAt });
    entries.push(...srtToSearchEntries(srt, { sequentialId: i + 1, publishedAtMs: Date.parse(publishedAt) }));
  }
  await mkdir(path.join(dir, 'episode-manifest'), { recursive: true });
  await writeFile(path.join(dir, 'episode-manifest/full-episode-manifest.json'), JSON.stringify({ lastUpdated: '', episodes }, null, 2));
  const actions: PlannedAction[] = [];
  const work: SiteWork = {
    signal: new AbortController().signal,
    log: silentLogger,
    limits: { cpu: new Limiter('cpu', 2), network: new Limiter('network', 4), perHost: hostLimiters(2) },
    effect: createGate(false, actions),
    dryRun: false,
    site: config,
    clients: {} as SiteClients,
    localRoot: path.join(root, 'local'),
    syncFolders: ['transcripts', 'search-entries', 'search-index', 'episode-manifest'],
  };
  return { work, actions, dir, entries };
}

async function build(s: Site, options: LocalIndexOptions) {
  const cache = await HashCache.load(path.join(s.work.localRoot, '.cache/hashes.json'));
  const check = await checkLocalIndex(s.work, cache, options);
  return { check, result: check.stale.length > 0 ? await buildLocalIndex(s.work, cache, options, check) : undefined };
}

test('the single file and every shard load in the search function\'s reader and answer as an in-memory database does', async (t) => {
  const s = await site(t);
  // Small shards: the five transcripts make several. A site built in shards keeps them when the
  // single-file limit is raised later: the second build adds the single file.
  const { result } = await build(s, { force: false, singleIndexMaxEntries: 0, shardTargetBytes: 20_000 });
  assert.ok(result);
  assert.deepEqual(result.errors, []);
  assert.equal(result.entriesWritten, s.entries.length);
  const raised = await build(s, { force: false, singleIndexMaxEntries: 100_000, shardTargetBytes: 20_000 });
  assert.deepEqual(raised.check.stale, ['search-index/orama_index.msp missing or out of date']);
  assert.equal(raised.result!.shardsRebuilt, 0);
  assert.equal(raised.result!.single, 'written');
  const manifest = JSON.parse(await readFile(path.join(s.dir, 'search-index/shard-manifest.json'), 'utf8')) as ShardManifest;
  assert.ok(manifest.shardCount >= 3, `several shards (${manifest.shardCount})`);
  assert.equal(manifest.shards.length, manifest.shardCount);
  assert.equal(manifest.siteId, 'alpha');
  assert.equal(manifest.totalEpisodes, TRANSCRIPTS.length);
  assert.equal(manifest.totalEntries, s.entries.length);
  assert.deepEqual(manifest.shards.at(-1)!.episodeRange[1], null);
  assert.equal(manifest.shards[0]!.episodeRange[0], 1);

  const full = memoryDb(s.entries);
  const single = await readIndex(path.join(s.dir, 'search-index/orama_index.msp'));
  for (const term of QUERIES) assert.deepEqual(hits(single, term), hits(full, term), `single file: "${term}"`);
  for (const term of ['coffee', 'podcast', 'the']) assert.deepEqual(newest(single, term), newest(full, term), `sorted by publication: "${term}"`);
  assert.ok(newest(single, 'the').length > 0);

  const seen = new Set<string>();
  for (const shard of manifest.shards) {
    const [start, end] = shard.episodeRange;
    const own = s.entries.filter((e) => Number(e.sequentialEpisodeIdAsString) >= start && (end === null || Number(e.sequentialEpisodeIdAsString) <= end));
    assert.equal(shard.entryCount, own.length);
    assert.equal(shard.indexPath, `search-index/shard-${shard.id}/orama_index.msp`);
    const db = await readIndex(path.join(s.dir, shard.indexPath));
    const expected = memoryDb(own);
    for (const term of QUERIES) {
      assert.deepEqual(hits(db, term), hits(expected, term), `shard ${shard.id}: "${term}"`);
      for (const h of hits(db, term, 10_000).hits) seen.add(`${term}\t${h.id}`);
    }
    assert.deepEqual(newest(db, 'the'), newest(expected, 'the'));
  }
  // Together the shards find exactly what one database finds.
  const all = new Set(QUERIES.flatMap((term) => hits(full, term, 10_000).hits.map((h) => `${term}\t${h.id}`)));
  assert.deepEqual([...seen].sort(), [...all].sort());
});

test('a second build with nothing new does nothing; one new episode rebuilds one shard; a dry run plans and writes nothing', async (t) => {
  const s = await site(t);
  const options = { force: false, singleIndexMaxEntries: 0, shardTargetBytes: 20_000 };
  await build(s, options);
  const again = await build(s, options);
  assert.deepEqual(again.check.stale, []);
  assert.equal(again.result, undefined);

  // Episode 6: the last shard changes, no other.
  const srt = await readFile(path.join(FIXTURES, 'srt/virtualcoffee-s1e0-trailer.srt'));
  await writeFile(path.join(s.dir, 'transcripts/pod/2024-01-06_Six--1704499200000.srt'), srt);
  const manifestFile = path.join(s.dir, 'episode-manifest/full-episode-manifest.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  manifest.episodes.push({ sequentialId: 6, podcastId: 'pod', title: 'six', fileKey: '2024-01-06_Six--1704499200000', publishedAt: '2024-01-06T00:00:00.000Z' });
  await writeFile(manifestFile, JSON.stringify(manifest));
  const before = JSON.parse(await readFile(path.join(s.dir, 'search-index/shard-manifest.json'), 'utf8')) as ShardManifest;

  const planned = { ...s, actions: [] as PlannedAction[] };
  planned.work = { ...s.work, dryRun: true, effect: createGate(true, planned.actions) };
  const plan = await build(planned, options);
  assert.ok(plan.result);
  assert.deepEqual(planned.actions.map((a) => [a.kind, a.target]), [
    ['write', 'search-entries/pod/2024-01-06_Six--1704499200000.json'],
    ['write', before.shards.at(-1)!.indexPath],
    ['write', 'search-index/shard-manifest.json'],
  ]);
  assert.deepEqual(JSON.parse(await readFile(path.join(s.dir, 'search-index/shard-manifest.json'), 'utf8')), before, 'the dry run wrote nothing');

  const real = await build(s, options);
  assert.equal(real.result!.shardsRebuilt, 1);
  assert.deepEqual(s.actions.slice(-3).map((a) => a.target), planned.actions.map((a) => a.target), 'the real run does what the dry run planned');
  const after = JSON.parse(await readFile(path.join(s.dir, 'search-index/shard-manifest.json'), 'utf8')) as ShardManifest;
  assert.deepEqual(after.shards.slice(0, -1), before.shards.slice(0, -1), 'the other shards are untouched');
  assert.equal(after.totalEpisodes, 6);
});

test('sharding rule: closed ranges stay, new episodes go to the last shard, an outgrown range is split again', () => {
  const file = (id: number, size: number): EntryFile => ({ key: `search-entries/p/${id}.json`, path: '', size, md5: String(id), sequentialId: id });
  const ten = Array.from({ length: 10 }, (_, i) => file(i + 1, 100));
  const first = planShards(ten, undefined, 300);
  assert.deepEqual(first.map((s) => s.episodeRange), [[1, 3], [4, 6], [7, 9], [10, null]]);
  const manifest = (shards: typeof first): ShardManifest => ({
    version: 1, shardCount: shards.length, createdAt: '', totalEpisodes: 0, siteId: 's', totalEntries: 0, singleIndex: null,
    shards: shards.map((s) => ({ id: s.id, episodeRange: s.episodeRange, indexPath: s.indexPath, episodeCount: s.files.length, indexSizeBytes: 1, entryCount: 1, fingerprint: s.fingerprint })),
  });
  // Two new episodes: the open shard fills and closes at its third episode; the others keep their fingerprints.
  const next = planShards([...ten, file(11, 100), file(12, 100)], manifest(first), 300);
  assert.deepEqual(next.map((s) => s.episodeRange), [[1, 3], [4, 6], [7, 9], [10, null]]);
  assert.deepEqual(next.slice(0, 3).map((s) => s.fingerprint), first.slice(0, 3).map((s) => s.fingerprint));
  // Late transcripts make episodes 4-6 three times as large: that range alone is split again.
  const grown = [...ten.filter((f) => f.sequentialId < 4 || f.sequentialId > 6), file(4, 300), file(5, 300), file(6, 300)];
  const split = planShards(grown, manifest(first), 300);
  assert.deepEqual(split.map((s) => s.episodeRange), [[1, 3], [4, 4], [5, 5], [6, 6], [7, 9], [10, null]]);
  assert.equal(split[4]!.fingerprint, first[2]!.fingerprint, 'episodes 7-9: same entries, now shard 5');
  assert.deepEqual(planShards([], undefined, 300), []);
});
