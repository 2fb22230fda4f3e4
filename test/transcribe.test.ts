// The transcribe step end to end: the real CLI (`run --only=transcribe` on a local site
// folder, no bucket needed), real ffmpeg and the real whisper-cli built by set-up, with a
// random-weight model (no trained model can be downloaded here, so the text is gibberish but
// every SRT must still be valid). Chunking is exercised with a short WHISPER_CHUNK_SECONDS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { parseSrt } from '../tasks/site/srt.ts';
import { validateCues } from '../tasks/engines/transcription/merge.ts';
import type { RunSummary } from '../tasks/platform/types.ts';
import { processGroupMembers, runCli, startCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { addAudio, CORPUS_AUDIO, filesUnder, localSite, makeNoiseAudio, makeToneAudio, testModel, testWhisperCli, workDirsIn, type LocalSite } from './helpers/whisper.ts';

let model: string;
before(async () => {
  testWhisperCli(); // fails the file with "run npm run setup" when the binary is missing
  model = await testModel();
});

function durationMs(file: string): number {
  return Math.round(Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]).toString()) * 1000);
}

interface Run {
  code: number | null;
  output: string;
  summary: RunSummary;
}

async function runTranscribe(site: LocalSite, tmp: string, extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<Run> {
  const summaryFile = path.join(tmp, `summary-${Date.now()}.json`);
  const result = await runCli(
    ['run', '--only=transcribe', `--sites-root=${site.sitesRoot}`, `--local-root=${site.localRoot}`, '--renderer=plain', `--summary-json=${summaryFile}`, ...args],
    { env: { WHISPER_MODEL: model, WHISPER_CHUNK_SECONDS: '60', TMPDIR: tmp, ...extraEnv }, timeoutMs: 300_000 },
  );
  const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as RunSummary;
  return { code: result.code, output: result.stdout + result.stderr, summary };
}

const transcribeRecord = (summary: RunSummary) => summary.sites[0]!.steps.find((s) => s.step === 'transcribe')!;

describe('transcribe step (real ffmpeg and whisper-cli)', () => {
  test('corpus clips and long synthetic audio: valid SRTs, exact offsets, a truncated or non-audio file fails alone, a rerun transcribes nothing', async (t) => {
    const root = await tempDir(t);
    const tmp = path.join(root, 'tmp');
    await mkdir(tmp);
    const site = await localSite(root);
    await writeFile(path.join(site.configDir, 'spelling-corrections.json'), JSON.stringify({ correctionsToApply: [{ correctedSpelling: 'Fixed', misspellings: ['ba'] }] }));
    const keys: Record<string, string> = {
      '2024-01-01_Jfk--1700000000001': path.join(CORPUS_AUDIO, 'jfk.mp3'),
      '2024-01-02_Jfk_Wav--1700000000002': path.join(CORPUS_AUDIO, 'jfk.wav'), // named .mp3 whatever the codec (ARCHITECTURE.md "File layout")
      '2024-01-03_Multilingual--1700000000003': path.join(CORPUS_AUDIO, 'multilingual.mp3'),
      '2024-01-04_Gossos--1700000000004': path.join(CORPUS_AUDIO, 'gossos.mp3'),
      '2024-01-05_Stereo--1700000000005': path.join(CORPUS_AUDIO, 'stereo_diarization.wav'),
    };
    const tones = path.join(root, 'tones.mp3');
    makeToneAudio(tones, 215); // silences every 25 s: silence cuts
    keys['2024-02-01_Tones--1700000000006'] = tones;
    const noise = path.join(root, 'noise.mp3');
    makeNoiseAudio(noise, 130); // no silence at all: hard cuts with overlap
    keys['2024-02-02_Noise--1700000000007'] = noise;
    for (const [key, source] of Object.entries(keys)) await addAudio(site, 'pod', key, source);
    const truncated = path.join(site.siteDir, 'audio', 'pod', '2024-03-01_Cut--1700000000008.mp3');
    await writeFile(truncated, (await readFile(path.join(CORPUS_AUDIO, 'multilingual.mp3'))).subarray(0, 120_000));
    // Not audio at all (an HTML error page saved as an episode).
    const garbage = path.join(site.siteDir, 'audio', 'pod', '2024-03-02_Html--1700000000009.mp3');
    await writeFile(garbage, '<html><body>503 Service Unavailable</body></html>\n'.repeat(200));

    const first = await runTranscribe(site, tmp, { WHISPER_THREADS: '1' }, ['--verbose']);
    assert.equal(first.code, 1, first.output);
    const record = transcribeRecord(first.summary);
    assert.equal(record.status, 'failed');
    assert.equal(record.counts.transcriptsMade, 7, first.output);
    const bySubject = new Map(record.errors.map((e) => [e.subject, e]));
    assert.equal(record.errors.length, 2, JSON.stringify(record.errors));
    assert.match(bySubject.get('audio/pod/2024-03-01_Cut--1700000000008.mp3')!.message, /audio is truncated or corrupt: ffmpeg decoded 29\.9 s of the 60\.0 s its header announces/);
    assert.match(bySubject.get('audio/pod/2024-03-02_Html--1700000000009.mp3')!.message, /^ffmpeg cannot decode the audio \(exit \d+\): .*(Invalid|Failed)/);
    assert.match(first.output, /Tones--1700000000006\.srt: \d+ cues from 215\.0 s of audio in 4 chunk\(s\)/);
    assert.match(first.output, /Noise--1700000000007\.srt: \d+ cues from 130\.0 s of audio in 2 chunk\(s\)/);
    assert.match(first.output, /RANDOM-WEIGHT model/);

    for (const [key, source] of Object.entries(keys)) {
      const srt = await readFile(path.join(site.siteDir, 'transcripts', 'pod', `${key}.srt`));
      const cues = parseSrt(srt, key);
      assert.equal(validateCues(cues, durationMs(source), 100), undefined, `${key}: ${srt.toString()}`);
      assert.ok(!/\bba\b/i.test(srt.toString()), `${key}: spelling correction not applied`);
    }
    // Nothing temporary left: no work folder, no partial SRT, no SRT for the broken file.
    assert.deepEqual(await workDirsIn(site), []);
    assert.deepEqual((await filesUnder(path.join(site.siteDir, 'transcripts'))).filter((f) => f.includes('.partial') || f.includes('Cut') || f.includes('Html')), []);

    // Offsets, checked independently: cut the tone file where the runner did (its --verbose
    // line), with ffmpeg's sample-exact atrim, run whisper-cli on each piece, shift by the
    // piece's start: the runner's transcript must be exactly that.
    const chunkLine = /Tones--1700000000006\.mp3: (\d+) ms, chunks (.*)$/m.exec(first.output);
    assert.ok(chunkLine, first.output);
    const pieces = chunkLine[2]!.split(' ').map((p) => p.split('/')[0]!.split('-').map(Number) as [number, number]);
    assert.equal(pieces.length, 4);
    assert.ok(pieces.every(([s, e], i) => i === 0 || (s === pieces[i - 1]![1] && e > s)), chunkLine[2]);
    const expected: { startMs: number; endMs: number; text: string }[] = [];
    for (const [i, [startMs, endMs]] of pieces.entries()) {
      const wav = path.join(root, `piece-${i}.wav`);
      execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', tones, '-af', `aresample=16000,atrim=start_sample=${startMs * 16}:end_sample=${endMs * 16}`, '-ac', '1', '-c:a', 'pcm_s16le', '-y', wav]);
      execFileSync(testWhisperCli(), ['-m', model, '-f', wav, '-t', '1', '-mc', '0', '-osrt', '-of', path.join(root, `piece-${i}`), '--prompt', 'Speeches and talks.', '-nf'], {
        env: { ...process.env, OMP_WAIT_POLICY: 'passive' },
        stdio: 'ignore',
      });
      for (const cue of parseSrt(await readFile(path.join(root, `piece-${i}.srt`)))) {
        if (cue.text.trim() === '') continue;
        const start = Math.max(Math.min(cue.startMs + startMs, endMs), expected.at(-1)?.startMs ?? 0);
        expected.push({ startMs: start, endMs: Math.min(Math.max(cue.endMs + startMs, start), endMs), text: cue.text.trim().replace(/\bba\b/gi, 'Fixed') });
      }
    }
    const tonesSrt = parseSrt(await readFile(path.join(site.siteDir, 'transcripts', 'pod', '2024-02-01_Tones--1700000000006.srt')));
    assert.deepEqual(tonesSrt, expected);

    // Rerun without the broken file: nothing to do, nothing rewritten.
    await rm(truncated);
    await rm(garbage);
    const srtFile = path.join(site.siteDir, 'transcripts', 'pod', '2024-01-01_Jfk--1700000000001.srt');
    const before = (await stat(srtFile)).mtimeMs;
    const second = await runTranscribe(site, tmp);
    assert.equal(second.code, 0, second.output);
    assert.equal(transcribeRecord(second.summary).status, 'up-to-date');
    assert.match(transcribeRecord(second.summary).message, /every audio file has a transcript \(7\)/);
    assert.equal((await stat(srtFile)).mtimeMs, before);
  });

  test('SIGTERM mid-transcription: exit 130, no SRT, no temporary folder, no child process left', async (t) => {
    const root = await tempDir(t);
    const tmp = path.join(root, 'tmp');
    await mkdir(tmp);
    const site = await localSite(root);
    const noise = path.join(root, 'long.mp3');
    makeNoiseAudio(noise, 600);
    await addAudio(site, 'pod', '2024-01-01_Long--1700000000000', noise);

    const cli = startCli(['run', '--only=transcribe', `--sites-root=${site.sitesRoot}`, `--local-root=${site.localRoot}`, '--renderer=plain'], {
      env: { WHISPER_MODEL: model, WHISPER_CHUNK_SECONDS: '120', TMPDIR: tmp },
      timeoutMs: 120_000,
    });
    const pgid = cli.child.pid!;
    // Wait until whisper-cli itself runs in the CLI's process group.
    const deadline = Date.now() + 60_000;
    let whisperPid: number | undefined;
    while (!whisperPid && Date.now() < deadline) {
      for (const pid of await processGroupMembers(pgid)) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('whisper-cli')) whisperPid = pid;
        } catch {
          // exited meanwhile
        }
      }
      if (!whisperPid) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(whisperPid, `whisper-cli never started:\n${cli.output()}`);
    assert.equal((await workDirsIn(site)).length, 1, 'expected a work folder while running');
    cli.child.kill('SIGTERM');
    const result = await cli.result;
    assert.equal(result.code, 130, cli.output());
    assert.match(cli.output(), /received SIGTERM/);
    assert.deepEqual(await processGroupMembers(pgid), []);
    assert.deepEqual(await workDirsIn(site), []);
    assert.deepEqual(await filesUnder(path.join(site.siteDir, 'transcripts')), []);
  });

  test('dry run plans without transcribing; a missing model fails the step clearly', async (t) => {
    const root = await tempDir(t);
    const tmp = path.join(root, 'tmp');
    await mkdir(tmp);
    const site = await localSite(root);
    await addAudio(site, 'pod', '2024-01-01_Jfk--1700000000000', path.join(CORPUS_AUDIO, 'jfk.mp3'));

    const dry = await runTranscribe(site, tmp, {}, ['--dry-run']);
    assert.equal(dry.code, 0, dry.output);
    assert.match(dry.output, /would transcribe transcripts\/pod\/2024-01-01_Jfk--1700000000000\.srt/);
    assert.deepEqual(await filesUnder(path.join(site.siteDir, 'transcripts')), []);

    const missing = await runTranscribe(site, tmp, { WHISPER_MODEL: path.join(root, 'ggml-nothing.bin') });
    assert.equal(missing.code, 1);
    const record = transcribeRecord(missing.summary);
    assert.equal(record.status, 'failed');
    assert.match(record.message, /cannot transcribe 1 episodes: model file not found: WHISPER_MODEL=.*ggml-nothing\.bin/);

    const noCli = await runTranscribe(site, tmp, { WHISPER_CLI: path.join(root, 'no-whisper-cli') });
    assert.match(transcribeRecord(noCli.summary).message, /whisper-cli not found at WHISPER_CLI=/);
  });

  // Text can only be checked with a trained model, which cannot be downloaded here.
  test('jfk.wav against its reference text (set WHISPER_REAL_MODEL to a ggml model)', { skip: !process.env.WHISPER_REAL_MODEL }, async (t) => {
    const root = await tempDir(t);
    const tmp = path.join(root, 'tmp');
    await mkdir(tmp);
    const site = await localSite(root);
    await addAudio(site, 'pod', '2024-01-01_Jfk--1700000000000', path.join(CORPUS_AUDIO, 'jfk.wav'));
    const run = await runTranscribe(site, tmp, { WHISPER_MODEL: process.env.WHISPER_REAL_MODEL });
    assert.equal(run.code, 0, run.output);
    const words = (text: string) => text.toLowerCase().replace(/[^a-z' ]+/g, ' ').split(/\s+/).filter(Boolean);
    const srt = await readFile(path.join(site.siteDir, 'transcripts', 'pod', '2024-01-01_Jfk--1700000000000.srt'));
    const heard = words(parseSrt(srt).map((c) => c.text).join(' '));
    const reference = words(await readFile(path.join(CORPUS_AUDIO, 'jfk.ref.txt'), 'utf8'));
    assert.deepEqual(heard, reference);
  });
});
