// `verify` (issue 15): the episode-level audit of a site. The pure check is table-tested; then
// every kind of defect is planted in a real site (local folder + a bucket on a real s3rver) and
// the real CLI must name it and exit 1, and a site the pipeline itself produced must be clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { diffListings, type LocalFile } from '../tasks/engines/sync/diff.ts';
import { verifySite, type BucketSide, type VerifyInput } from '../tasks/engines/verify/verify-site.ts';
import { MANIFEST_KEY, parseManifest, serializeManifest, type Manifest, type ManifestEpisode, type ManifestRead } from '../tasks/site/manifest.ts';
import type { S3Key } from '../tasks/platform/types.ts';
import { md5 } from './helpers/data.ts';
import { startFeedServer } from './helpers/feed-server.ts';
import { rssXml } from './helpers/rss-rig.ts';
import { sitesRig, type SitesRig } from './helpers/sites-rig.ts';
import { syncRig } from './helpers/sync-rig.ts';

const P = 'replyall';
const OLD = 'oldshow';
const PODCASTS = [
  { id: P, title: 'Reply All', url: 'http://127.0.0.1:9/feed.xml', rssFeedFile: `${P}.xml`, status: 'active' as const },
  { id: OLD, title: 'Old Show', url: 'http://127.0.0.1:9/old.xml', rssFeedFile: `${OLD}.xml`, status: 'inactive' as const },
];

function entry(podcastId: string, fileKey: string, guid: string): ManifestEpisode {
  const date = fileKey.slice(0, 10);
  const ms = /--(\d{13})$/.exec(fileKey)?.[1];
  return {
    sequentialId: 0,
    podcastId,
    title: fileKey.slice(11).replace(/--\d{13}$/, '').replace(/_/g, ' '),
    fileKey,
    originalAudioURL: `https://cdn.example/${guid}.mp3`,
    publishedAt: `${date}T10:00:00.000Z`,
    downloadedAt: new Date(ms ? Number(ms) : Date.parse(`${date}T12:00:00Z`)).toISOString(),
    hasCompletedLLMAnnotations: false,
    llmAnnotations: {},
    guid,
  };
}

// The base site: complete, audio pruned after transcription, not yet transcribed, inactive podcast.
const E1 = entry(P, '2024-01-01_The_Oldest--1704103200000', 'ep-1');
const E2 = entry(P, '2024-02-01_The_Middle--1706781600000', 'ep-2');
const E3 = entry(P, '2024-03-01_Newest--1709287200000', 'ep-3');
const E4 = entry(OLD, '2023-01-01_Gone--1672570000000', 'old-1');
const BASE_EPISODES = [E1, E2, E3, E4];

const audio = (e: ManifestEpisode) => `audio/${e.podcastId}/${e.fileKey}.mp3`;
const srt = (e: ManifestEpisode) => `transcripts/${e.podcastId}/${e.fileKey}.srt`;
const entries = (e: ManifestEpisode) => `search-entries/${e.podcastId}/${e.fileKey}.json`;

function manifestText(episodes: ManifestEpisode[]): string {
  return serializeManifest({ lastUpdated: '2024-04-01T00:00:00.000Z', episodes: episodes.map((e, i) => ({ ...e, sequentialId: i + 1 })) });
}

/** key -> content of the base site's files (the manifest included). */
function baseFiles(episodes = BASE_EPISODES): Map<string, string> {
  return new Map([
    [MANIFEST_KEY, manifestText(episodes)],
    [audio(E1), 'ID3 audio one'],
    [srt(E1), '1\n00:00:00,000 --> 00:00:02,000\nOne.\n'],
    [entries(E1), '[{"id":"1_0","text":"One."}]'],
    [srt(E2), '1\n00:00:00,000 --> 00:00:02,000\nTwo.\n'],
    [entries(E2), '[{"id":"2_0","text":"Two."}]'],
    [audio(E3), 'ID3 audio three'],
    [`rss/${P}.xml`, '<rss/>'],
  ]);
}

// ---- the pure check ----

function stored(key: string, body: string): LocalFile {
  return { key: key as S3Key, size: Buffer.byteLength(body), modified: new Date(0), md5: md5(body), path: `/x/${key}`, mtimeMs: 0 };
}

