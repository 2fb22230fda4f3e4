// The manifest merge as tables: identity, matching older entries, numbering, preservation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { identifyEpisodes, normalizeEnclosureUrl } from '../tasks/site/episode-identity.ts';
import type { FeedEpisode } from '../tasks/engines/feeds/parse.ts';
import { mergeFeedEpisodes, readManifest, renumber, serializeManifest, type Manifest, type ManifestEpisode } from '../tasks/site/manifest.ts';
import { tempDir } from './helpers/temp.ts';

const AT = 1_750_000_000_000;

function episode(over: Partial<FeedEpisode> & { title: string }): FeedEpisode {
  return { publishedAt: new Date('2024-01-01T10:00:00Z'), enclosureUrl: `https://cdn.example.com/${encodeURIComponent(over.title)}.mp3`, enclosureType: 'audio/mpeg', ...over };
}

function entry(over: Partial<ManifestEpisode> & { title: string }): ManifestEpisode {
  return {
    sequentialId: 1,
    podcastId: 'pod',
    fileKey: `2024-01-01_${over.title.replace(/\W+/g, '_')}`,
    originalAudioURL: `https://cdn.example.com/${encodeURIComponent(over.title)}.mp3`,
    publishedAt: '2024-01-01T10:00:00.000Z',
    downloadedAt: '2024-01-01T11:00:00.000Z',
    hasCompletedLLMAnnotations: false,
    llmAnnotations: {},
    ...over,
  };
}

test('enclosure URLs: tracker prefixes, query strings and schemes do not make a new URL', () => {
  const cases: [string, string][] = [
    ['https://dts.podtrac.com/redirect.mp3/www.giantbomb.com/podcasts/a.mp3', 'www.giantbomb.com/podcasts/a.mp3'],
    ['http://www.podtrac.com/pts/redirect.mp3/traffic.libsyn.com/jnite/lup-0232.mp3', 'traffic.libsyn.com/jnite/lup-0232.mp3'],
    ['http://www.podtrac.com/pts/redirect.mp3?http://www.taverncast.com/shows/taverncast-62.mp3', 'www.taverncast.com/shows/taverncast-62.mp3'],
    [
      'https://dts.podtrac.com/redirect.mp3/chrt.fm/track/9EE2G/pdst.fm/e/rss.art19.com/episodes/7684b7cb.mp3?rss_browser=BAhJ',
      'rss.art19.com/episodes/7684b7cb.mp3',
    ],
    ['https://chtbl.com/track/ABC123/traffic.megaphone.fm/GLT1.mp3?updated=1608164714', 'traffic.megaphone.fm/GLT1.mp3'],
    ['https://traffic.megaphone.fm/GLT1.mp3?updated=1607019082', 'traffic.megaphone.fm/GLT1.mp3'],
    ['https://op3.dev/e,pg=7a2d292c/mikeneumann.show/assets/static/ep54.mp3', 'mikeneumann.show/assets/static/ep54.mp3'],
    ['https://op3.dev/e/mikeneumann.show/assets/static/ep54.mp3', 'mikeneumann.show/assets/static/ep54.mp3'],
    ['https://media.blubrry.com/mookstudy1/mookstudy1.mookmookradio.com/wp/174.mp3', 'mookstudy1.mookmookradio.com/wp/174.mp3'],
    [
      'https://anchor.fm/s/2e56f6c/podcast/play/81936007/https%3A%2F%2Fd3ctxlq1ktw2nl.cloudfront.net%2Fstaging%2F2024-0-29%2Faca99f41.mp3',
      'd3ctxlq1ktw2nl.cloudfront.net/staging/2024-0-29/aca99f41.mp3',
    ],
    ['HTTPS://CDN.Example.COM:443/Path/A.mp3#t=10', 'cdn.example.com/Path/A.mp3'],
  ];
  for (const [raw, expected] of cases) assert.equal(normalizeEnclosureUrl(raw), expected, raw);
});

test('identity: unique GUID, else enclosure URL, else date + title; repeats counted once', () => {
  const { episodes, duplicates } = identifyEpisodes([
    episode({ title: 'A', guid: 'g-a' }),
    episode({ title: 'B', guid: 'dup', enclosureUrl: 'https://x.example/b.mp3' }),
    episode({ title: 'C', guid: 'dup', enclosureUrl: 'https://x.example/c.mp3?u=1' }),
    episode({ title: 'D', enclosureUrl: 'https://x.example/same.mp3' }),
    episode({ title: 'E', enclosureUrl: 'https://x.example/same.mp3?v=2' }),
    episode({ title: 'F', guid: 'g-f', enclosureUrl: 'https://x.example/f.mp3' }),
    episode({ title: 'F', guid: 'g-f', enclosureUrl: 'https://x.example/f.mp3' }),
  ]);
  assert.deepEqual(
    episodes.map((e) => `${e.title} ${e.identity.kind}:${e.identity.value}`),
    ['A guid:g-a', 'B url:x.example/b.mp3', 'C url:x.example/c.mp3', 'D date-title:2024-01-01|D', 'E date-title:2024-01-01|E', 'F date-title:2024-01-01|F'],
  );
  assert.equal(duplicates.length, 1);
});

