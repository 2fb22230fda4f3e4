// SRT -> search entries (ARCHITECTURE.md "File layout"): the chunking rule as a table, then every real SRT file
// in the corpus (BOM, UTF-16, cp1252, CRLF, no indexes, empty cues, hour-long episodes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cuesToSearchEntries, srtToSearchEntries, MAX_CHUNK_MS, SENTENCE_CHUNK_MS, type SearchEntry } from '../tasks/engines/indexer/search-entries.ts';
import { parseSrt, SrtError, type Cue } from '../tasks/site/srt.ts';
import { FIXTURES } from './helpers/fixtures.ts';

const CORPUS = path.join(FIXTURES, 'srt');
const EPISODE = { sequentialId: 7, publishedAtMs: Date.parse('2024-07-25T14:54:00.000Z') };

const cue = (startMs: number, endMs: number, text: string): Cue => ({ startMs, endMs, text });
/** [startMs, endMs, text] of each entry: the part the table states. */
const shape = (entries: SearchEntry[]) => entries.map((e) => [e.startTimeMs, e.endTimeMs, e.text]);

const TABLE: { name: string; cues: Cue[]; want: [number, number, string][] }[] = [
  { name: 'no cues: no entries', cues: [], want: [] },
  { name: 'one short cue is closed as the last one', cues: [cue(0, 1000, 'Hi')], want: [[0, 1000, 'Hi']] },
  {
    name: 'a sentence end before 7 s does not close the chunk',
    cues: [cue(0, 3000, 'One.'), cue(3000, 6999, 'Two.'), cue(6999, 8000, 'three')],
    want: [[0, 8000, 'One. Two. three']],
  },
  {
    name: 'at 7 s exactly a sentence end closes it (., ! and ?)',
    cues: [cue(0, 7000, 'Long enough.'), cue(7000, 14_000, 'Really!'), cue(14_000, 21_000, 'Is it?'), cue(21_000, 22_000, 'end')],
    want: [
      [0, 7000, 'Long enough.'],
      [7000, 14_000, 'Really!'],
      [14_000, 21_000, 'Is it?'],
      [21_000, 22_000, 'end'],
    ],
  },
  {
    name: 'without a sentence end the chunk runs to 15 s',
    cues: [cue(0, 5000, 'a'), cue(5000, 10_000, 'b,'), cue(10_000, 14_999, 'c'), cue(14_999, 15_000, 'd'), cue(15_000, 16_000, 'e')],
    want: [
      [0, 15_000, 'a b, c d'],
      [15_000, 16_000, 'e'],
    ],
  },
  {
    name: 'a long single cue is a chunk by itself',
    cues: [cue(0, 40_000, 'monologue'), cue(40_000, 41_000, 'next')],
    want: [
      [0, 40_000, 'monologue'],
      [40_000, 41_000, 'next'],
    ],
  },
  {
    name: 'empty cues are dropped and never start or end a chunk',
    cues: [cue(0, 1000, ''), cue(1000, 2000, 'x'), cue(2000, 9000, '  \n '), cue(9000, 9500, 'y.'), cue(9500, 30_000, '')],
    want: [[1000, 9500, 'x y.']],
  },
  {
    name: 'multi-line cue text is joined by single spaces',
    cues: [cue(0, 2000, 'first line\n  second   line ')],
    want: [[0, 2000, 'first line second line']],
  },
  {
    name: 'a quote or ellipsis after the stop is not a sentence end by the rule',
    cues: [cue(0, 8000, 'He said "go."'), cue(8000, 9000, 'Then...')],
    want: [[0, 9000, 'He said "go." Then...']],
  },
  {
    name: 'fractional times are rounded to ms',
    cues: [cue(0.4, 7000.6, 'Rounded.'), cue(7000.6, 7100.2, 'ok')],
    want: [
      [0, 7001, 'Rounded.'],
      [7001, 7100, 'ok'],
    ],
  },
];

for (const row of TABLE) {
  test(`chunking: ${row.name}`, () => {
    assert.deepEqual(shape(cuesToSearchEntries(row.cues, EPISODE)), row.want);
  });
}

test('entry fields: id is "<sequentialId>_<startMs>", the episode id as a string, publication in epoch ms', () => {
  const [entry] = srtToSearchEntries('1\n00:01:02,345 --> 00:01:04,000\nHello there.\n', EPISODE);
  assert.deepEqual(entry, {
    id: '7_62345',
    text: 'Hello there.',
    sequentialEpisodeIdAsString: '7',
    startTimeMs: 62_345,
    endTimeMs: 64_000,
    episodePublishedUnixTimestamp: 1_721_919_240_000,
  });
});

