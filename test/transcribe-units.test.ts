// The deciding code of transcription, as tables: where to cut, how chunk transcripts merge
// (exact offsets, seam deduplication), clamping and validation, spelling corrections, which
// audio to transcribe, model names, the ggml header, and checked model downloads.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parseSrt, formatSrt } from '../tasks/site/srt.ts';
import { planChunks, parseSilences, type Chunk } from '../tasks/engines/transcription/chunks.ts';
import { dropRepeatedWords, mergeChunkTranscripts, normalizeCues, validateCues } from '../tasks/engines/transcription/merge.ts';
import { applySpelling, loadSpellingRules } from '../tasks/engines/transcription/spelling.ts';
import { planTranscription } from '../tasks/engines/transcription/plan.ts';
import { splitFileKey } from '../tasks/site/manifest.ts';
import { ProgressTracker } from '../tasks/engines/transcription/progress.ts';
import { formatEta } from '../tasks/platform/format.ts';
import { ensureNamedModel, parseModelSpec } from '../tasks/engines/transcription/toolchain/whisper-models.ts';
import { TEST_SHAPE, writeRandomModel } from '../tasks/engines/transcription/toolchain/ggml-model.ts';
import { tempDir } from './helpers/temp.ts';

describe('planChunks', () => {
  test('short audio is one chunk', () => {
    assert.deepEqual(planChunks(70_000, [], { chunkMs: 60_000 }), [{ startMs: 0, endMs: 70_000, ownStartMs: 0, ownEndMs: 70_000, cut: 'end' }]);
  });

  test('cuts in the middle of the silence nearest each boundary', () => {
    const silences = [
      { startMs: 50_000, endMs: 51_000 }, // 9.5 s before the first boundary
      { startMs: 62_000, endMs: 63_000 }, // 2.5 s after it: nearest
      { startMs: 119_000, endMs: 121_000 },
    ];
    const chunks = planChunks(190_000, silences, { chunkMs: 60_000 });
    assert.deepEqual(
      chunks.map((c) => [c.startMs, c.endMs, c.cut]),
      [
        [0, 62_500, 'silence'],
        [62_500, 120_000, 'silence'],
        [120_000, 190_000, 'end'],
      ],
    );
    // Silence cuts: each chunk owns exactly its audio, the chunks tile the episode.
    for (const c of chunks) assert.deepEqual([c.ownStartMs, c.ownEndMs], [c.startMs, c.endMs]);
  });

  test('no silence near the boundary: hard cut with overlap on both sides', () => {
    const chunks = planChunks(130_000, [{ startMs: 10_000, endMs: 11_000 }], { chunkMs: 60_000, overlapMs: 2000 });
    assert.deepEqual(chunks[0], { startMs: 0, endMs: 62_000, ownStartMs: 0, ownEndMs: 60_000, cut: 'hard' });
    assert.deepEqual(chunks[1], { startMs: 58_000, endMs: 130_000, ownStartMs: 60_000, ownEndMs: 130_000, cut: 'end' });
    assert.equal(chunks.length, 2);
  });

  test('silencedetect output, including a silence that runs to the end', () => {
    const log = [
      '[silencedetect @ 0x1] silence_start: 1.5',
      '[silencedetect @ 0x1] silence_end: 3.25 | silence_duration: 1.75',
      'size=N/A time=00:00:10.00',
      '[silencedetect @ 0x1] silence_start: 9.004',
    ].join('\n');
    assert.deepEqual(parseSilences(log, 10_000), [
      { startMs: 1500, endMs: 3250 },
      { startMs: 9004, endMs: 10_000 },
    ]);
  });
});

