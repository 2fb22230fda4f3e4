// SRT reading on real files: counts and edge cases from corpus/srt/INDEX.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FIXTURES } from './helpers/fixtures.ts';
import { formatSrt, parseSrt, SrtError } from '../tasks/site/srt.ts';

const SRT_DIR = path.join(FIXTURES, 'srt');
const read = (name: string) => readFileSync(path.join(SRT_DIR, name));

test('every real SRT parses to the cue count and last end time of its INDEX.md row', () => {
  const expected: [string, number, number][] = [
    ['virtualcoffee-s2e9.srt', 1535, 4_567_520],
    ['virtualcoffee-s7e9.srt', 1080, 4_006_331],
    ['virtualcoffee-s1e0-trailer.srt', 54, 144_810],
    ['podcastindex-example.srt', 222, 754_769],
    ['pysrt-french-film-utf8.srt', 1332, 5_849_634],
    ['pysrt-french-film-cp1252-crlf.srt', 1332, 5_849_634],
    ['pysrt-capability-tester-bom-crlf.srt', 37, 68_500],
    ['pysrt-speech-bom-utf8.srt', 7, 50_000],
    ['pysrt-speech-bom-utf16le.srt', 7, 50_000],
    ['pysrt-speech-no-indexes.srt', 7, 50_000],
    ['pysrt-speech-empty-cues.srt', 7, 50_000],
    ['whisper-ct2-gossos-small.srt', 2, 32_000],
    ['whisper-ct2-gossos-line-max-words.srt', 14, 31_240],
    ['whisper-ct2-dosparlants-diarization.srt', 14, 34_000],
  ];
  for (const [name, count, lastEnd] of expected) {
    const cues = parseSrt(read(name), name);
    assert.equal(cues.length, count, name);
    assert.equal(cues.at(-1)!.endMs, lastEnd, name);
  }
});

test('encodings and defects: UTF-16 and cp1252 decode to the same text as UTF-8; empty cues stay empty', () => {
  const utf8 = parseSrt(read('pysrt-speech-bom-utf8.srt'));
  assert.deepEqual(parseSrt(read('pysrt-speech-bom-utf16le.srt')), utf8);
  assert.deepEqual(parseSrt(read('pysrt-french-film-cp1252-crlf.srt')), parseSrt(read('pysrt-french-film-utf8.srt')));
  const empty = parseSrt(read('pysrt-speech-empty-cues.srt'));
  assert.deepEqual(empty.map((c) => c.text === ''), [false, false, true, true, false, false, false]);
  assert.equal(utf8[0]!.text, 'About 2 months ago I found myself on\nthe comment section of YouTube');
});

test('an unreadable timing line is an error naming the file and line', () => {
  assert.throws(() => parseSrt(read('pysrt-invalid-timestamp.srt'), 'invalid.srt'), (e: unknown) => {
    return e instanceof SrtError && /invalid\.srt: line 2: unreadable timing "00:00:01 --> 00:00:10"/.test(e.message);
  });
});

test('format then parse is lossless to the millisecond, hours past 99 included', () => {
  const cues = [
    { startMs: 0, endMs: 1, text: 'a' },
    { startMs: 3_599_999, endMs: 3_600_000, text: 'line one\nline two' },
    { startMs: 360_000_123, endMs: 360_000_999, text: '' },
  ];
  assert.deepEqual(parseSrt(formatSrt(cues)), cues);
});