test('merge: new episodes added with keys and guid; known ones (retitled, new tracker, legacy without guid) are not', () => {
  const manifest: Manifest = {
    lastUpdated: '2024-01-01T00:00:00.000Z',
    siteNote: 'kept',
    episodes: [
      // Legacy entries (no guid): matched by enclosure URL, or date + title.
      entry({ title: 'Legacy by URL', sequentialId: 1, originalAudioURL: 'https://cdn.example.com/legacy.mp3', customField: { keep: true } }),
      entry({ title: 'Legacy by date and title', sequentialId: 2, originalAudioURL: 'https://old-host.example/gone.mp3' }),
      // Entry this runner made: matched by guid even when retitled.
      entry({ title: 'Old title', sequentialId: 3, guid: 'guid-3' }),
      // Another podcast's episode with the same URL is not this podcast's.
      entry({ title: 'Other podcast', podcastId: 'other', sequentialId: 4, originalAudioURL: 'https://cdn.example.com/new.mp3' }),
    ],
  };
  const feed = identifyEpisodes([
    episode({ title: 'Legacy by URL (remastered title)', guid: 'guid-1', enclosureUrl: 'https://dts.podtrac.com/redirect.mp3/cdn.example.com/legacy.mp3?updated=5' }),
    episode({ title: 'Legacy by date and title', guid: 'guid-2', enclosureUrl: 'https://new-host.example/moved.mp3' }),
    episode({ title: 'New title', guid: 'guid-3', enclosureUrl: 'https://cdn.example.com/other.mp3' }),
    episode({ title: 'Brand new', guid: 'guid-4', publishedAt: new Date('2023-06-01T00:00:00Z'), enclosureUrl: 'https://cdn.example.com/new.mp3', durationInSeconds: 61 }),
    // A re-run: same title and date as "Brand new"? No: a different guid is a different episode.
    episode({ title: 'Old title', guid: 'guid-rerun', enclosureUrl: 'https://cdn.example.com/rerun.mp3' }),
  ]).episodes;
  const merged = mergeFeedEpisodes(manifest, 'pod', feed, AT);
  assert.equal(merged.known, 3);
  assert.deepEqual(merged.added.map((e) => e.title), ['Brand new', 'Old title']);
  const brandNew = merged.added[0]!;
  assert.equal(brandNew.fileKey, `2023-06-01_Brand_new--${AT}`);
  assert.equal(brandNew.guid, 'guid-4');
  assert.equal(brandNew.durationInSeconds, 61);
  assert.equal(brandNew.downloadedAt, new Date(AT).toISOString());
  assert.equal(merged.added[1]!.fileKey, `2024-01-01_Old_title--${AT}`);

  assert.equal(renumber(manifest), true);
  // Oldest first over the whole site; ties keep their earlier order.
  assert.deepEqual(
    manifest.episodes.map((e) => [e.sequentialId, e.title]),
    [
      [1, 'Brand new'],
      [2, 'Legacy by URL'],
      [3, 'Legacy by date and title'],
      [4, 'Old title'],
      [5, 'Other podcast'],
      [6, 'Old title'],
    ],
  );
  assert.equal(manifest.siteNote, 'kept');
  assert.deepEqual(manifest.episodes[1]!.customField, { keep: true });
  assert.equal(manifest.episodes[1]!.guid, undefined, 'existing entries are not rewritten');

  // Merging the same feed again adds nothing and changes no number.
  const again = mergeFeedEpisodes(manifest, 'pod', feed, AT + 1000);
  assert.equal(again.added.length, 0);
  assert.equal(renumber(manifest), false);
});

test('merge: same date and title twice in one run get distinct keys', () => {
  const manifest: Manifest = { lastUpdated: '', episodes: [] };
  const feed = identifyEpisodes([
    episode({ title: 'Nachrichten', guid: 'a', enclosureUrl: 'https://x.example/1.mp3' }),
    episode({ title: 'Nachrichten', guid: 'b', enclosureUrl: 'https://x.example/2.mp3' }),
  ]).episodes;
  const { added } = mergeFeedEpisodes(manifest, 'pod', feed, AT);
  assert.deepEqual(added.map((e) => e.fileKey), [`2024-01-01_Nachrichten--${AT}`, `2024-01-01_Nachrichten--${AT + 1}`]);
});

test('read: missing, valid (unknown fields kept through a write), invalid left untouched', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'episode-manifest/full-episode-manifest.json');
  assert.equal((await readManifest(file)).kind, 'missing');
  await mkdir(path.dirname(file), { recursive: true });
  const original = { lastUpdated: 'x', extra: [1, 2], episodes: [entry({ title: 'One', unknownThing: 'y' })] };
  await writeFile(file, JSON.stringify(original));
  const read = await readManifest(file);
  assert.equal(read.kind, 'ok');
  if (read.kind === 'ok') {
    const text = serializeManifest(read.manifest);
    assert.deepEqual(JSON.parse(text), original);
    assert.match(text, /^\{\n {2}"lastUpdated"/);
  }
  await writeFile(file, '{"episodes": [ {"title": 1} ]}');
  const bad = await readManifest(file);
  assert.equal(bad.kind, 'invalid');
  if (bad.kind === 'invalid') assert.match(bad.reason, /episodes\[0\]\.podcastId/);
  await writeFile(file, '{ truncated');
  const broken = await readManifest(file);
  assert.equal(broken.kind, 'invalid');
  assert.equal(await readFile(file, 'utf8'), '{ truncated');
  assert.ok((await stat(file)).size > 0);
});