describe('merging chunk transcripts', () => {
  const chunk = (startMs: number, endMs: number, cut: Chunk['cut'], own?: [number, number]): Chunk => ({
    startMs,
    endMs,
    ownStartMs: own?.[0] ?? startMs,
    ownEndMs: own?.[1] ?? endMs,
    cut,
  });

  test('offsets are added to the millisecond, from real SRT text', () => {
    const first = parseSrt('1\n00:00:00,000 --> 00:00:04,321\nHello there.\n\n2\n00:00:04,321 --> 00:01:02,499\nSecond.\n');
    const second = parseSrt('1\n00:00:00,001 --> 00:00:01,000\nThird.\n\n2\n00:00:59,999 --> 00:01:00,000\nFourth.\n');
    const merged = mergeChunkTranscripts([
      { chunk: chunk(0, 62_500, 'silence'), cues: first },
      { chunk: chunk(62_500, 200_000, 'end'), cues: second },
    ]);
    assert.equal(
      formatSrt(merged),
      [
        '1\n00:00:00,000 --> 00:00:04,321\nHello there.\n',
        '2\n00:00:04,321 --> 00:01:02,499\nSecond.\n',
        '3\n00:01:02,501 --> 00:01:03,500\nThird.\n',
        '4\n00:02:02,499 --> 00:02:02,500\nFourth.\n',
      ].join('\n'),
    );
  });

  test('a cue running past its chunk is cut at the chunk end', () => {
    const merged = mergeChunkTranscripts([{ chunk: chunk(0, 10_000, 'silence'), cues: [{ startMs: 9000, endMs: 30_000, text: 'x' }] }]);
    assert.deepEqual(merged, [{ startMs: 9000, endMs: 10_000, text: 'x' }]);
  });

  test('hard cut: each overlapped cue kept once, repeated words dropped', () => {
    const a = chunk(0, 62_000, 'hard', [0, 60_000]);
    const b = chunk(58_000, 100_000, 'end', [60_000, 100_000]);
    const merged = mergeChunkTranscripts([
      {
        chunk: a,
        cues: [
          { startMs: 50_000, endMs: 59_000, text: 'we went down to the river' },
          { startMs: 59_500, endMs: 62_000, text: 'and then' }, // starts before the seam: A owns it
          { startMs: 60_500, endMs: 62_000, text: 'the boat' }, // after the seam: B's
        ],
      },
      {
        chunk: b,
        cues: [
          { startMs: 0, endMs: 1000, text: 'to the river' }, // 58-59 s: already kept
          { startMs: 1500, endMs: 6000, text: 'and then the boat sank.' }, // 59.5-64 s: new audio
          { startMs: 7000, endMs: 9000, text: 'Everyone swam.' },
        ],
      },
    ]);
    assert.deepEqual(merged, [
      { startMs: 50_000, endMs: 59_000, text: 'we went down to the river' },
      { startMs: 59_500, endMs: 62_000, text: 'and then' },
      { startMs: 59_500, endMs: 64_000, text: 'the boat sank.' },
      { startMs: 65_000, endMs: 67_000, text: 'Everyone swam.' },
    ]);
    assert.equal(validateCues(merged, 100_000), undefined);
  });

  test('dropRepeatedWords ignores case and punctuation, keeps what is new', () => {
    assert.equal(dropRepeatedWords('So, ask not', 'Ask not what your country'), 'what your country');
    assert.equal(dropRepeatedWords('the end.', 'A new start'), 'A new start');
  });

  test('normalize clamps cues past the end, keeps starts increasing, drops empty text', () => {
    const cues = normalizeCues(
      [
        { startMs: 100, endMs: 900, text: ' a ' },
        { startMs: 50, endMs: 800, text: 'b' },
        { startMs: 1000, endMs: 1000, text: '  ' },
        { startMs: 10_500, endMs: 14_740, text: 'c' },
      ],
      11_000,
    );
    assert.deepEqual(cues, [
      { startMs: 100, endMs: 900, text: 'a' },
      { startMs: 100, endMs: 800, text: 'b' },
      { startMs: 10_500, endMs: 11_000, text: 'c' },
    ]);
    assert.equal(validateCues(cues, 11_000), undefined);
  });

  test('validation names the problem', () => {
    assert.match(validateCues([{ startMs: 0, endMs: 20_000, text: 'x' }], 11_000) ?? '', /ends at 20000 ms, past the audio's 11000 ms/);
    assert.match(validateCues([{ startMs: 5, endMs: 6, text: 'x' }, { startMs: 1, endMs: 2, text: 'y' }], 11_000) ?? '', /cue 2 starts at 1 ms, before cue 1/);
    assert.match(validateCues([{ startMs: 5, endMs: 4, text: 'x' }], 11_000) ?? '', /ends \(4 ms\) before it starts/);
  });
});

describe('spelling corrections', () => {
  test('whole words, case-insensitive, text only', async (t) => {
    const dir = await tempDir(t);
    await writeFile(
      path.join(dir, 'spelling-corrections.json'),
      JSON.stringify({ correctionsToApply: [{ correctedSpelling: 'Kevin Roose', misspellings: ['kevin ruse', 'Kevin Rose'] }, { correctedSpelling: 'NPR', misspellings: ['n.p.r.'] }] }),
    );
    const loaded = await loadSpellingRules(dir);
    assert.ok(loaded.ok);
    const { cues, replacements } = applySpelling(
      [
        { startMs: 0, endMs: 1, text: 'KEVIN RUSE and kevin rosemary, Kevin  Rose.' },
        { startMs: 1, endMs: 2, text: 'on n.p.r. today; no n.p.rx' },
      ],
      loaded.rules,
    );
    assert.deepEqual(cues.map((c) => c.text), ['Kevin Roose and kevin rosemary, Kevin Roose.', 'on NPR today; no n.p.rx']);
    assert.equal(replacements, 3);
  });

  test('no file: no rules; a malformed file: an error naming it', async (t) => {
    const dir = await tempDir(t);
    assert.deepEqual(await loadSpellingRules(dir), { ok: true, rules: [] });
    await writeFile(path.join(dir, 'spelling-corrections.json'), '{"correctionsToApply": [{"misspellings": "x"}]}');
    const bad = await loadSpellingRules(dir);
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.message : '', /spelling-corrections\.json: "correctionsToApply\.0\.correctedSpelling"/);
  });
});

