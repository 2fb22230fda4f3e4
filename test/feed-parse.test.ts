// Parsing real feeds (corpus/feeds) and refusing broken or hostile ones (corpus/bad).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { parseFeed } from '../tasks/engines/feeds/parse.ts';
import { parseDuration, parseFeedDate } from '../tasks/engines/feeds/dates.ts';
import { FIXTURES } from './helpers/fixtures.ts';

const CORPUS = FIXTURES;

/** `file -> { items, audio }` from the table at the top of feeds/INDEX.md. */
function indexCounts(): Map<string, { items: number; audio: number }> {
  const counts = new Map<string, { items: number; audio: number }>();
  for (const line of readFileSync(path.join(CORPUS, 'feeds/INDEX.md'), 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 7 || !/\.(xml|rss)$/.test(cells[1]!)) continue;
    counts.set(cells[1]!, { items: Number(cells[4]), audio: Number(cells[5]) });
  }
  return counts;
}

test('every feed in corpus/feeds parses, with as many episodes as INDEX.md counts audio items', () => {
  const counts = indexCounts();
  const files = readdirSync(path.join(CORPUS, 'feeds')).filter((f) => /\.(xml|rss)$/.test(f));
  assert.equal(counts.size, files.length, 'INDEX.md lists every feed');
  assert.ok(files.length >= 20);
  for (const file of files) {
    const parsed = parseFeed(readFileSync(path.join(CORPUS, 'feeds', file)));
    assert.ok(parsed.ok, `${file}: ${parsed.ok ? '' : parsed.reason}`);
    const expected = counts.get(file)!;
    assert.equal(parsed.feed.itemCount, expected.items, `${file}: items`);
    assert.equal(parsed.feed.episodes.length, expected.audio, `${file}: audio episodes`);
    for (const e of parsed.feed.episodes) {
      assert.ok(!Number.isNaN(e.publishedAt.getTime()), `${file}: ${e.title} has a date`);
      assert.match(e.enclosureUrl, /^https?:\/\//, `${file}: ${e.title}`);
    }
  }
});

test('real feeds: entities, CDATA, encodings and named zones come out right', () => {
  const read = (file: string) => {
    const parsed = parseFeed(readFileSync(path.join(CORPUS, 'feeds', file)));
    assert.ok(parsed.ok);
    return parsed.feed;
  };
  const giantbomb = read('giantbomb-bombcast.rss');
  assert.equal(giantbomb.episodes[0]!.publishedAt.toISOString(), '2019-10-01T22:30:00.000Z'); // 14:30 PST
  assert.ok(giantbomb.episodes.some((e) => e.title === "Giant Bombcast 595: It's Always the Cute Monks"));
  const ndr = read('ndr-info-2024-03-13.xml');
  assert.ok(ndr.episodes.some((e) => e.title === 'Selenskyj sieht "Vorwärtsbewegung" im Süden'));
  const radio = read('radiolemans.xml');
  assert.equal(radio.encoding, 'iso-8859-1');
  const taverncast = read('taverncast.rss');
  assert.equal(taverncast.episodes[0]!.publishedAt.toISOString(), '2015-11-07T17:00:00.000Z'); // no weekday, EST
  assert.equal(taverncast.episodes[0]!.durationInSeconds, 4190);
  const themn = read('themnshow.xml');
  assert.ok(!themn.episodes.some((e) => e.enclosureUrl === 'https://streams.musicpodcasting.net/stream'), 'liveItem is not an episode');
});

test('dates: RFC 822 variants, named zones, wrong weekdays, full month names, ISO 8601', () => {
  const cases: [string, string | undefined][] = [
    ['Tue, 01 Oct 2019 14:30:00 PST', '2019-10-01T22:30:00.000Z'],
    ['Sun, 12 August 2012 10:00:00 EST', '2012-08-12T15:00:00.000Z'],
    ['Wed, 23 Dec 2010 01:30:00 GMT', '2010-12-23T01:30:00.000Z'], // the 23rd was a Thursday
    ['07 Nov 2015 12:00:00 EST', '2015-11-07T17:00:00.000Z'],
    ['Tue, 2 Aug 2011 01:30:00 EDT', '2011-08-02T05:30:00.000Z'],
    ['Fri, 9 Oct 2020 11:43:00 +0200', '2020-10-09T09:43:00.000Z'],
    ['Thu, 17 Dec 2020 11:00:00 -0000', '2020-12-17T11:00:00.000Z'],
    ['Mon, 5 Jul 21 08:00 PDT', '2021-07-05T15:00:00.000Z'],
    ['Thursday, 17 Sept 2020 11:00:00 +05:30', '2020-09-17T05:30:00.000Z'],
    ['2024-03-13T23:03:00+01:00', '2024-03-13T22:03:00.000Z'],
    ['2024-03-13T23:03:00.250Z', '2024-03-13T23:03:00.250Z'],
    ['2024-03-13', '2024-03-13T00:00:00.000Z'],
    ['31 Feb 2020 10:00:00 GMT', undefined],
    ['Seg, 24 Set 2018 19:42:40 -0300', undefined], // Portuguese month names are not guessed
    ['Fri, 20 Jan 1961 17:00:00 GMT', '1961-01-20T17:00:00.000Z'],
    ['yesterday', undefined],
    ['', undefined],
  ];
  for (const [raw, expected] of cases) assert.equal(parseFeedDate(raw)?.toISOString(), expected, raw);
});

test('itunes:duration: seconds, MM:SS, HH:MM:SS', () => {
  const cases: [string, number | undefined][] = [
    ['3725', 3725],
    ['3725.6', 3726],
    ['62:05', 3725],
    ['1:02:05', 3725],
    ['01:02:05', 3725],
    ['0:59', 59],
    ['1:61', undefined],
    ['abc', undefined],
    ['', undefined],
  ];
  for (const [raw, expected] of cases) assert.equal(parseDuration(raw), expected, raw);
});

test('encodings: HTTP charset, declaration and BOM (ISO-8859-1, windows-1251, Shift_JIS)', () => {
  const rss = (title: string, decl = '') =>
    `${decl}<rss version="2.0"><channel><title>${title}</title><item><title>${title}</title><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate><enclosure url="http://x/a.mp3" type="audio/mpeg"/></item></channel></rss>`;
  const title = (bytes: Uint8Array, charset?: string) => {
    const parsed = parseFeed(bytes, { httpCharset: charset });
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
    return parsed.feed.episodes[0]!.title;
  };
  assert.equal(title(iconv.encode(rss('Últimas Notícias'), 'latin1'), 'ISO-8859-1'), 'Últimas Notícias');
  assert.equal(title(iconv.encode(rss('Новости', '<?xml version="1.0" encoding="windows-1251"?>'), 'win1251')), 'Новости');
  assert.equal(title(iconv.encode(rss('日本の歴史'), 'shift_jis'), 'Shift_JIS'), '日本の歴史');
  assert.equal(title(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(rss('Crème'))])), 'Crème');
  // A blanket utf-8 from the server does not override a feed's own (correct) declaration.
  assert.equal(title(iconv.encode(rss('Новости', '<?xml version="1.0" encoding="windows-1251"?>'), 'win1251'), 'utf-8'), 'Новости');

  // The real windows-1251 news feed decodes; its enclosures are images, so no episodes.
  const oren = parseFeed(readFileSync(path.join(CORPUS, 'bad/windows-1251-declared.xml')));
  assert.ok(oren.ok);
  assert.equal(oren.feed.itemCount, 10);
  assert.equal(oren.feed.episodes.length, 0);
  assert.match(oren.feed.title, /^Новости Оренбурга/);
  assert.match(oren.feed.warnings.join(), /none of the 10 items has an audio enclosure/);
  // The UOL feed has no declaration: as UTF-8 it is refused, with the server's charset it parses.
  const uol = readFileSync(path.join(CORPUS, 'bad/uol-latin1-bytes-no-encoding-decl.rss'));
  assert.ok(!parseFeed(uol).ok);
  assert.ok(parseFeed(uol, { httpCharset: 'iso-8859-1' }).ok);
});

