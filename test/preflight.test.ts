// A broken machine fails before any site starts (issue 12): one line naming the thing and the
// fix, exit 2, nothing started (no request to S3, no feed fetched, no per-run log), and the run
// is still recorded. Also: an environment error is never reported as a bug in the runner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startFeedServer } from './helpers/feed-server.ts';
import { rssXml } from './helpers/rss-rig.ts';
import { syncRig, type SyncRig } from './helpers/sync-rig.ts';
import { tempDir } from './helpers/temp.ts';
import { runCli } from './helpers/cli.ts';
import { siteConfig, writeSite } from './helpers/sites.ts';
import { testModel, testWhisperCli } from './helpers/whisper.ts';

const ALL_STEPS = ['--skip=index'];

/** A site with a feed, and a machine where everything else is in order (a real model, whisper-cli). */
async function world(t: Parameters<typeof syncRig>[0]): Promise<{ rig: SyncRig; feedRequests: () => number }> {
  const feed = await startFeedServer(t);
  feed.set('/feed.xml', { body: rssXml('Show', []) });
  const env = { WHISPER_MODEL: await testModel(), WHISPER_CLI: testWhisperCli() };
  const rig = await syncRig(t, { siteId: 'pre', env, podcasts: [{ id: 'show', title: 'Show', url: feed.url('/feed.xml'), rssFeedFile: 'show.xml', status: 'active' }] });
  return { rig, feedRequests: () => feed.requests.length };
}

/** The run refused to start: exit 2, the expected line on stderr, nothing asked of S3 or the feed. */
async function assertRefused(rig: SyncRig, feedRequests: () => number, args: string[], env: NodeJS.ProcessEnv, line: RegExp): Promise<void> {
  const before = rig.s3.requests.length;
  const out = await runCli(['run', ...ALL_STEPS, ...args, `--sites-root=${rig.sitesRoot}`, `--local-root=${rig.localRoot}`, '--renderer=plain'], { env: { ...rig.env, ...env } });
  assert.equal(out.code, 2, out.stdout + out.stderr);
  assert.match(out.stderr, line);
  assert.equal(out.stderr.trim().split('\n').length, 2, `one line for the problem, one saying the run stopped: ${out.stderr}`);
  assert.equal(out.stdout, '', 'nothing else was printed');
  assert.equal(rig.s3.requests.length, before, 'no request to S3');
  assert.equal(feedRequests(), 0, 'no feed fetched');
}

test('ffmpeg missing from PATH: one line naming it and how to install it', async (t) => {
  const { rig, feedRequests } = await world(t);
  await assertRefused(rig, feedRequests, [], { PATH: '/nonexistent', FFMPEG: '' }, /^error: ffmpeg \(ffmpeg\): not found; install it \(Debian: apt-get install ffmpeg; macOS: brew install ffmpeg\) or set FFMPEG=/m);
  const history = (await readFile(path.join(rig.localRoot, '.runs', 'history.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(history.at(-1).exitCode, 2, 'recorded like any other run');
  assert.match(history.at(-1).refused, /^preflight: ffmpeg/);
  assert.deepEqual(await readdir(path.join(rig.localRoot, '.runs', 'logs')).catch(() => []), [], 'no run log: nothing started');
});

test('WHISPER_MODEL pointing at nothing fails tonight, not on the night an episode arrives', async (t) => {
  const { rig, feedRequests } = await world(t);
  await assertRefused(rig, feedRequests, [], { WHISPER_MODEL: '/nonexistent/ggml-base.en.bin' }, /^error: transcription: model file not found: WHISPER_MODEL=\/nonexistent\/ggml-base\.en\.bin$/m);
  const notAModel = path.join(rig.root, 'ggml-fake.bin');
  await writeFile(notAModel, 'this is not a model');
  await assertRefused(rig, feedRequests, [], { WHISPER_MODEL: notAModel }, /^error: Whisper model .*ggml-fake\.bin: not a ggml model file \(wrong magic number\); download/m);
});

test('.env.automation missing while a site has a role: exit 2 naming the file and the variables', async (t) => {
  const root = await tempDir(t, 'preflight-env-');
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, { ...siteConfig('roled'), automation: { accountId: '123456789012', region: 'us-east-1' } });
  const env = { INGEST_ENV_FILE: path.join(root, 'nowhere', '.env.automation'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_REGION: '' };
  const r = await runCli(['run', '--only=pre-sync', `--sites-root=${sitesRoot}`, `--local-root=${path.join(root, 'local')}`, '--renderer=plain'], { env });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: .*nowhere\/\.env\.automation not found; it must set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION \(the central automation user's credentials, needed to assume the role of 1 site\); copy \.env\.automation\.example/m);
  assert.doesNotMatch(r.stdout + r.stderr, /Could not load credentials/);
});

test('a full or read-only local root: exit 2 with the reason, never "a bug in the runner"', async (t) => {
  const { rig, feedRequests } = await world(t);
  await assertRefused(rig, feedRequests, ['--min-free=1000TB'], {}, /^error: local root .*: only .* free, below --min-free=1000 TB; free some space or lower --min-free$/m);
  // Its own folder, unmounted before anything tries to remove it.
  const ro = await mkdtemp(path.join(os.tmpdir(), 'read-only-'));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]).status !== 0) return t.skip('cannot mount a read-only tmpfs here (not root?)');
  t.after(async () => {
    spawnSync('umount', [ro]);
    await rm(ro, { recursive: true, force: true });
  });
  const r = await runCli(['run', ...ALL_STEPS, `--sites-root=${rig.sitesRoot}`, `--local-root=${path.join(ro, 'local')}`, '--renderer=plain'], { env: rig.env });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /^error: local root .*read-only-[^/]+\/local: cannot write there \(EROFS\); it is on a read-only file system: pass --local-root=DIR on a writable disk$/m);
  assert.doesNotMatch(r.stderr, /bug in the runner|at .*\.ts:\d+/);
});
