// Child processes (ffmpeg, whisper-cli) start without a shell, die with the runner even when
// only its own pid is SIGKILLed (the OOM killer), and what a killed run leaves on disk is
// removed by the next run. Real CLI, real ffmpeg and whisper-cli, Linux /proc.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { PROJECT_ROOT, startCli, TSX_LOADER } from './helpers/cli.ts';
import { cronEnv, deadPid, killQuietly, processesWithArg, waitUntil } from './helpers/processes.ts';
import { tempDir } from './helpers/temp.ts';
import { addAudio, CORPUS_AUDIO, filesUnder, localSite, makeNoiseAudio, testModel, testWhisperCli } from './helpers/whisper.ts';

const linux = process.platform === 'linux';
// Loaded per test, so each CLI test runs (and fails alone) against code without them.
const processApi = () => import('../tasks/platform/process.ts') as Promise<typeof import('../tasks/platform/process.ts')>;
const atomicApi = () => import('../tasks/platform/atomic.ts') as Promise<typeof import('../tasks/platform/atomic.ts')>;
/** `<localRoot>/.work/<site>`: written out so the CLI test does not depend on the code it checks. */
const workRoot = (localRoot: string, siteId: string) => path.join(localRoot, '.work', siteId);
let model: string;
before(async () => {
  testWhisperCli();
  model = await testModel();
});

/** After a SIGKILL: every process of this test's temp folder gone within `ms`, else what is left. */
async function survivorsAfter(root: string, ms: number): Promise<string[]> {
  const left = await waitUntil(async () => ((await processesWithArg(root)).length === 0 ? [] : undefined), ms);
  return left ?? (await processesWithArg(root)).map((p) => `${p.pid}: ${p.argv.join(' ')}`);
}

/** A failing test must not leave whisper-cli spinning. */
function killLeftoversAfter(t: { after: (fn: () => Promise<void>) => void }, root: string): void {
  t.after(async () => {
    for (const p of await processesWithArg(root)) killQuietly(p.pid);
  });
}

