// The run lock between real processes: racing runs never both hold it, a dead holder's lock is
// taken over by exactly one of them, and a lock file that cannot be read is not taken over
// while it may still be being written. LOCK_MODULE=<path> runs the same tests against another
// version of tasks/platform/lock.ts (to show what an older one gets wrong).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, utimes, writeFile, link, rename } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_ROOT, TSX_LOADER } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

const LOCK_MODULE = path.resolve(process.env.LOCK_MODULE ?? path.join(PROJECT_ROOT, 'tasks', 'platform', 'lock.ts'));
const { acquireLock, describeHolder, LOCK_NAME } = (await import(LOCK_MODULE)) as typeof import('../tasks/platform/lock.ts');
const CONTENDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'lock-contender.ts');

type Answer = { ready?: true; pid?: number; acquired?: boolean; tookOverFrom?: number; holderPid?: number; holder?: string; released?: true };

/** A long-lived process that acquires and releases the lock on command. */
class Contender {
  readonly child: ChildProcess;
  private readonly answers: Answer[] = [];
  private waiting: ((answer: Answer) => void) | undefined;
  private stderr = '';

  constructor() {
    this.child = spawn(process.execPath, ['--import', TSX_LOADER, CONTENDER, LOCK_MODULE], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as Answer;
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(answer);
      } else this.answers.push(answer);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(command: object): void {
    this.child.stdin!.write(JSON.stringify(command) + '\n');
  }

  next(timeoutMs = 10_000): Promise<Answer> {
    const queued = this.answers.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`contender ${this.pid} did not answer; stderr:\n${this.stderr}`)), timeoutMs);
      this.waiting = (answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
    });
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}

async function startContenders(t: import('node:test').TestContext, count: number): Promise<Contender[]> {
  const contenders = Array.from({ length: count }, () => new Contender());
  t.after(() => Promise.all(contenders.map((c) => c.kill())));
  for (const c of contenders) assert.equal((await c.next(30_000)).ready, true);
  return contenders;
}

interface Round {
  holders: number[];
  answers: Answer[];
}

/** All contenders try at the same moment (one stdin line each, written back to back). */
async function race(contenders: Contender[], dir: string): Promise<Round> {
  for (const c of contenders) c.send({ cmd: 'acquire', dir });
  const answers = await Promise.all(contenders.map((c) => c.next()));
  const holders = contenders.filter((_, i) => answers[i]!.acquired).map((c) => c.pid);
  // Everyone has answered before anyone releases, so every attempt met a held lock or none.
  for (const c of contenders) c.send({ cmd: 'release' });
  await Promise.all(contenders.map((c) => c.next()));
  return { holders, answers };
}

function summary(rounds: Round[]): { bad: string[]; doubles: number } {
  const bad = rounds.flatMap((r, i) => (r.holders.length === 1 ? [] : [`round ${i}: ${r.holders.length} holders (${r.holders.join(', ')})`]));
  return { bad, doubles: rounds.filter((r) => r.holders.length > 1).length };
}

/** A process that has exited: its pid and kernel start time no longer name a live process. */
async function deadProcess(): Promise<{ pid: number }> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return { pid: child.pid! };
}

test('racing processes: exactly one holds the lock in every round, the others name it', async (t) => {
  const ROUNDS = 100;
  const contenders = await startContenders(t, 6);
  const root = await tempDir(t, 'lock-race-');
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const dir = path.join(root, `r${i}`);
    rounds.push(await race(contenders, dir));
    assert.deepEqual(await readdir(dir), [], `round ${i}: nothing is left once the holder released`);
  }
  const { bad, doubles } = summary(rounds);
  t.diagnostic(`${ROUNDS} rounds of ${contenders.length} processes: ${doubles} with two or more holders, ${bad.length} without exactly one`);
  assert.deepEqual(bad, [], `rounds without exactly one holder`);
  for (const [i, r] of rounds.entries()) {
    for (const a of r.answers.filter((a) => !a.acquired)) assert.equal(a.holderPid, r.holders[0], `round ${i}: a loser names the holder: ${a.holder}`);
  }
});

test('a dead holder\'s lock is taken over by exactly one of several racing processes', async (t) => {
  const ROUNDS = 50;
  const contenders = await startContenders(t, 6);
  const root = await tempDir(t, 'lock-stale-');
  // A lock left by a run killed while holding it, in this version's format.
  const killed = new Contender();
  assert.equal((await killed.next(30_000)).ready, true);
  killed.send({ cmd: 'acquire', dir: path.join(root, 'killed') });
  assert.equal((await killed.next()).acquired, true);
  await killed.kill();
  const leftBehind = await readFile(path.join(root, 'killed', LOCK_NAME), 'utf8');
  // And one in the plain format of earlier versions (no token), with a pid that has exited.
  const { pid: deadPid } = await deadProcess();
  const legacy = JSON.stringify({ pid: deadPid, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'run' });

  const rounds: Round[] = [];
  const stalePids: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const dir = path.join(root, `r${i}`);
    await mkdir(dir);
    const stalePid = i % 2 === 0 ? killed.pid : deadPid;
    await writeFile(path.join(dir, LOCK_NAME), i % 2 === 0 ? leftBehind : legacy);
    const round = await race(contenders, dir);
    rounds.push(round);
    stalePids.push(stalePid);
  }
  const { bad, doubles } = summary(rounds);
  t.diagnostic(`${ROUNDS} take-over rounds of ${contenders.length} processes: ${doubles} with two or more holders, ${bad.length} without exactly one`);
  assert.deepEqual(bad, [], 'rounds without exactly one holder');
  for (const [i, r] of rounds.entries()) {
    assert.deepEqual(r.answers.filter((a) => a.acquired).map((a) => a.tookOverFrom), [stalePids[i]], `round ${i}: the holder took over from the dead one`);
    for (const a of r.answers.filter((a) => !a.acquired)) assert.equal(a.holderPid, r.holders[0], `round ${i}: a loser names the holder: ${a.holder}`);
  }
});

