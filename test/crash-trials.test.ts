// Proof of the whole run (issue 15): a tiny but complete world (three sites with feeds and tone
// MP3s on loopback, one s3rver, each site's indexer behind the local Lambda endpoint, the test
// Whisper model) is run from scratch for the reference end state (twice at once, as the trials
// run, which also shows that two runs from scratch end alike). Then, per seed, the same
// world from scratch is SIGKILLed at a random moment (the whole process group, or only the
// runner as the OOM killer does), possibly twice, and run again to completion. Each trial must
// end in the reference state, with nothing downloaded or transcribed twice, no temporary file,
// no process left, the index invoked after each site's last upload, and a last run that does
// nothing. Targeted trials kill on events random times miss: the last PUT sent, the invocation
// about to leave, a temporary file present, a download half sent, the first transcript written.
//
//   CRASH_TRIALS=N        more random trials (default 30)
//   CRASH_SEEDS=3,17      exactly these seeds (replays a failure)
//   CRASH_PARALLEL=N      trials at once (default 2)
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { processGroupMembers, runCli, type CliResult, type RunningCli } from './helpers/cli.ts';
import { seededRandom } from './helpers/random.ts';
import { sweepLocalRoot } from '../tasks/platform/atomic.ts';
import { startLocalS3, type LocalS3Server } from '../tasks/demo/local/s3-server.ts';
import { deadPid } from './helpers/processes.ts';
import { tempDir } from './helpers/temp.ts';
import { audioOnDisk, endState, podcastOf, present, startWorld, type AudioOnDisk, temporaries, toneClips, type SiteEndState, type SiteSpec, type World } from './helpers/world.ts';

const SITES: SiteSpec[] = [
  { id: 'alpha', episodes: 2 },
  { id: 'beta', episodes: 1 },
  { id: 'gamma', episodes: 1 },
];
/** Synchronous indexing: the indexer's output comes down in the same run, so a run ends settled. */
const RUN_ARGS = ['--wait-for-index'];
const TRIALS = Number(process.env.CRASH_TRIALS) || 30;
const SEEDS = process.env.CRASH_SEEDS ? process.env.CRASH_SEEDS.split(',').map(Number) : Array.from({ length: TRIALS }, (_, i) => 1001 + i);
const PARALLEL = Math.max(1, Number(process.env.CRASH_PARALLEL) || 2);

let clips: Buffer[];
let reference: Record<string, SiteEndState>;
/** Wall time of the reference run, from spawn to exit: the range of random kill times. */
let referenceMs: number;
const fileStarted = Date.now();
after(() => console.log(`crash-trials: ${SEEDS.length} random trials and the targeted ones in ${((Date.now() - fileStarted) / 1000).toFixed(0)} s`));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A trial's log of what it saw, printed at its end (and kept in the failure message). */
class Journal {
  lines: string[] = [];
  /** Each run's start, and the episodes' bytes on disk then (read after the kill before it). */
  segments: { from: number; disk: Map<string, AudioOnDisk> }[] = [{ from: 0, disk: new Map() }];
  constructor(readonly name: string) {}
  add(line: string): void {
    this.lines.push(line);
  }
  toString(): string {
    return `${this.name}\n  ${this.lines.join('\n  ')}`;
  }
}

type KillMode = 'group' | 'runner';