describe('runProcess: what zx gave, without a shell', () => {
  test('arguments reach the program verbatim; lines arrive whole; the stored tail is bounded', async () => {
    const { runProcess } = await processApi();
    const args = ['a b', '$HOME', '; echo injected', '*'];
    const echo = await runProcess(process.execPath, ['-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args]);
    assert.equal(echo.exitCode, 0);
    assert.deepEqual(JSON.parse(echo.stdout), args);

    const script = "for (let i = 0; i < 100000; i++) process.stderr.write(`err ${i} ${'x'.repeat(70)}\\n`)";
    let lines = 0;
    let last = '';
    const chatty = await runProcess(process.execPath, ['-e', script], { tailChars: 64 * 1024, onStderrLine: (line) => ((lines += 1), (last = line)) });
    assert.equal(chatty.exitCode, 0);
    assert.equal(lines, 100_000);
    assert.match(last, /^err 99999 x+$/);
    assert.equal(chatty.stderr.length, 64 * 1024);
    assert.match(chatty.stderr, /err 99999 x+\n$/);
  });

  test('time limit and abort stop the child; a missing program is an error, not a throw', async () => {
    const { runProcess } = await processApi();
    const forever = ['-e', 'setInterval(() => {}, 1000)'];
    const started = Date.now();
    const timed = await runProcess(process.execPath, forever, { timeoutMs: 300 });
    assert.deepEqual([timed.timedOut, timed.signal, timed.exitCode], [true, 'SIGTERM', null]);
    assert.ok(Date.now() - started < 5_000);

    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 300);
    const aborted = await runProcess(process.execPath, forever, { signal: controller.signal });
    assert.deepEqual([aborted.timedOut, aborted.signal], [false, 'SIGTERM']);

    const missing = await runProcess('no-such-tool-podcast-ingest', []);
    assert.equal((missing.error as NodeJS.ErrnoException | undefined)?.code, 'ENOENT');
  });
});

describe('child processes of the transcribe step', () => {
  test('under cron (HOME, PATH, no SHLVL) ffmpeg and whisper-cli start without bash: ~/.bashrc never runs', async (t) => {
    const root = await tempDir(t);
    const home = path.join(root, 'home');
    await mkdir(home);
    const marker = path.join(root, 'bashrc-ran');
    await writeFile(path.join(home, '.bashrc'), `echo "$$ $0 $*" >> '${marker}'\n`);
    const env = cronEnv({ HOME: home, PATH: process.env.PATH ?? '/usr/bin:/bin', WHISPER_MODEL: model, WHISPER_CLI: testWhisperCli() });

    // The trap is real here: bash with a socket on stdin (what Node gives a child) and no
    // SHLVL sources ~/.bashrc even for `bash -c`.
    const control = spawn('bash', ['-c', ':'], { env, stdio: 'pipe' });
    await new Promise((resolve) => control.on('close', resolve));
    if (existsSync(marker)) await rm(marker);
    else t.diagnostic('this bash does not source ~/.bashrc for a socket stdin: the check below proves less here');

    const site = await localSite(root);
    await addAudio(site, 'pod', '2024-01-01_Jfk--1700000000000', path.join(CORPUS_AUDIO, 'jfk.mp3'));
    const cli = startCli(['run', '--only=transcribe', `--sites-root=${site.sitesRoot}`, `--local-root=${site.localRoot}`, '--renderer=plain'], { env, timeoutMs: 120_000 });
    const result = await cli.result;
    assert.equal(result.code, 0, cli.output());
    assert.ok(existsSync(path.join(site.siteDir, 'transcripts', 'pod', '2024-01-01_Jfk--1700000000000.srt')), cli.output());
    const ran = existsSync(marker) ? (await readFile(marker, 'utf8')).trim().split('\n') : [];
    assert.deepEqual(ran, [], `~/.bashrc ran ${ran.length} times: children went through bash`);
  });

  test('SIGKILL of the runner alone (not its group): no ffmpeg or whisper-cli of the run is alive 5 s later', { skip: !linux && 'needs Linux /proc and setpriv' }, async (t) => {
    const root = await tempDir(t);
    killLeftoversAfter(t, root);
    const site = await localSite(root);
    const noise = path.join(root, 'long.mp3');
    makeNoiseAudio(noise, 600);
    await addAudio(site, 'pod', '2024-01-01_Long--1700000000000', noise);
    // Inside root, so whisper's arguments name root even where work folders lived in TMPDIR.
    const tmp = path.join(root, 'tmp');
    await mkdir(tmp);

    const cli = startCli(['run', '--only=transcribe', `--sites-root=${site.sitesRoot}`, `--local-root=${site.localRoot}`, '--renderer=plain'], {
      env: { WHISPER_MODEL: model, WHISPER_CHUNK_SECONDS: '120', TMPDIR: tmp },
      timeoutMs: 120_000,
    });
    const runner = cli.child.pid!;
    const whisper = await waitUntil(async () => (await processesWithArg(root)).find((p) => p.pid !== runner && p.argv.some((a) => a.endsWith('whisper-cli'))), 60_000);
    assert.ok(whisper, `whisper-cli never started:\n${cli.output()}`);

    // Frozen, it writes nothing: otherwise a child may die of SIGPIPE at its next write to the
    // dead runner's pipe, which measured 10 s later for ffmpeg decoding a 3 h episode, and
    // for a whisper window with a big model can be minutes.
    process.kill(whisper.pid, 'SIGSTOP');
    const killedAt = Date.now();
    process.kill(runner, 'SIGKILL'); // the runner's pid only, as the OOM killer does
    assert.deepEqual(await survivorsAfter(root, 5_000), [], 'children outlived the runner');
    t.diagnostic(`children gone ${Date.now() - killedAt} ms after the runner's SIGKILL`);
    assert.equal((await cli.result).signal, 'SIGKILL');
  });

  test('an ffmpeg started by runProcess dies with a SIGKILLed parent', { skip: !linux && 'needs Linux /proc and setpriv' }, async (t) => {
    const root = await tempDir(t);
    killLeftoversAfter(t, root);
    const out = path.join(root, 'endless.pcm');
    const processModule = path.join(PROJECT_ROOT, 'tasks', 'platform', 'process.ts');
    // Real time (-re), so it runs for minutes unless something stops it.
    const script = `const { runProcess } = await import(${JSON.stringify(processModule)});
      await runProcess('ffmpeg', ['-nostdin', '-v', 'error', '-re', '-f', 'lavfi', '-i', 'anullsrc=r=16000', '-t', '300', '-f', 's16le', '-y', ${JSON.stringify(out)}]);`;
    const parent = spawn(process.execPath, ['--import', TSX_LOADER, '--input-type=module', '-e', script], { stdio: 'ignore', detached: true });
    t.after(() => killQuietly(-parent.pid!));
    const ffmpeg = await waitUntil(async () => (await processesWithArg(out)).find((p) => p.pid !== parent.pid && p.argv[0]!.endsWith('ffmpeg')), 30_000);
    assert.ok(ffmpeg, 'ffmpeg never started');
    process.kill(parent.pid!, 'SIGKILL');
    assert.deepEqual(await survivorsAfter(out, 5_000), []);
  });
});

describe('leftovers of a killed run', () => {
  async function plantLeftovers(localRoot: string, siteDir: string) {
    const dead = deadPid();
    const cache = path.join(localRoot, '.cache');
    await mkdir(cache, { recursive: true });
    const deadPartials = [
      path.join(cache, `.feed-validators-tsite.json.${dead}-a1b2c30.partial`),
      path.join(cache, `.hashes-tsite.json.${dead}-a1b2c31.partial`),
      path.join(siteDir, 'transcripts', 'pod', `.2024-01-01_X--1700000000000.srt.${dead}-a1b2c32.partial`),
    ];
    await mkdir(path.dirname(deadPartials[2]!), { recursive: true });
    for (const file of deadPartials) await writeFile(file, '{"half":');
    // A live process's copy (the consistency command may run beside a run): kept.
    const live = path.join(cache, `.hashes-tsite.json.${process.pid}-ffffff0.partial`);
    await writeFile(live, '{}');
    const work = path.join(workRoot(localRoot, 'tsite'), `whisper-${dead}-Xy12Ab`);
    await mkdir(work, { recursive: true });
    const mb = Buffer.alloc(1024 * 1024, 1);
    for (const name of ['audio.pcm', 'chunk-0.wav', 'chunk-1.wav']) await writeFile(path.join(work, name), mb);
    return { deadPartials, live, work };
  }

  test('sweepLocalRoot: partial files of dead runs in .cache and site folders, work folders under .work', async (t) => {
    const root = await tempDir(t);
    const localRoot = path.join(root, 'local');
    const siteDir = path.join(localRoot, 'sites', 'tsite');
    const planted = await plantLeftovers(localRoot, siteDir);
    const { describeSweep, sweepLocalRoot, workRootFor } = await atomicApi();
    assert.equal(workRootFor(localRoot, 'tsite'), workRoot(localRoot, 'tsite'));
    const swept = await sweepLocalRoot(localRoot, ['tsite', 'absent-site']);
    assert.deepEqual(swept, { removed: 4, partialFiles: 3, workFolders: 1, bytes: 3 * 1024 * 1024 + 3 * 8 });
    assert.equal(describeSweep(swept), 'removed 3 partial files and 1 work folder left by an interrupted run (3.0 MB)');
    assert.equal(describeSweep({ partialFiles: 0, workFolders: 2, bytes: 0 }), 'removed 2 work folders left by an interrupted run (0.0 MB)');
    for (const file of planted.deadPartials) assert.equal(existsSync(file), false, file);
    assert.equal(existsSync(planted.work), false);
    assert.equal(existsSync(planted.live), true);
    assert.deepEqual(await sweepLocalRoot(path.join(root, 'nothing-here'), ['tsite']), { removed: 0, partialFiles: 0, workFolders: 0, bytes: 0 });
  });

  test('the next run removes them and says how many', async (t) => {
    const root = await tempDir(t);
    const site = await localSite(root);
    const planted = await plantLeftovers(site.localRoot, site.siteDir);
    const cli = startCli(['run', '--only=transcribe', `--sites-root=${site.sitesRoot}`, `--local-root=${site.localRoot}`, '--renderer=plain'], { timeoutMs: 60_000 });
    const result = await cli.result;
    assert.equal(result.code, 0, cli.output());
    for (const file of planted.deadPartials) assert.equal(existsSync(file), false, `${file} left:\n${cli.output()}`);
    assert.equal(existsSync(planted.work), false, `work folder left:\n${cli.output()}`);
    assert.deepEqual(await readdir(workRoot(site.localRoot, 'tsite')), []);
    assert.equal(existsSync(planted.live), true);
    assert.match(cli.output(), /warn.*removed 3 partial files and 1 work folder left by an interrupted run \(3\.0 MB\)/i);
    assert.deepEqual((await filesUnder(site.siteDir)).filter((f) => f.endsWith('.partial')), []);
  });
});