interface Case {
  name: string;
  /** Files on both sides unless `localOnly`/`bucketOnly` say otherwise. */
  files?: Map<string, string>;
  change?: (files: Map<string, string>) => void;
  localOnly?: Record<string, string>;
  bucketOnly?: Record<string, string>;
  /** Files under the site folder the sync scan ignores (temporaries, dot-files). */
  hidden?: string[];
  manifest?: ManifestRead;
  bucketFailed?: { code: string; message: string };
  findings: [string, string][];
  notes?: [string, string][];
}

function inputOf(c: Case): VerifyInput {
  const files = new Map(c.files ?? baseFiles());
  c.change?.(files);
  const local = new Map([...files, ...Object.entries(c.localOnly ?? {})]);
  const bucket = new Map([...files, ...Object.entries(c.bucketOnly ?? {})]);
  const manifestBody = local.get(MANIFEST_KEY);
  const parsed = manifestBody === undefined ? undefined : parseManifest(manifestBody);
  const manifest: ManifestRead =
    c.manifest ?? (parsed === undefined ? { kind: 'missing', manifest: { lastUpdated: '', episodes: [] } } : parsed.ok ? { kind: 'ok', manifest: parsed.manifest } : { kind: 'invalid', reason: parsed.reason });
  const side: BucketSide = c.bucketFailed
    ? { kind: 'failed', bucket: 'b', ...c.bucketFailed }
    : { kind: 'listed', bucket: 'b', diff: diffListings([...local].map(([k, v]) => stored(k, v)), [...bucket].map(([k, v]) => stored(k, v))) };
  return { podcasts: PODCASTS, manifest, tree: [...local.keys(), ...(c.hidden ?? [])].sort(), bucket: side };
}

const BASE_NOTES: [string, string][] = [
  ['audio-pruned', audio(E2)],
  ['awaiting-transcript', srt(E3)],
  ['podcast-inactive', `${OLD}/${E4.fileKey}`],
];
const E5 = entry(P, '2024-05-01_Unheard--1714561200000', 'ep-5');
const withEpisodes = (episodes: ManifestEpisode[]) => (files: Map<string, string>) => void files.set(MANIFEST_KEY, manifestText(episodes));