/** SIGKILL the run (its whole group, or the runner alone); then its group must empty within 5 s. */
async function kill(world: World, cli: RunningCli, mode: KillMode, journal: Journal, why: string): Promise<CliResult> {
  const pid = cli.child.pid!;
  try {
    process.kill(mode === 'group' ? -pid : pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  // A targeted trial may have frozen the group (SIGSTOP) to look at it: the OOM killer freezes
  // nothing, so the others go on as they would. (Frozen, a child caught between fork and exec
  // keeps the runner's stdout open forever and the run's output never ends.)
  if (mode === 'runner') {
    try {
      process.kill(-pid, 'SIGCONT');
    } catch {
      // The group is gone.
    }
  }
  // The runner's exit, not the end of its output: a survivor holding stdout is judged below.
  if (cli.child.exitCode === null && cli.child.signalCode === null) await new Promise((resolve) => cli.child.once('exit', resolve));
  const deadline = Date.now() + 5_000;
  let left = await processGroupMembers(pid);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = await processGroupMembers(pid);
  }
  const survivors = await Promise.all(left.map(async (p) => `${p}: ${(await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '?')).split('\0').join(' ')}`));
  // Never leave them running, whatever the verdict.
  for (const p of left) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
  const result = await cli.result;
  journal.add(`killed (${mode === 'group' ? 'process group' : 'runner only'}) ${why}; exit ${result.signal ?? result.code}`);
  assert.deepEqual(survivors, [], `processes of the killed run still alive 5 s after the SIGKILL\n${journal}`);
  // Nothing of the run is alive: what is on disk now is what the next run starts from.
  const disk = await audioOnDisk(world);
  journal.segments.push({ from: Date.now(), disk });
  const partly = [...disk].filter(([, d]) => d.resume !== undefined).map(([p, d]) => `${p} ${d.resume} bytes`);
  if (partly.length > 0) journal.add(`resume files after the kill: ${partly.join(', ')}`);
  return result;
}

/** Start a run and SIGKILL it after `delayMs` (unless it ended first). */
async function killAfter(world: World, delayMs: number, mode: KillMode, journal: Journal): Promise<string> {
  const cli = world.start(RUN_ARGS);
  const ended = await Promise.race([cli.result.then(() => true), sleep(delayMs).then(() => false)]);
  if (ended) {
    const r = await cli.result;
    journal.add(`run ended (exit ${r.code}) before the kill at ${Math.round(delayMs)} ms`);
    return cli.output();
  }
  await kill(world, cli, mode, journal, `at ${Math.round(delayMs)} ms`);
  return cli.output();
}

/** Lines "transcripts/<pod>/<key>.srt: N cues from" per normalised key, over every output given. */
function transcriptionsLogged(outputs: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const out of outputs) {
    for (const m of out.matchAll(/\] (transcripts\/\S+\.srt): \d+ cues from /g)) {
      const key = m[1]!.replace(/--\d{13}/, '--<ms>');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

interface Summary {
  exitCode: number;
  sites: { site: string; steps: { step: string; status: string; message: string }[] }[];
  errors: unknown[];
}

function sameState(a: unknown, b: unknown): string | undefined {
  try {
    assert.deepEqual(a, b);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Everything a trial must end in, after its killed runs (whose outputs are `outputs`):
 * a clean rerun, the reference state, nothing twice, nothing left, a last run that does nothing.
 */
async function finishAndCheck(world: World, journal: Journal, outputs: string[]): Promise<void> {
  const summaryFile = path.join(world.root, 'rerun.json');
  const rerunStarted = Date.now();
  const rerun = await world.run(RUN_ARGS, summaryFile);
  outputs.push(rerun.stdout + rerun.stderr);
  const swept = /removed [^\n]* left by an interrupted run[^\n]*/.exec(rerun.stdout)?.[0];
  journal.add(`rerun: exit ${rerun.code} in ${Date.now() - rerunStarted} ms${swept ? ` (${swept})` : ''}`);
  assert.equal(rerun.code, 0, `the rerun did not end clean\n${journal}\n${rerun.stdout}\n${rerun.stderr}`);

  const problems: string[] = [];
  const checksStarted = Date.now();
  const verify = await world.cli(['verify', '--json']);
  if (verify.code !== 0) {
    const findings = (JSON.parse(verify.stdout) as { findings: { site: string; kind: string; subject: string }[] }).findings;
    problems.push(`verify exit ${verify.code}: ${findings.map((f) => `${f.site} ${f.kind} ${f.subject}`).join('; ')}`);
  }

  for (const site of SITES) {
    const state = await endState(world, site.id);
    const difference = sameState(state, reference[site.id]);
    if (difference) problems.push(`${site.id}: end state differs from the reference:\n${difference}`);
  }
  const temps = await temporaries(world.localRoot);
  if (temps.length > 0) problems.push(`temporary files left: ${temps.join(', ')}`);

  // Audio: no byte on disk is fetched again (a run after a kill resumes with Range where the
  // killed one left bytes, fetches nothing where it left the file) and no episode comes in full
  // twice within a run. A body the killed runner had not written yet is fetched again: it was lost.
  for (const [i, segment] of journal.segments.entries()) {
    const until = journal.segments[i + 1]?.from ?? Infinity;
    const gets = world.feeds.audioGets.filter((g) => g.at >= segment.from && g.at < until);
    for (const p of new Set(gets.map((g) => g.path))) {
      const mine = gets.filter((g) => g.path === p);
      const disk = segment.disk.get(p);
      if (disk?.final !== undefined) problems.push(`${p} fetched again (${mine.length} GETs) although the audio was in place`);
      else if (disk?.resume && mine[0]!.range !== `bytes=${disk.resume}-`) {
        problems.push(`${p} fetched with ${mine[0]!.range ? `Range ${mine[0]!.range}` : 'no Range'} although ${disk.resume} bytes were on disk`);
      }
      const full = mine.filter((g) => g.status === 200 && g.complete).length;
      if (full > 1) problems.push(`${p} downloaded in full ${full} times in one run`);
    }
  }
  const resumes = world.feeds.audioGets.filter((g) => g.status === 206).length;
  if (resumes > 0) journal.add(`${resumes} audio download(s) resumed with Range`);
  const again = [...new Set(world.feeds.audioGets.filter((g) => g.status === 200 && g.complete).map((g) => g.path))].filter(
    (p) => world.feeds.audioGets.filter((g) => g.path === p && g.status === 200 && g.complete).length > 1,
  );
  if (again.length > 0) journal.add(`sent in full again (the killed runner had not written the body): ${again.join(', ')}`);

  for (const [key, n] of transcriptionsLogged(outputs)) if (n > 1) problems.push(`${key} transcribed ${n} times`);

  // The index was invoked after the last upload of each site.
  for (const site of SITES) {
    const bucket = world.bucketOf(site.id);
    const puts = world.s3Requests.filter((r) => r.method === 'PUT' && r.url.startsWith(`/${bucket}/`));
    if (puts.length === 0) continue;
    const lastPut = Math.max(...puts.map((r) => r.at));
    const invocations = world.lambda.invocations.filter((i) => i.functionName === `srt-indexing-${site.id}`);
    const lastInvocation = Math.max(...invocations.map((i) => i.receivedAt.getTime()));
    if (lastInvocation >= lastPut) continue;
    const lastKey = puts.find((r) => r.at === lastPut)!.url.split('?')[0];
    problems.push(`${site.id}: not indexed after its last PUT (${lastKey}): ${invocations.length === 0 ? 'never invoked' : `last invocation ${lastPut - lastInvocation} ms before it`}`);
  }

  // One more run: nothing to do, no object request, no invocation, no audio fetched.
  const requestsBefore = world.s3Requests.length;
  const invocationsBefore = world.gate.arrived.length;
  const audioBefore = world.feeds.audioGets.length;
  const lastFile = path.join(world.root, 'last.json');
  const last = await world.run(RUN_ARGS, lastFile);
  const summary = JSON.parse(await readFile(lastFile, 'utf8')) as Summary;
  if (last.code !== 0) problems.push(`the last run exited ${last.code}`);
  for (const site of summary.sites) {
    for (const step of site.steps) {
      if (step.status !== 'up-to-date' && step.status !== 'skipped') problems.push(`last run: ${site.site} ${step.step} ${step.status}: ${step.message}`);
    }
  }
  const objectRequests = world.s3Requests.slice(requestsBefore).filter((r) => !/[?&]list-type=2/.test(r.url));
  if (objectRequests.length > 0) problems.push(`last run sent ${objectRequests.length} object requests: ${objectRequests.slice(0, 5).map((r) => `${r.method} ${r.url}`).join(', ')}`);
  if (world.gate.arrived.length > invocationsBefore) problems.push(`last run invoked ${world.gate.arrived.length - invocationsBefore} times`);
  if (world.feeds.audioGets.length > audioBefore) problems.push('last run fetched audio');

  if (problems.length === 0) {
    journal.add(`found: the reference state, nothing twice, nothing left, a last run that did nothing (checks and last run ${Date.now() - checksStarted} ms)`);
    return;
  }
  for (const p of problems) journal.add(`FOUND: ${p.split('\n')[0]}`);
  assert.fail(`${journal}\n${problems.join('\n')}\n--- rerun output ---\n${rerun.stdout}\n--- last run ---\n${last.stdout}`);
}

let s3: LocalS3Server | undefined;
let s3Dir: string | undefined;
let worlds = 0;
after(async () => {
  await s3?.stop();
  if (s3Dir) await rm(s3Dir, { recursive: true, force: true });
});

/** A world from scratch: its own buckets (fresh folders of the shared s3rver), local root, servers. */
async function freshWorld(t: TestContext): Promise<World> {
  return startWorld(t, { sites: SITES, clips, s3, bucketPrefix: `w${++worlds}-` });
}

before(async () => {
  clips = await toneClips(path.join(os.tmpdir(), 'podcast-ingest-crash-clips'), 5, 8);
  s3Dir = await mkdtemp(path.join(os.tmpdir(), 'crash-s3-'));
  s3 = await startLocalS3({ dir: s3Dir });
  // The launcher builds its bundle on the first start after a source change: not inside a timed run.
  await runCli(['--version']);
});

describe('crash trials', () => {
  test(`reference: ${PARALLEL} runs from scratch at once (the trials' load), each ending in the same state`, async (t) => {
    const runs = await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        const world = await freshWorld(t);
        const started = Date.now();
        const r = await world.run(RUN_ARGS);
        const ms = Date.now() - started;
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const state: Record<string, SiteEndState> = {};
        for (const site of SITES) state[site.id] = await endState(world, site.id);
        return { world, r, ms, state };
      }),
    );
    // Same audio, same model, one thread per job: the same transcripts and files every time.
    for (const other of runs.slice(1)) assert.deepEqual(other.state, runs[0]!.state, 'two runs from scratch ended differently');
    reference = runs[0]!.state;
    referenceMs = runs.reduce((sum, run) => sum + run.ms, 0) / runs.length;
    const transcripts = Object.keys(reference.alpha!.local).filter((k) => k.startsWith('transcripts/'));
    assert.equal(transcripts.length, 2, JSON.stringify(reference.alpha));
    assert.ok(Object.keys(reference.alpha!.bucket).some((k) => k.startsWith(`search-entries/${podcastOf('alpha')}/`)), 'indexed');
    // The reference itself passes every check of a trial (with no kill).
    await Promise.all(runs.map((run, i) => finishAndCheck(run.world, new Journal(`reference ${i + 1}`), [run.r.stdout])));
    const line = `reference runs ${runs.map((run) => run.ms).join(', ')} ms (kill times are shares of ${Math.round(referenceMs)} ms); ${SITES.length} sites, ${SITES.reduce((n, s) => n + s.episodes, 0)} episodes`;
    t.diagnostic(line);
    console.log(line);
  });

  test(`${SEEDS.length} random kills (seeds ${SEEDS[0]}..${SEEDS.at(-1)}), ${PARALLEL} at a time`, { concurrency: PARALLEL }, async (t) => {
    assert.ok(reference, 'the reference run failed');
    const found: string[] = [];
    await Promise.all(
      SEEDS.map((seed) =>
        t.test(`seed ${seed}`, async (t) => {
          const dice = seededRandom(seed);
          const kills = dice() < 0.3 ? 2 : 1;
          // A kill time is a share of the reference run's wall time (up to 110%: some runs end first).
          const plan = Array.from({ length: kills }, () => ({ mode: (dice() < 0.25 ? 'runner' : 'group') as KillMode, share: dice() * 1.1 }));
          const journal = new Journal(
            `seed ${seed} (replay: CRASH_SEEDS=${seed}): ${plan.map((k) => `${k.mode === 'group' ? 'group' : 'runner-only'} kill at ${Math.round(k.share * 100)}% (${Math.round(k.share * referenceMs)} ms)`).join(', then ')}`,
          );
          const worldStarted = Date.now();
          const world = await freshWorld(t);
          journal.add(`world started in ${Date.now() - worldStarted} ms`);
          const outputs: string[] = [];
          for (const k of plan) outputs.push(await killAfter(world, k.share * referenceMs, k.mode, journal));
          let verdict = 'FAILED';
          try {
            await finishAndCheck(world, journal, outputs);
            verdict = 'ok';
          } finally {
            found.push(`${journal.name.replace(/ \(replay[^)]*\)/, '')} -> ${verdict}${verdict === 'ok' ? '' : `: ${journal.lines.filter((l) => l.startsWith('FOUND')).join('; ')}`}`);
            t.diagnostic(journal.toString());
          }
        }),
      ),
    );
    console.log(`crash trials: ${SEEDS.length} seeds, kill times as shares of ${Math.round(referenceMs)} ms\n${found.sort().join('\n')}`);
  });
});

describe('targeted kills', { concurrency: 2 }, () => {
  /** Attempts at catching an event a fast run may not show (a partial file lives for an fsync). */
  const ATTEMPTS = 4;

  /**
   * Run a world from scratch and SIGKILL it once `arm` resolves with what it saw (undefined: the
   * run ended before the event, so a fresh world tries again), then check the end.
   */
  async function killOn(t: TestContext, name: string, mode: KillMode, arm: (world: World, cli: () => RunningCli) => Promise<string | undefined>, setUp?: (world: World) => void) {
    assert.ok(reference, 'the reference run failed');
    const missed: string[] = [];
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const world = await freshWorld(t);
      setUp?.(world);
      const journal = new Journal(attempt === 1 ? name : `${name} (attempt ${attempt}: ${missed.length} runs ended before the event)`);
      let cli: RunningCli | undefined;
      const started = Date.now();
      const saw = await arm(world, () => (cli = world.start(RUN_ARGS)));
      if (saw === undefined) {
        await cli!.result;
        missed.push(cli!.output());
        continue;
      }
      const result = await kill(world, cli!, mode, journal, `at ${Date.now() - started} ms: ${saw}`);
      assert.equal(result.signal, 'SIGKILL', `the run ended before the kill:\n${cli!.output()}`);
      world.s3Hold = undefined;
      world.gate.hold = undefined;
      world.feeds.trickle = undefined;
      world.feeds.onHalfSent = undefined;
      try {
        await finishAndCheck(world, journal, [cli!.output()]);
      } finally {
        t.diagnostic(journal.toString());
      }
      return world;
    }
    assert.fail(`${name}: the event never happened in ${ATTEMPTS} runs; the last one:\n${missed.at(-1)}`);
  }

  test('the last PUT of a site sent (its manifest), not yet answered', async (t) => {
    let release!: () => void;
    await killOn(t, 'kill on the last PUT sent', 'group', async (world, start) => {
      const seen = new Promise<string>((resolve) => {
        world.s3Hold = (r) => {
          if (r.method !== 'PUT' || !r.url.includes('episode-manifest/full-episode-manifest.json')) return undefined;
          world.s3Hold = undefined;
          resolve(`${r.method} ${r.url}`);
          return new Promise<void>((done) => (release = done));
        };
      });
      start();
      return seen;
    });
    release?.();
  });

  test('after the last PUT answered, the invocation about to reach the endpoint', async (t) => {
    let release!: () => void;
    await killOn(t, 'kill on the invocation leaving', 'group', async (world, start) => {
      const seen = new Promise<string>((resolve) => {
        world.gate.hold = (fn) => {
          world.gate.hold = undefined;
          resolve(`invoking ${fn}`);
          return new Promise<void>((done) => (release = done));
        };
      });
      start();
      return seen;
    });
    release?.();
  });

  test('a download half sent (audio trickled); the rerun resumes it', async (t) => {
    const world = await killOn(
      t,
      'kill on a download half sent',
      'group',
      async (w, start) => {
        const seen = new Promise<string>((resolve) => {
          w.feeds.onHalfSent = (get) => {
            w.feeds.onHalfSent = undefined;
            resolve(`${get.path}: ${get.sent} of ${get.length} bytes sent`);
          };
        });
        start();
        return seen;
      },
      (w) => (w.feeds.trickle = { chunkBytes: 2048, intervalMs: 20 }),
    );
    assert.ok(world.feeds.audioGets.some((g) => g.status === 206), 'the rerun resumed with Range');
  });

  /** Poll for a temporary file `wanted` accepts; once seen, freeze the run's group and look again. */
  const temporaryOf = (wanted: (file: string) => boolean) => async (w: World, start: () => RunningCli): Promise<string | undefined> => {
    const cli = start();
    const pid = cli.child.pid!;
    for (;;) {
      if (cli.child.exitCode !== null) return undefined;
      if ((await temporaries(w.localRoot)).some(wanted)) {
        // Frozen, it cannot finish (and rename) the file while we look.
        process.kill(-pid, 'SIGSTOP');
        const still = (await temporaries(w.localRoot)).filter(wanted);
        if (still.length > 0) return `present: ${still.join(', ')}`;
        process.kill(-pid, 'SIGCONT');
      }
      await sleep(2);
    }
  };
  const trickled = (w: World) => void (w.feeds.trickle = { chunkBytes: 4096, intervalMs: 30 });
  const cases: [name: string, mode: KillMode, wanted: (file: string) => boolean, setUp?: (w: World) => void][] = [
    ['the first temporary file of the run (group killed)', 'group', () => true],
    ['the first temporary file of the run (runner alone killed)', 'runner', () => true],
    ['a partial file in a site folder (group killed)', 'group', (f) => f.startsWith('sites/') && f.endsWith('.partial')],
    ['an audio download\'s resume file (runner alone killed)', 'runner', (f) => f.endsWith('.mp3.resume'), trickled],
    ['a whisper work folder (runner alone killed, as the OOM killer does)', 'runner', (f) => f.startsWith('.work/')],
  ];
  for (const [name, mode, wanted, setUp] of cases) {
    test(`stopped with ${name}`, async (t) => {
      await killOn(t, `kill with ${name}`, mode, temporaryOf(wanted), setUp);
    });
  }

  test('the first transcript written', async (t) => {
    await killOn(t, 'kill on the first transcript written', 'group', async (_w, start) => {
      const cli = start();
      await cli.waitFor(/\] transcripts\/\S+\.srt: \d+ cues from/, 60_000);
      return /transcripts\/\S+\.srt/.exec(cli.output())![0];
    });
  });

  test('the next run removes the preflight probe a killed run left in the local root (a live process\'s is kept)', async (t) => {
    const localRoot = await tempDir(t, 'sweep-');
    const dead = path.join(localRoot, `.preflight-${deadPid()}.partial`);
    const live = path.join(localRoot, `.preflight-${process.pid}.partial`);
    await writeFile(dead, 'probe');
    await writeFile(live, 'probe');
    const swept = await sweepLocalRoot(localRoot, []);
    assert.deepEqual(swept, { removed: 1, partialFiles: 1, workFolders: 0, bytes: 5 });
    assert.equal(await present(dead), false);
    assert.equal(await present(live), true);
  });

});