describe('what to transcribe', () => {
  test('audio without SRT; an older download of an episode the manifest has a newer one of is skipped', async (t) => {
    const site = await tempDir(t);
    const audio = path.join(site, 'audio', 'pod');
    await mkdir(audio, { recursive: true });
    await mkdir(path.join(site, 'transcripts', 'pod'), { recursive: true });
    for (const key of ['2024-01-01_Ep--1700000000000', '2024-01-01_Ep--1700000009999', '2024-01-02_Done--1700000000000', '2023-05-05_legacy-title']) {
      await writeFile(path.join(audio, `${key}.mp3`), 'x');
    }
    await writeFile(path.join(audio, '.2024-01-03_X--1700000000000.mp3.123-ab.partial'), 'x');
    await writeFile(path.join(site, 'transcripts', 'pod', '2024-01-02_Done--1700000000000.srt'), '');
    await mkdir(path.join(site, 'episode-manifest'));
    await writeFile(
      path.join(site, 'episode-manifest', 'full-episode-manifest.json'),
      JSON.stringify({
        episodes: [
          { podcastId: 'pod', fileKey: '2024-01-01_Ep--1700000009999', publishedAt: '2024-01-01T00:00:00Z' },
          { podcastId: 'other', fileKey: '2023-05-05_legacy-title--1800000000000', publishedAt: '2023-05-05T00:00:00Z' },
        ],
      }),
    );
    const plan = await planTranscription(site);
    assert.deepEqual(plan.todo.map((i) => i.srtKey), ['transcripts/pod/2023-05-05_legacy-title.srt', 'transcripts/pod/2024-01-01_Ep--1700000009999.srt']);
    assert.deepEqual(plan.superseded, [{ audioKey: 'audio/pod/2024-01-01_Ep--1700000000000.mp3', newerFileKey: '2024-01-01_Ep--1700000009999' }]);
    assert.equal(plan.done, 1);
    assert.deepEqual(splitFileKey('2023-05-05_legacy-title'), { stem: '2023-05-05_legacy-title' });
  });
});

describe('progress', () => {
  test('percent of audio seconds and time left', () => {
    let now = 0;
    const shown: string[] = [];
    const p = new ProgressTracker([60_000, 180_000], (s) => shown.push(s), () => now);
    p.start(0);
    now = 10_000;
    p.update(0, 60_000, 60_000);
    p.finish(0);
    assert.equal(shown.at(-1), 'transcribing 2/2 · 25% of 4m00s audio · about 30s left');
    p.stop();
    assert.equal(formatEta(3_723_000), '1h02m');
  });
});