const CASES: Case[] = [
  { name: 'a complete site: no finding; the reasons files are missing are notes', findings: [], notes: BASE_NOTES },
  { name: 'an episode of an active podcast with neither audio nor transcript', change: withEpisodes([...BASE_EPISODES, E5]), findings: [['missing-audio', audio(E5)]], notes: BASE_NOTES },
  {
    name: 'audio only the bucket has is bucket-only, not missing',
    change: withEpisodes([...BASE_EPISODES, E5]),
    bucketOnly: { [audio(E5)]: 'ID3 five' },
    findings: [['bucket-only', audio(E5)]],
    notes: [...BASE_NOTES, ['awaiting-transcript', srt(E5)]].sort() as [string, string][],
  },
  { name: 'a transcript without search entries on an indexed podcast', change: (f) => void f.delete(entries(E1)), findings: [['missing-search-entries', entries(E1)]], notes: BASE_NOTES },
  {
    name: 'no search entries at all for the podcast: not indexed yet, a note',
    change: (f) => {
      f.delete(entries(E1));
      f.delete(entries(E2));
    },
    findings: [],
    notes: [['audio-pruned', audio(E2)], ['awaiting-transcript', srt(E3)], ['awaiting-index', entries(E1)], ['awaiting-index', entries(E2)], ['podcast-inactive', `${OLD}/${E4.fileKey}`]],
  },
  { name: 'search entries whose transcript is gone', change: (f) => void f.delete(srt(E1)), findings: [['missing-transcript', srt(E1)]], notes: BASE_NOTES },
  {
    name: 'the same episode twice (same GUID, two file keys): the later download is the duplicate',
    change: withEpisodes([...BASE_EPISODES, { ...entry(P, '2024-01-01_The_Oldest--1704200000000', 'ep-1') }]),
    findings: [['duplicate-episode', `${P}/2024-01-01_The_Oldest--1704200000000`]],
    notes: BASE_NOTES,
  },
  { name: 'the same file key listed twice', change: withEpisodes([...BASE_EPISODES, E1]), findings: [['duplicate-episode', `${P}/${E1.fileKey}`]], notes: BASE_NOTES },
  {
    name: 'orphans, a superseded download, a later download under the same stem, a stray name',
    change: (f) => {
      f.set(`transcripts/${P}/2023-05-05_Unknown--1700000000000.srt`, 'x');
      f.set(`audio/${P}/2024-01-01_The_Oldest--1704000000000.mp3`, 'older copy');
      f.set(`audio/${P}/2024-01-01_The_Oldest--1704999999999.mp3`, 'newer copy');
      f.set(`audio/${P}/notes.txt`, 'stray');
      f.set(`search-entries/${P}.json`, '[]');
    },
    findings: [
      ['superseded', `audio/${P}/2024-01-01_The_Oldest--1704000000000.mp3`],
      ['orphan', `audio/${P}/2024-01-01_The_Oldest--1704999999999.mp3`],
      ['orphan', `audio/${P}/notes.txt`],
      ['orphan', `search-entries/${P}.json`],
      ['orphan', `transcripts/${P}/2023-05-05_Unknown--1700000000000.srt`],
    ],
    notes: BASE_NOTES,
  },
  {
    name: 'temporaries and resume files anywhere under the site folder; other dot-files are fine',
    hidden: [`audio/${P}/.${E3.fileKey}.mp3.123-abc0.partial`, `audio/${P}/.${E5.fileKey}.mp3.resume`, `audio/${P}/.${E3.fileKey}.mp3.resume.json`, 'rss/feed.xml.tmp', 'search-index/.DS_Store'],
    findings: [
      ['temporary-file', `audio/${P}/.${E3.fileKey}.mp3.123-abc0.partial`],
      ['temporary-file', `audio/${P}/.${E3.fileKey}.mp3.resume.json`],
      ['temporary-file', `audio/${P}/.${E5.fileKey}.mp3.resume`],
      ['temporary-file', 'rss/feed.xml.tmp'],
    ],
    notes: BASE_NOTES,
  },
  {
    name: 'an unparseable manifest: reported, and no file is called an orphan on that basis',
    change: (f) => void f.set(MANIFEST_KEY, manifestText(BASE_EPISODES).slice(0, 40)),
    findings: [['manifest-unparseable', MANIFEST_KEY]],
  },
  { name: 'no manifest, but episode files', change: (f) => void f.delete(MANIFEST_KEY), findings: [['manifest-missing', MANIFEST_KEY]] },
  { name: 'a fresh site: nothing at all is clean', files: new Map(), findings: [] },
  {
    name: 'local-only, bucket-only and differing files',
    change: (f) => void f.delete(`rss/${P}.xml`),
    localOnly: { [`rss/${P}.xml`]: '<rss>local</rss>', 'search-index/a.json': '{}' },
    bucketOnly: { [`rss/${P}.xml`]: '<rss>other</rss>', 'search-index/b.json': '{}' },
    findings: [['local-only', 'search-index/a.json'], ['bucket-only', 'search-index/b.json'], ['differs', `rss/${P}.xml`]],
    notes: BASE_NOTES,
  },
  {
    name: 'a bucket that cannot be listed fails the site with its code; the local checks still run',
    change: withEpisodes([...BASE_EPISODES, E5]),
    hidden: ['rss/x.partial'],
    bucketFailed: { code: 'NoSuchBucket', message: 'cannot list bucket b: The specified bucket does not exist' },
    findings: [['bucket-check-failed', 's3://b'], ['missing-audio', audio(E5)], ['temporary-file', 'rss/x.partial']],
    notes: BASE_NOTES,
  },
  {
    name: 'an unsafe file key is named, its files are not looked for',
    change: withEpisodes([...BASE_EPISODES, { ...E5, fileKey: '../../escape' }]),
    findings: [['unsafe-file-key', `${P}/../../escape`]],
    notes: BASE_NOTES,
  },
  {
    name: 'an episode of a podcast the config no longer lists; legacy keys are episodes like any other',
    change: (f) => {
      const legacy = entry(P, '2019-06-01_Legacy-Title', 'legacy');
      withEpisodes([...BASE_EPISODES, entry('gone', '2022-01-01_Removed--1641038400000', 'g'), legacy])(f);
      f.set(audio(legacy), 'legacy audio');
      f.set(srt(legacy), 'legacy srt');
      f.set(entries(legacy), '[]');
    },
    findings: [],
    notes: [...BASE_NOTES, ['podcast-not-configured', 'gone/2022-01-01_Removed--1641038400000']],
  },
];

