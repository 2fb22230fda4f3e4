// Transcription benchmark (not a test). Two questions, each answered on this machine:
//  1. Overhead: the runner's transcribe step (CLI, ffmpeg decode, chunking, merge, atomic write)
//     against bare `whisper-cli` on the same 10-minute file, same model, same threads.
//     Target: runner / bare <= 1.10.
//  2. The split of the CPU limiter: several queued files, run as (jobs x threads) = (1 x cores)
//     vs (cores x 1) ... : which gives the most audio seconds per wall second.
// Audio: real speech (corpus jfk.wav) looped with ffmpeg. Model: random weights with the real
// tiny model's shape (--model=tiny, the default: same compute as tiny) or the small test shape.
//
//   npx tsx bench/transcribe.ts [--model=tiny|test] [--minutes=10] [--files=4] [--file-seconds=90] [--skip-overhead] [--with-spinning]
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TEST_SHAPE, TINY_SHAPE } from '../tasks/engines/transcription/toolchain/ggml-model.ts';
import { ensureRandomModel } from '../tasks/engines/transcription/toolchain/whisper-models.ts';
import { cachedWhisperCli } from '../tasks/engines/transcription/toolchain/whisper-build.ts';
import { whisperEnv } from '../tasks/engines/transcription/whisper-run.ts';
import { PROJECT_ROOT } from '../test/helpers/cli.ts';
import { addAudio, CORPUS_AUDIO, localSite } from '../test/helpers/whisper.ts';

const SPEECH = path.join(CORPUS_AUDIO, 'jfk.wav');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'tiny' },
    minutes: { type: 'string', default: '10' },
    files: { type: 'string', default: '4' },
    'file-seconds': { type: 'string', default: '90' },
    'skip-overhead': { type: 'boolean', default: false },
    /** Also time bare whisper-cli with OpenMP's default spinning wait (very slow on a loaded machine). */
    'with-spinning': { type: 'boolean', default: false },
  },
});
const shape = values.model === 'test' ? TEST_SHAPE : TINY_SHAPE;
const cores = os.availableParallelism();

function loopedSpeech(file: string, seconds: number): void {
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-stream_loop', '-1', '-i', SPEECH, '-t', String(seconds), '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', '-y', file]);
}

/** Run a command, return wall seconds; output discarded (only the exit code matters). */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${command} exited ${code}: ${stderr}`));
      else resolve(Number(process.hrtime.bigint() - started) / 1e9);
    });
  });
}

async function runnerSeconds(root: string, audio: { key: string; file: string }[], env: NodeJS.ProcessEnv): Promise<number> {
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const site = await localSite(root, 'bench');
  for (const a of audio) await addAudio(site, 'pod', a.key, a.file);
  // The operator's command (npm run ingest, cron): the bundled Taskfile.ts.
  const args = [path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs'), 'run', '--only=transcribe', `--sites-root=${site.sitesRoot}`, `--local-root=${site.localRoot}`, '--renderer=plain'];
  return timed(process.execPath, args, { ...process.env, ...env });
}

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

async function main(): Promise<void> {
  const cli = process.env.WHISPER_CLI || cachedWhisperCli();
  if (!cli) throw new Error('whisper-cli is not built: run `npm run setup` first');
  const model = await ensureRandomModel(shape);
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-transcribe-'));
  const lines: string[] = [
    `machine: ${cores} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; model: random weights, shape ${JSON.stringify(shape)} (${path.basename(model)})`,
  ];
  const baseEnv = { WHISPER_MODEL: model, WHISPER_CLI: cli };
  try {
    if (!values['skip-overhead']) {
      const seconds = Number(values.minutes) * 60;
      const long = path.join(work, 'long.mp3');
      loopedSpeech(long, seconds);
      // whisper-cli as an operator would call it by hand (the runner adds the same -mc 0, -nf for random weights).
      const bareArgs = ['-m', model, '-f', long, '-t', String(cores), '-mc', '0', '-nf', '-osrt', '-of', path.join(work, 'bare')];
      const barePassive = await timed(cli, bareArgs, whisperEnv());
      const bareDefault = values['with-spinning'] ? await timed(cli, bareArgs, { ...process.env, OMP_WAIT_POLICY: undefined }) : undefined;
      const runner = await runnerSeconds(path.join(work, 'runner'), [{ key: '2024-01-01_Long--1700000000000', file: long }], { ...baseEnv, WHISPER_THREADS: String(cores) });
      lines.push(
        '',
        `Overhead on one ${values.minutes}-minute file (${cores} threads):`,
        row(['run', 'wall s', 'ratio to bare (passive)']),
        row(['---', '---:', '---:']),
        ...(bareDefault === undefined ? [] : [row(['bare whisper-cli, default OpenMP (spinning)', bareDefault.toFixed(1), (bareDefault / barePassive).toFixed(2)])]),
        row(['bare whisper-cli, OMP_WAIT_POLICY=passive', barePassive.toFixed(1), '1.00']),
        row(['runner transcribe step (CLI, decode, merge, write)', runner.toFixed(1), (runner / barePassive).toFixed(2)]),
        `runner / best bare = ${(runner / Math.min(bareDefault ?? Infinity, barePassive)).toFixed(2)} (target <= 1.10)`,
      );
    }

    const count = Number(values.files);
    const fileSeconds = Number(values['file-seconds']);
    const queued: { key: string; file: string }[] = [];
    for (let i = 0; i < count; i++) {
      const file = path.join(work, `q${i}.mp3`);
      loopedSpeech(file, fileSeconds);
      queued.push({ key: `2024-01-0${i + 1}_Q${i}--170000000000${i}`, file });
    }
    lines.push('', `Throughput: ${count} queued files of ${fileSeconds} s on ${cores} cores:`, row(['jobs x threads', 'wall s', 'audio s per wall s']), row(['---', '---:', '---:']));
    for (let threads = cores; threads >= 1; threads = threads === 1 ? 0 : Math.max(1, Math.floor(threads / 2))) {
      const wall = await runnerSeconds(path.join(work, `split-${threads}`), queued, { ...baseEnv, WHISPER_THREADS: String(threads) });
      lines.push(row([`${Math.floor(cores / threads)} x ${threads}`, wall.toFixed(1), ((count * fileSeconds) / wall).toFixed(2)]));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