test('Atom feeds with audio enclosure links', () => {
  const atom = `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>An Atom podcast</title>
<entry><id>urn:uuid:1</id><title>First</title><published>2024-01-02T03:04:05Z</published>
<link rel="alternate" href="http://example.com/1"/><link rel="enclosure" type="audio/mpeg" length="1234" href="http://example.com/1.mp3"/></entry>
<entry><id>urn:uuid:2</id><title>Video</title><updated>2024-01-03T00:00:00Z</updated><link rel="enclosure" type="video/mp4" href="http://example.com/2.mp4"/></entry>
<entry><id>urn:uuid:3</id><title>No date</title><link rel="enclosure" type="audio/mpeg" href="http://example.com/3.mp3"/></entry>
</feed>`;
  const parsed = parseFeed(Buffer.from(atom));
  assert.ok(parsed.ok);
  assert.equal(parsed.feed.format, 'atom');
  assert.equal(parsed.feed.episodes.length, 1);
  assert.deepEqual(
    { guid: parsed.feed.episodes[0]!.guid, url: parsed.feed.episodes[0]!.enclosureUrl, length: parsed.feed.episodes[0]!.enclosureLength },
    { guid: 'urn:uuid:1', url: 'http://example.com/1.mp3', length: 1234 },
  );
  assert.match(parsed.feed.warnings.join('\n'), /skipped "No date": no usable publication date/);
});