test('verifySite: one finding (or note) per defect, named by kind and subject', async (t) => {
  for (const c of CASES) {
    await t.test(c.name, () => {
      const verdict = verifySite(inputOf(c));
      assert.deepEqual(verdict.findings.map((f) => [f.kind, f.subject]), c.findings, JSON.stringify(verdict.findings, null, 1));
      const byKind = (a: string[], b: string[]) => a.join('\0').localeCompare(b.join('\0'));
      assert.deepEqual(verdict.notes.map((n) => [n.kind, n.subject]).sort(byKind), [...(c.notes ?? [])].sort(byKind));
      for (const f of verdict.findings) assert.ok(f.detail.length > 0, `${f.kind} has a detail`);
    });
  }
});

test('verifySite: details say why (superseded by what, where the file is, what the bucket said)', () => {
  const verdict = verifySite(
    inputOf({
      name: '',
      change: (f) => f.set(`audio/${P}/2024-01-01_The_Oldest--1704000000000.mp3`, 'older'),
      localOnly: { [`transcripts/${P}/2023-05-05_Unknown--1700000000000.srt`]: 'x' },
      findings: [],
    }),
  );
  const detail = (kind: string) => verdict.findings.find((f) => f.kind === kind)?.detail;
  assert.equal(detail('superseded'), `an older download of ${P}/${E1.fileKey} (local and bucket)`);
  assert.equal(detail('orphan'), 'belongs to no manifest episode (local only)');
  assert.equal(verdict.episodes, 4);
  const failed = verifySite(inputOf({ name: '', bucketFailed: { code: 'AccessDenied', message: 'cannot list bucket b: Access Denied' }, findings: [] }));
  assert.equal(failed.findings[0]!.detail, 'cannot list bucket b: Access Denied (AccessDenied)');
});

// ---- real sites: local folder + bucket on s3rver, the real CLI ----

interface Planted {
  id: string;
  plant: (rig: SitesRig, id: string) => Promise<void>;
  /** Every finding kind verify must report for the site, and a subject it must name. */
  kinds: string[];
  names: string;
  bucket?: string;
}

const DEFECTS: Planted[] = [
  { id: 'missing-audio', kinds: ['missing-audio'], names: audio(E5), plant: (rig, id) => rig.mirror(id, MANIFEST_KEY, manifestText([...BASE_EPISODES, E5])) },
  {
    id: 'missing-transcript',
    kinds: ['missing-transcript'],
    names: srt(E1),
    plant: async (rig, id) => {
      await rig.removeLocal(id, srt(E1));
      await rig.removeObject(id, srt(E1));
    },
  },
  {
    id: 'missing-entries',
    kinds: ['missing-search-entries'],
    names: entries(E1),
    plant: async (rig, id) => {
      await rig.removeLocal(id, entries(E1));
      await rig.removeObject(id, entries(E1));
    },
  },
  {
    id: 'duplicate',
    kinds: ['duplicate-episode'],
    names: `${P}/2024-01-01_The_Oldest--1704200000000`,
    plant: (rig, id) => rig.mirror(id, MANIFEST_KEY, manifestText([...BASE_EPISODES, entry(P, '2024-01-01_The_Oldest--1704200000000', 'ep-1')])),
  },
  { id: 'orphan', kinds: ['orphan'], names: `transcripts/${P}/2023-05-05_Unknown--1700000000000.srt`, plant: (rig, id) => rig.mirror(id, `transcripts/${P}/2023-05-05_Unknown--1700000000000.srt`, 'x') },
  { id: 'superseded', kinds: ['superseded'], names: `audio/${P}/2024-01-01_The_Oldest--1704000000000.mp3`, plant: (rig, id) => rig.mirror(id, `audio/${P}/2024-01-01_The_Oldest--1704000000000.mp3`, 'older') },
  {
    id: 'temporaries',
    kinds: ['temporary-file'],
    names: `audio/${P}/.${E5.fileKey}.mp3.resume`,
    plant: async (rig, id) => {
      await rig.writeLocal(id, `audio/${P}/.${E3.fileKey}.mp3.4242-abc0.partial`, 'half');
      await rig.writeLocal(id, `audio/${P}/.${E5.fileKey}.mp3.resume`, 'half');
      await rig.writeLocal(id, `audio/${P}/.${E5.fileKey}.mp3.resume.json`, '{}');
    },
  },
  { id: 'unparseable', kinds: ['manifest-unparseable'], names: MANIFEST_KEY, plant: (rig, id) => rig.mirror(id, MANIFEST_KEY, manifestText(BASE_EPISODES).slice(0, 60)) },
  {
    id: 'no-manifest',
    kinds: ['manifest-missing'],
    names: MANIFEST_KEY,
    plant: async (rig, id) => {
      await rig.removeLocal(id, MANIFEST_KEY);
      await rig.removeObject(id, MANIFEST_KEY);
    },
  },
  { id: 'local-only', kinds: ['local-only'], names: 'search-index/index.json', plant: (rig, id) => rig.writeLocal(id, 'search-index/index.json', '{}') },
  { id: 'bucket-only', kinds: ['bucket-only'], names: 'search-index/index.json', plant: (rig, id) => rig.put(id, 'search-index/index.json', '{}') },
  {
    id: 'differs',
    kinds: ['differs'],
    names: `rss/${P}.xml`,
    plant: async (rig, id) => {
      await rig.writeLocal(id, `rss/${P}.xml`, '<rss>one</rss>');
      await rig.put(id, `rss/${P}.xml`, '<rss>two</rss>');
    },
  },
  {
    id: 'unlistable',
    bucket: 'no-such-bucket-here',
    kinds: ['bucket-check-failed', 'temporary-file'],
    names: 's3://no-such-bucket-here',
    plant: (rig, id) => rig.writeLocal(id, 'rss/replyall.xml.tmp', 'x'),
  },
];