test('a live holder is reported as held, with its pid; once it releases, the lock is free', async (t) => {
  const [holder] = await startContenders(t, 1);
  const dir = await tempDir(t, 'lock-live-');
  holder!.send({ cmd: 'acquire', dir });
  assert.equal((await holder!.next()).acquired, true);

  const second = await acquireLock(dir, 'run');
  assert.equal(second.status, 'held');
  assert.ok(second.status === 'held');
  assert.equal(second.holder.pid, holder!.pid);
  assert.equal(second.lockPath, path.join(dir, LOCK_NAME));
  assert.match(describeHolder(second.holder), new RegExp(`^pid ${holder!.pid} on ${os.hostname()}, started \\d{4}-.*\\(contender\\)$`));

  holder!.send({ cmd: 'release' });
  assert.equal((await holder!.next()).released, true);
  const third = await acquireLock(dir, 'run');
  assert.equal(third.status, 'acquired');
  assert.ok(third.status === 'acquired');
  assert.equal(third.tookOverFrom, undefined);
  assert.deepEqual(await readdir(dir), [LOCK_NAME], 'only the lock file, no temporary name');
  await third.release();
  assert.deepEqual(await readdir(dir), []);
});

test('an empty or unparsable lock file is held while fresh, taken over (and reported) once old', async (t) => {
  for (const content of ['', '{"pid": 12']) {
    const dir = await tempDir(t, 'lock-unreadable-');
    const lockPath = path.join(dir, LOCK_NAME);
    await writeFile(lockPath, content);
    const fresh = await acquireLock(dir, 'run');
    assert.equal(fresh.status, 'held', `fresh ${JSON.stringify(content)}`);
    assert.ok(fresh.status === 'held');
    assert.match(describeHolder(fresh.holder), /unreadable lock file: (empty|no holder in it), last modified 0 min ago; treated as held until 10 min old/);
    assert.equal(await readFile(lockPath, 'utf8'), content, 'left alone');

    const old = new Date(Date.now() - 11 * 60_000);
    await utimes(lockPath, old, old);
    const taken = await acquireLock(dir, 'run');
    assert.equal(taken.status, 'acquired', `old ${JSON.stringify(content)}`);
    assert.ok(taken.status === 'acquired');
    assert.match(describeHolder(taken.tookOverFrom!), /unreadable lock file: .*last modified 11 min ago/);
    assert.equal(JSON.parse(await readFile(lockPath, 'utf8')).pid, process.pid);
    await taken.release();
  }
});

test('release removes only a lock that is ours', async (t) => {
  const dir = await tempDir(t, 'lock-release-');
  const lockPath = path.join(dir, LOCK_NAME);
  const mine = await acquireLock(dir, 'run');
  assert.ok(mine.status === 'acquired');
  // Someone removed ours and another run took the lock: releasing must not remove theirs.
  const { pid } = await deadProcess();
  const theirs = JSON.stringify({ pid, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'run' });
  await writeFile(`${lockPath}.theirs`, theirs);
  await rename(`${lockPath}.theirs`, lockPath);
  await mine.release();
  assert.equal(await readFile(lockPath, 'utf8'), theirs);
});

test('a take-over claim left by a process killed mid-take-over does not block the lock forever', async (t) => {
  const dir = await tempDir(t, 'lock-claim-');
  const lockPath = path.join(dir, LOCK_NAME);
  const { pid } = await deadProcess();
  const stale = JSON.stringify({ pid, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'run' });
  await writeFile(lockPath, stale);
  // The claim a dead process took on that file (named as tasks/platform/lock.ts names it: inode + content).
  const ino = (await stat(lockPath, { bigint: true })).ino;
  const claim = `${lockPath}.claim-${createHash('sha256').update(`${ino}\n${stale}`).digest('hex').slice(0, 20)}`;
  const claimant = `${lockPath}.${pid}-0000.new`;
  await writeFile(claimant, JSON.stringify({ pid, host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', token: `${pid}-0000` }));
  await link(claimant, claim);

  const taken = await acquireLock(dir, 'run');
  assert.equal(taken.status, 'acquired');
  assert.ok(taken.status === 'acquired');
  assert.equal(taken.tookOverFrom?.pid, pid);
  assert.deepEqual(await readdir(dir), [LOCK_NAME], 'the dead process\'s claim and holder file are cleaned up');
  await taken.release();
});
