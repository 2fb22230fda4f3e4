// ARCHITECTURE.md "File layout" file keys as a table, including titles from real non-Latin feeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { episodeFileKey, fileKeyTitle, FILE_KEY_PATTERN, isSafeFileKey } from '../tasks/site/file-key.ts';
import { parseFeed } from '../tasks/engines/feeds/parse.ts';
import { FIXTURES } from './helpers/fixtures.ts';

const AT = 1721921400000;
const PUBLISHED = new Date('2024-07-25T14:54:00Z');

test('file key title: the ARCHITECTURE.md table', () => {
  const cases: [string, string][] = [
    ['Simple Episode Title', 'Simple_Episode_Title'],
    ['Café & Crème!', 'Caf_Cr_me'],
    ['  --leading and trailing--  ', 'leading_and_trailing'],
    ['a///b\\\\c..d', 'a_b_c_d'],
    ['../../etc/passwd', 'etc_passwd'],
    ['', 'Untitled'],
    ['!!!', 'Untitled'],
    ['Ελληνοφρένεια', 'Untitled'],
    ['🎙764 3Dプリンタを使い始めた', '764_3D'],
    ['033: 🇺🇸 日本企業のプロダクトデザインを支援するJayさん', '033_Jay'],
    ['x'.repeat(80), 'x'.repeat(50)],
    // NFC first: a decomposed é is one character, so one underscore.
    ['Cafe\u0301 au lait', 'Caf_au_lait'],
  ];
  for (const [title, expected] of cases) assert.equal(fileKeyTitle(title), expected, JSON.stringify(title));
});

test('file key: date in UTC, 13-digit suffix, the ARCHITECTURE.md example', () => {
  assert.equal(episodeFileKey(PUBLISHED, 'Simple Episode Title', AT), '2024-07-25_Simple_Episode_Title--1721921400000');
  // 23:30 in New York on the 24th is the 25th in UTC.
  assert.equal(episodeFileKey(new Date('2024-07-24T23:30:00-04:00'), 'x', AT), '2024-07-25_x--1721921400000');
  assert.throws(() => episodeFileKey(PUBLISHED, 'x', 17219214000), /13-digit/);
  assert.throws(() => episodeFileKey(new Date('nope'), 'x', AT), /invalid publication date/);
  assert.ok(isSafeFileKey('2019-10-01_legacy-title-with-hyphens'));
  assert.ok(!isSafeFileKey('2019-10-01_../x--1721921400000'));
});

test('file keys of every Greek, Japanese and emoji title in the corpus are valid path segments', () => {
  const feeds = ['ellinofreneia-2018-03-28.xml', 'exportfm.xml', 'goryugo-cast.xml', 'rebuildfm.xml', 'mookstudy-nihon-no-rekishi.xml'];
  let checked = 0;
  for (const file of feeds) {
    const parsed = parseFeed(readFileSync(path.join(FIXTURES, 'feeds', file)));
    assert.ok(parsed.ok, file);
    for (const episode of parsed.feed.episodes) {
      const key = episodeFileKey(episode.publishedAt, episode.title, AT);
      assert.match(key, FILE_KEY_PATTERN, `${file}: ${episode.title} -> ${key}`);
      assert.ok(!key.includes('/') && !key.includes('..') && !key.includes(' '), key);
      checked++;
    }
  }
  assert.ok(checked > 1300, `checked ${checked} titles`);
});