/** The base site on both sides, then its defect. */
async function plantSites(rig: SitesRig, defects: Planted[]): Promise<void> {
  for (const d of [{ id: 'clean' } as Planted, ...defects]) {
    await rig.addSite(d.id, { podcasts: PODCASTS, bucket: d.bucket });
    for (const [key, body] of baseFiles()) {
      if (d.bucket) await rig.writeLocal(d.id, key, body);
      else await rig.mirror(d.id, key, body);
    }
    await d.plant?.(rig, d.id);
  }
}

interface VerifyJson {
  sites: { site: string; status: string; code?: string; episodes: number; findings: number; notes: number }[];
  findings: { site: string; kind: string; subject: string; detail: string }[];
  notes: { site: string; kind: string; subject: string; detail: string }[];
}

test('verify names every planted defect, site by site, and exits 1; the clean site is clean', async (t) => {
  const rig = await sitesRig(t, ['clean', ...DEFECTS.filter((d) => !d.bucket).map((d) => d.id)]);
  await plantSites(rig, DEFECTS);

  const all = await rig.cli(['verify', '--json']);
  assert.equal(all.code, 1, all.stderr);
  const report = JSON.parse(all.stdout) as VerifyJson;
  assert.deepEqual(report.findings.filter((f) => f.site === 'clean'), [], 'the base site is clean');
  assert.deepEqual(report.sites.find((s) => s.site === 'clean'), { site: 'clean', status: 'clean', bucket: 'clean-browse-dot-show', localDir: rig.siteDir('clean'), episodes: 4, findings: 0, notes: 3 });
  for (const d of DEFECTS) {
    const mine = report.findings.filter((f) => f.site === d.id);
    assert.deepEqual([...new Set(mine.map((f) => f.kind))].sort(), [...d.kinds].sort(), `${d.id}: ${JSON.stringify(mine)}`);
    assert.ok(mine.some((f) => f.subject === d.names), `${d.id} names ${d.names}: ${JSON.stringify(mine)}`);
    for (const f of mine) assert.deepEqual(Object.keys(f).sort(), ['detail', 'kind', 'site', 'subject']);
  }
  const unlistable = report.sites.find((s) => s.site === 'unlistable')!;
  assert.equal(unlistable.status, 'failed');
  assert.equal(unlistable.code, 'NoSuchBucket');
  assert.equal(unlistable.episodes, 4, 'the local checks ran');

  // One site at a time, as an operator reads it: the table names the kind and the file.
  for (const d of DEFECTS) {
    const one = await rig.cli(['verify', `--sites=${d.id}`]);
    assert.equal(one.code, 1, `${d.id}: ${one.stdout}${one.stderr}`);
    for (const kind of d.kinds) assert.match(one.stdout, new RegExp(`^  ${kind} +\\d+ `, 'm'), `${d.id}: ${one.stdout}`);
    assert.ok(one.stdout.includes(d.names), `${d.id}: ${one.stdout}`);
    assert.match(one.stdout, new RegExp(`^verify: \\d+ findings? in 1 of 1 site \\(${d.id}\\)$`, 'm'));
  }
  const failed = await rig.cli(['verify', '--sites=unlistable']);
  assert.match(failed.stderr, /error: site "unlistable": cannot list bucket no-such-bucket-here: .*NoSuchBucket/);

  const clean = await rig.cli(['verify', '--sites=clean']);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /^clean \(bucket clean-browse-dot-show, 4 episodes\): clean, 3 notes$/m);
  assert.match(clean.stdout, /^  info: audio-pruned +1 +audio\/replyall\/2024-02-01_The_Middle--1706781600000\.mp3$/m);
  assert.match(clean.stdout, /^verify: 1 site checked, all clean$/m);

  const unknown = await rig.cli(['verify', '--sites=clean,nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--sites: unknown site "nope"/);
});

test('verify writes nothing: not the hash cache, not the site folder', async (t) => {
  const rig = await sitesRig(t, ['clean']);
  await plantSites(rig, []);
  // A hash cache exists (consistency saves one), and a new file verify must hash: a dirty cache it must not save.
  assert.equal((await rig.cli(['consistency'])).code, 0);
  await rig.mirror('clean', `transcripts/${P}/${E3.fileKey}.srt`, 'three');
  await rig.writeLocal('clean', `audio/${P}/.x.mp3.99999999-dead0.partial`, 'half');
  const before = await snapshot(rig.localRoot);
  assert.ok(before.some((line) => line.startsWith(path.join('.cache', 'hashes-clean.json'))), before.join('\n'));
  const result = await rig.cli(['verify']);
  assert.equal(result.code, 1);
  assert.deepEqual(await snapshot(rig.localRoot), before);
});

async function snapshot(dir: string): Promise<string[]> {
  const { readdir, stat } = await import('node:fs/promises');
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(e.parentPath, e.name);
    out.push(`${path.relative(dir, full)} ${e.isFile() ? (await stat(full)).mtimeMs : 'dir'}`);
  }
  return out.sort();
}