describe('models', () => {
  test('WHISPER_MODEL: names, paths, random, unknown', () => {
    const named = parseModelSpec('base.en');
    assert.equal(named.kind, 'named');
    assert.equal(named.kind === 'named' && named.url, 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin');
    assert.equal(parseModelSpec('./models/ggml-x.bin').kind, 'path');
    assert.equal(parseModelSpec('random').kind, 'random');
    assert.equal(parseModelSpec(undefined).kind, 'none');
    const unknown = parseModelSpec('huge');
    assert.match(unknown.kind === 'invalid' ? unknown.message : '', /neither a model file path nor a known model name \(tiny, tiny.en/);
  });

  test('the generated model has the ggml header whisper.cpp reads', async (t) => {
    const file = path.join(await tempDir(t), 'm.bin');
    await writeRandomModel(file, TEST_SHAPE);
    const handle = await open(file, 'r');
    const { buffer } = await handle.read(Buffer.alloc(48), 0, 48, 0);
    await handle.close();
    const ints = Array.from({ length: 12 }, (_, i) => buffer.readInt32LE(i * 4));
    assert.deepEqual(ints, [0x67676d6c, 51864, 1500, 64, 2, 1, 448, 64, 2, 1, 80, 1]);
    assert.deepEqual(await readdir(path.dirname(file)), ['m.bin'], 'no temporary file left beside it');
  });

  test('download: SHA-1 checked, a mismatch and an unreachable host fail clearly, nothing left behind', async (t) => {
    const dir = await tempDir(t);
    const body = Buffer.from('pretend ggml model bytes');
    const server = http.createServer((req, res) => {
      if (req.url === '/ggml-good.bin' || req.url === '/ggml-bad.bin') res.end(body);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sha1 = createHash('sha1').update(body).digest('hex');

    // What a set-up killed mid-download leaves behind; the next download removes it.
    await writeFile(path.join(dir, '.ggml-good.bin.999999-abcd1234.partial'), 'half a model');
    const good = await ensureNamedModel({ kind: 'named', name: 'good', path: path.join(dir, 'ggml-good.bin'), sha1, url: `${base}/ggml-good.bin` });
    assert.deepEqual(good, { ok: true, path: path.join(dir, 'ggml-good.bin'), downloaded: true });
    assert.deepEqual(await readFile(path.join(dir, 'ggml-good.bin')), body);

    const bad = await ensureNamedModel({ kind: 'named', name: 'bad', path: path.join(dir, 'ggml-bad.bin'), sha1: '0'.repeat(40), url: `${base}/ggml-bad.bin` });
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.message : '', new RegExp(`model bad from .* has SHA-1 ${sha1}, expected 0{40}.*download .* by hand`));
    assert.equal(existsSync(path.join(dir, 'ggml-bad.bin')), false);

    // A port nobody listens on stands in for "no network" (as on the machines this was built on).
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const offline = await ensureNamedModel({ kind: 'named', name: 'x', path: path.join(dir, 'ggml-x.bin'), sha1, url: `http://127.0.0.1:${closedPort}/ggml-x.bin` });
    assert.match(!offline.ok ? offline.message : '', /cannot download model x from http:\/\/127\.0\.0\.1:\d+\/ggml-x\.bin: fetch failed \(.*ECONNREFUSED.*\); download .* by hand/);
    assert.deepEqual((await import('node:fs/promises').then((fs) => fs.readdir(dir))).sort(), ['ggml-good.bin']);
  });
});

describe('threads per whisper job', () => {
  test('cores shared among fewer episodes, one thread each when enough are queued, WHISPER_THREADS wins', async () => {
    const { threadsPerJob } = await import('../tasks/steps/transcribe.ts');
    const cores = Math.min(2, (await import('node:os')).default.availableParallelism());
    assert.equal(threadsPerJob(2, 1), cores);
    assert.equal(threadsPerJob(2, 2), 1);
    assert.equal(threadsPerJob(2, 40), 1);
    process.env.WHISPER_THREADS = '2';
    try {
      assert.equal(threadsPerJob(2, 40), cores);
      assert.equal(threadsPerJob(1, 40), 1); // never more than the limiter's capacity
    } finally {
      delete process.env.WHISPER_THREADS;
    }
  });
});
