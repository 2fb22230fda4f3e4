// One error type for child processes (ffmpeg, whisper-cli) and one stderr-tail helper,
// each tool keeping its own filter: ffmpeg's diagnostics, whisper's output minus progress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcessError, stderrTail } from '../tasks/platform/process.ts';
import { ffmpegTail } from '../tasks/engines/transcription/audio.ts';
import { whisperTail } from '../tasks/engines/transcription/whisper-run.ts';

test('ffmpeg: only diagnostics, decoder addresses dropped, the input named by its file name, repeats once', () => {
  const input = '/tmp/podcast-ingest-whisper-x/audio/pod/2024-03-02_Html--1.mp3';
  const log = [
    `Input #0, mp3, from '${input}':`,
    '  Duration: 00:01:00.00, start: 0.000000, bitrate: 128 kb/s',
    '[mp3float @ 0x55d1c2a0] overread, skip -5 enddists: -3 -3',
    '[mp3float @ 0x55d1c2b0] overread, skip -5 enddists: -3 -3',
    '[silencedetect @ 0x1] silence_start: 1.5',
    `${input}: Invalid data found when processing input`,
    '',
  ].join('\n');
  assert.equal(ffmpegTail(log, input), '[mp3float] overread, skip -5 enddists: -3 -3 | 2024-03-02_Html--1.mp3: Invalid data found when processing input');
});

test('whisper-cli: every line but the progress callbacks, the last six', () => {
  const lines = Array.from({ length: 8 }, (_, i) => `whisper_init: line ${i}`);
  const log = [...lines.slice(0, 4), 'whisper_print_progress_callback: progress =  50%', ...lines.slice(4), '   '].join('\n');
  assert.equal(whisperTail(log), lines.slice(2).join(' | '));
});

test('stderrTail caps the characters', () => {
  assert.equal(stderrTail('a'.repeat(50) + '\n' + 'b'.repeat(50), { lines: 2, maxChars: 60 }), 'a'.repeat(50) + ' | ' + 'b'.repeat(7));
});

test('ProcessError: command, exit code or signal, the tail, the meaning; its code and class', () => {
  const exit = new ProcessError({ command: 'ffmpeg', meaning: 'ffmpeg cannot decode the audio (exit 1)', exitCode: 1, signal: null, stderrTail: 'x.mp3: Invalid data' });
  assert.equal(exit.message, 'ffmpeg cannot decode the audio (exit 1): x.mp3: Invalid data');
  assert.deepEqual([exit.name, exit.command, exit.exitCode, exit.signal, exit.code, exit.errorClass], ['ProcessError', 'ffmpeg', 1, undefined, 'exit 1', 'permanent']);

  const killed = new ProcessError({ command: 'whisper-cli', meaning: 'whisper-cli was stopped (SIGTERM) after its 80 s limit', exitCode: null, signal: 'SIGTERM', stderrTail: '' });
  assert.equal(killed.message, 'whisper-cli was stopped (SIGTERM) after its 80 s limit');
  assert.deepEqual([killed.code, killed.errorClass, killed.exitCode], ['SIGTERM', 'retryable', undefined]);

  const truncated = new ProcessError({ command: 'ffmpeg', meaning: 'audio is truncated or corrupt: ffmpeg decoded 29.9 s of the 60.0 s its header announces', exitCode: 0, code: 'truncated' });
  assert.deepEqual([truncated.code, truncated.errorClass], ['truncated', 'permanent']);
  const silent = new ProcessError({ command: 'whisper-cli', meaning: 'whisper-cli exited 0 but wrote no x.srt', exitCode: 0 });
  assert.deepEqual([silent.code, silent.errorClass], [undefined, 'permanent']);
});