test('a site the pipeline produced is clean; defects planted in it afterwards are found', async (t) => {
  const feed = await startFeedServer(t);
  const items = [
    { title: '#1 First', guid: 'g-1', pubDate: '2024-01-01T10:00:00Z' },
    { title: '#2 Second', guid: 'g-2', pubDate: '2024-02-01T10:00:00Z' },
  ];
  for (const item of items) feed.set(`/audio/${item.guid}.mp3`, { body: randomBytes(1500), etag: `"${item.guid}"`, range: true });
  feed.set('/feed.xml', { body: rssXml('Show', items.map((i) => ({ ...i, url: feed.url(`/audio/${i.guid}.mp3`) }))) });
  const rig = await syncRig(t, { siteId: 'real', podcasts: [{ id: 'show', title: 'Show', url: feed.url('/feed.xml'), rssFeedFile: 'show.xml', status: 'active' }] });
  const run = await rig.run(['--only=pre-sync,consistency,rss,upload']);
  assert.equal(run.code, 0, run.stdout);
  const verify = (args: string[] = []) =>
    import('./helpers/cli.ts').then(({ runCli }) => runCli(['verify', `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`, ...args], { env: rig.env }));

  const clean = await verify(['--json']);
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  const report = JSON.parse(clean.stdout) as VerifyJson;
  assert.deepEqual(report.findings, []);
  assert.deepEqual(report.notes.map((n) => n.kind), ['awaiting-transcript', 'awaiting-transcript'], 'not transcribed yet: a reason, not a finding');
  assert.equal(report.sites[0]!.episodes, 2);

  // An interrupted write, and an audio file the bucket lost.
  const manifest = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(path.join(rig.siteDir, MANIFEST_KEY), 'utf8'))) as Manifest;
  const lost = `audio/show/${manifest.episodes[0]!.fileKey}.mp3`;
  await rig.client.send(new DeleteObjectCommand({ Bucket: rig.bucket, Key: lost }));
  await writeFile(path.join(rig.siteDir, 'rss', '.show.xml.1-ab0.partial'), 'half');
  const broken = await verify(['--json']);
  assert.equal(broken.code, 1);
  assert.deepEqual(
    (JSON.parse(broken.stdout) as VerifyJson).findings.map((f) => [f.kind, f.subject]),
    [['temporary-file', 'rss/.show.xml.1-ab0.partial'], ['local-only', lost]],
  );
  // The local copy goes too: now the episode has no audio anywhere.
  await rm(path.join(rig.siteDir, ...lost.split('/')));
  const missing = await verify();
  assert.equal(missing.code, 1);
  assert.match(missing.stdout, new RegExp(`^  missing-audio +1 +${lost.replace(/[./]/g, '\\$&')}$`, 'm'));
});
