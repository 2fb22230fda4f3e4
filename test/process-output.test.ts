// Child-process output is bounded: a chatty process keeps only its tail in memory, and
// lines reach the parser whole, however the chunks were cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { $ } from 'zx';
import { forEachLine, tailStore } from '../tasks/engines/transcription/process-output.ts';

test('a process writing 8 MB keeps only the last 64 KB of each stream, and its very last line', async () => {
  const script = "for (let i = 0; i < 100000; i++) { process.stdout.write(`line ${i} ${'x'.repeat(70)}\\n`); process.stderr.write(`err ${i}\\n`); }";
  const out = await $({ quiet: true, store: tailStore(64 * 1024) })`${process.execPath} -e ${script}`;
  assert.ok(out.stdout.length <= 64 * 1024 + 65_536, `stdout kept ${out.stdout.length} bytes`);
  assert.ok(out.stdout.length > 1000);
  assert.match(out.stdout, /line 99999 x+\n$/);
  assert.doesNotMatch(out.stdout, /^line 0 /m);
  assert.match(out.stderr, /err 99999\n$/);
});

test('forEachLine hands over whole lines across chunk boundaries, CR and CRLF included', async () => {
  const stream = new PassThrough();
  const lines: string[] = [];
  forEachLine(stream, (line) => lines.push(line));
  for (const chunk of ['progre', 'ss = 10%\nprogress = 2', '0%\r\nsilence_start: 1.5\rlast']) stream.write(chunk);
  stream.end();
  await new Promise((resolve) => stream.on('end', resolve));
  assert.deepEqual(lines, ['progress = 10%', 'progress = 20%', 'silence_start: 1.5', 'last']);
});