/** The invariants every converted file must satisfy, whatever its content. */
function assertWellFormed(file: string, cues: Cue[], entries: SearchEntry[]): void {
  const spoken = cues.filter((c) => c.text.trim() !== '');
  assert.ok(entries.length > 0, `${file}: no entries`);
  assert.equal(entries[0]!.startTimeMs, spoken[0]!.startMs, `${file}: first entry starts at the first non-empty cue`);
  assert.equal(entries.at(-1)!.endTimeMs, spoken.at(-1)!.endMs, `${file}: last entry ends at the last non-empty cue`);
  const words = (s: string) => s.split(/\s+/).filter(Boolean);
  assert.deepEqual(
    words(entries.map((e) => e.text).join(' ')),
    words(spoken.map((c) => c.text).join(' ')),
    `${file}: every word of every cue appears once, in order`,
  );
  const ids = new Set(entries.map((e) => e.id));
  assert.equal(ids.size, entries.length, `${file}: ids are unique`);
  entries.forEach((e, i) => {
    assert.match(e.id, /^7_\d+$/);
    assert.equal(e.id, `7_${e.startTimeMs}`);
    assert.ok(e.text.length > 0 && e.text === e.text.trim() && !/\s{2}|\n/.test(e.text), `${file}: entry ${i} text is clean`);
    assert.equal(e.episodePublishedUnixTimestamp, EPISODE.publishedAtMs);
    if (i < entries.length - 1) {
      const lasted = e.endTimeMs - e.startTimeMs;
      const closedBySentence = lasted >= SENTENCE_CHUNK_MS && /[.!?]$/.test(e.text);
      assert.ok(lasted >= MAX_CHUNK_MS || closedBySentence, `${file}: entry ${i} closed early (${lasted} ms: "${e.text.slice(-30)}")`);
      assert.ok(entries[i + 1]!.startTimeMs >= e.startTimeMs, `${file}: entries in order`);
    }
  });
}

const corpusFiles = readdirSync(CORPUS).filter((f) => f.endsWith('.srt')).sort();

test('corpus: the folder holds the expected SRT files', () => {
  assert.ok(corpusFiles.length >= 15, `found ${corpusFiles.length} files in ${CORPUS}`);
});

for (const file of corpusFiles) {
  test(`corpus: ${file}`, () => {
    const bytes = readFileSync(path.join(CORPUS, file));
    if (file === 'pysrt-invalid-timestamp.srt') {
      assert.throws(() => srtToSearchEntries(bytes, EPISODE, file), (e: unknown) => e instanceof SrtError && e.message.includes(file) && /line 2/.test(e.message));
      return;
    }
    const entries = srtToSearchEntries(bytes, EPISODE, file);
    assertWellFormed(file, parseSrt(bytes, file), entries);
  });
}

const read = (file: string) => srtToSearchEntries(readFileSync(path.join(CORPUS, file)), EPISODE, file);

test('corpus: the same speech gives the same entries with a UTF-8 BOM, UTF-16LE and without index lines', () => {
  const reference = read('pysrt-speech-bom-utf8.srt');
  assert.equal(reference.length, 3);
  assert.deepEqual(read('pysrt-speech-bom-utf16le.srt'), reference);
  assert.deepEqual(read('pysrt-speech-no-indexes.srt'), reference);
  assert.doesNotMatch(reference[0]!.text, /\uFEFF/);
});

test('corpus: empty cues leave no empty entries and no blank text', () => {
  const entries = read('pysrt-speech-empty-cues.srt');
  assert.equal(entries.length, 2);
  for (const e of entries) assert.ok(e.text.trim().length > 0);
});

test('corpus: Windows-1252 with CRLF gives the same entries as the UTF-8 copy (accents intact)', () => {
  const utf8 = read('pysrt-french-film-utf8.srt');
  assert.deepEqual(read('pysrt-french-film-cp1252-crlf.srt'), utf8);
  assert.match(utf8[0]!.text, /ÉVÉNEMENTS/);
  assert.ok(!utf8.some((e) => e.text.includes('\r')));
});

test('corpus: hour-long episodes keep hour offsets and end at the last cue', () => {
  const entries = read('virtualcoffee-s2e9.srt');
  const last = entries.at(-1)!;
  assert.equal(last.endTimeMs, 4_567_520); // 01:16:07,520
  assert.ok(entries.filter((e) => e.startTimeMs >= 3_600_000).length > 50);
  assert.match(last.text, /see you next week\.$/);
});
