// The live tree as an operator sees it: the real CLI in a real terminal (tmux) at 80x24 and
// 120x30, three sites (one downloads an episode, one's feed is gone, one's config is broken).
// The final screen, scrollback included, is compared with a golden file once times, ports and
// temporary paths are replaced by placeholders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROJECT_ROOT } from './helpers/cli.ts';
import { startFeedServer } from './helpers/feed-server.ts';
import { assertGolden, normalizeOutput } from './helpers/golden.ts';
import { rssXml } from './helpers/rss-rig.ts';
import { siteConfig, writeSite } from './helpers/sites.ts';
import { tempDir } from './helpers/temp.ts';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/**
 * Run `command` in a tmux pane of the given size and return the final screen (scrollback
 * included). `interruptWhen`: press Ctrl-C once the screen matches it.
 */
async function screenOf(command: string, cols: number, rows: number, cwd: string, interruptWhen?: RegExp): Promise<string> {
  const session = `ingest-golden-${process.pid}-${cols}`;
  const env = { ...process.env, TERM: 'xterm-256color', FORCE_COLOR: '1' };
  spawnSync('tmux', ['kill-session', '-t', session], { env });
  const started = spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', String(cols), '-y', String(rows), `cd '${cwd}' && ${command}; echo "[exit $?]"; sleep 60`], { env });
  assert.equal(started.status, 0, String(started.stderr));
  let interrupted = false;
  try {
    for (let i = 0; i < 600; i++) {
      const screen = spawnSync('tmux', ['capture-pane', '-p', '-J', '-S', '-500', '-t', session], { env, encoding: 'utf8' }).stdout;
      if (/\[exit \d+\]/.test(screen)) return screen;
      if (interruptWhen && !interrupted && interruptWhen.test(screen)) {
        spawnSync('tmux', ['send-keys', '-t', session, 'C-c'], { env });
        interrupted = true;
      }
      await sleep(100);
    }
    throw new Error('the run did not finish within 60 s');
  } finally {
    spawnSync('tmux', ['kill-session', '-t', session], { env });
  }
}

for (const [cols, rows] of [
  [80, 24],
  [120, 30],
] as const) {
  test(`live tree at ${cols}x${rows}: a site that downloads, a failed feed, a broken config`, { skip: !hasTmux && 'tmux is not installed (scripts/install-test-services.sh installs it)' }, async (t) => {
    const root = await tempDir(t, 'tree-golden-');
    const server = await startFeedServer(t);
    server.set('/audio/one.mp3', { body: randomBytes(200_000), etag: '"one"', range: true });
    server.set('/feed.xml', { body: rssXml('Good', [{ title: 'The first episode of a show with a long name', guid: 'one', pubDate: '2024-05-05T05:05:05Z', url: server.url('/audio/one.mp3') }]) });
    server.set('/gone.xml', { status: 404, body: 'not here' });
    const sitesRoot = path.join(root, 'sites');
    const podcast = (id: string, url: string) => ({ id, title: id, url, rssFeedFile: `${id}.xml`, status: 'active' });
    await writeSite(sitesRoot, siteConfig('good', { podcasts: [podcast('show', server.url('/feed.xml'))] }));
    await writeSite(sitesRoot, siteConfig('gone', { podcasts: [podcast('lost', server.url('/gone.xml'))] }));
    await mkdir(path.join(sitesRoot, 'broken'), { recursive: true });
    await writeFile(path.join(sitesRoot, 'broken', 'site.config.json'), '{ "id": "broken", "includedPodcasts": [ }\n');
    // rss only, on the local manifest: no bucket is needed to draw the tree.
    const command = `node '${path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs')}' run --only=rss --sync-folders=audio,rss --sites-root=sites --local-root=local --concurrency=2`;
    const screen = await screenOf(command, cols, rows, root);
    const normalized = normalizeOutput(screen, [
      [root, '<dir>'],
      [/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>'],
      [/--\d{13}/g, '--<ms>'],
    ]).trimEnd();
    assertGolden(`tree-${cols}x${rows}.txt`, normalized + '\n');
    // What the operator must see, whatever the golden says.
    assert.match(normalized, /✖ gone: rss: \[HTTP 404\] feed of "lost" at http/);
    assert.match(normalized, /✔ good: 1 new episode \(195 KB of audio\)/);
    assert.match(normalized, /broken: configuration error/);
    assert.match(normalized, /\[exit 1\]/);
    // The tree fits the terminal (the summary's lines below it are cut to the width as well).
    const tree = normalized.slice(0, normalized.indexOf('\nSummary'));
    for (const line of tree.split('\n')) assert.ok(line.length <= cols, `a tree line wider than the terminal: ${line}`);
  });
}

test('--verbose in a terminal shows the debug lines too', { skip: !hasTmux && 'tmux is not installed' }, async (t) => {
  const root = await tempDir(t, 'tree-verbose-');
  const server = await startFeedServer(t);
  server.set('/feed.xml', { body: rssXml('Empty', []) });
  await writeSite(path.join(root, 'sites'), siteConfig('quiet', { podcasts: [{ id: 'show', title: 'show', url: server.url('/feed.xml'), rssFeedFile: 'show.xml', status: 'active' }] }));
  const base = `node '${path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs')}' run --only=rss --sync-folders=audio,rss --sites-root=sites --local-root=local`;
  const plain = normalizeOutput(await screenOf(base, 100, 30, root));
  const verbose = normalizeOutput(await screenOf(`${base} --verbose`, 100, 30, root));
  assert.doesNotMatch(plain, /DEBUG/);
  assert.match(verbose, /DEBUG \[quiet\] \[rss\] started/);
});

test('NO_COLOR: no colour codes in a terminal; without it, colours', async (t) => {
  const root = await tempDir(t, 'no-color-');
  const server = await startFeedServer(t);
  server.set('/gone.xml', { status: 404, body: 'no' });
  await writeSite(path.join(root, 'sites'), siteConfig('plainly', { podcasts: [{ id: 'show', title: 'show', url: server.url('/gone.xml'), rssFeedFile: 'show.xml', status: 'active' }] }));
  const command = `node '${path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs')}' run --only=rss --sync-folders=audio,rss --sites-root=sites --local-root=local`;
  const inTerminal = (env: NodeJS.ProcessEnv) => spawnSync('script', ['-qec', `stty cols 100 rows 30; ${command}`, '/dev/null'], { cwd: root, env: { ...process.env, TERM: 'xterm-256color', ...env }, encoding: 'utf8', timeout: 60_000 }).stdout;
  const colour = /\x1b\[(3\d|9\d|1)m/;
  assert.match(inTerminal({}), colour, 'colours by default in a terminal');
  assert.doesNotMatch(inTerminal({ NO_COLOR: '1' }), colour, 'none with NO_COLOR');
});

for (const [cols, rows] of [
  [80, 24],
  [120, 30],
] as const) {
  test(`live tree at ${cols}x${rows}, Ctrl-C during a download: a failed site, the downloading one stops, the queued one never starts`, { skip: !hasTmux && 'tmux is not installed' }, async (t) => {
    const root = await tempDir(t, 'tree-interrupt-');
    const server = await startFeedServer(t);
    // About 20 s for the whole body: the interrupt lands mid-download.
    server.set('/audio/long.mp3', { body: randomBytes(2_000_000), etag: '"long"', range: true, trickle: { chunkBytes: 10_000, intervalMs: 100 } });
    server.set('/slow.xml', { body: rssXml('Slow', [{ title: 'A long episode', guid: 'long', pubDate: '2024-05-05T05:05:05Z', url: server.url('/audio/long.mp3') }]) });
    server.set('/gone.xml', { status: 404, body: 'not here' });
    server.set('/later.xml', { body: rssXml('Later', []) });
    const sitesRoot = path.join(root, 'sites');
    const podcast = (id: string, url: string) => ({ id, title: id, url, rssFeedFile: `${id}.xml`, status: 'active' });
    await writeSite(sitesRoot, siteConfig('a-gone', { podcasts: [podcast('lost', server.url('/gone.xml'))] }));
    await writeSite(sitesRoot, siteConfig('b-slow', { podcasts: [podcast('show', server.url('/slow.xml'))] }));
    await writeSite(sitesRoot, siteConfig('c-queued', { podcasts: [podcast('later', server.url('/later.xml'))] }));
    const command = `node '${path.join(PROJECT_ROOT, 'scripts', 'ingest.mjs')}' run --only=rss --sync-folders=audio,rss --sites-root=sites --local-root=local --concurrency=1`;
    const screen = await screenOf(command, cols, rows, root, /downloading A_long_episode|downloading 2024-05-05/);
    const normalized = normalizeOutput(screen, [
      [root, '<dir>'],
      [/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>'],
      [/--\d{13}/g, '--<ms>'],
    ]).trimEnd();
    assertGolden(`tree-interrupt-${cols}x${rows}.txt`, normalized + '\n');
    assert.match(normalized, /✖ a-gone: rss: \[HTTP 404\]/);
    assert.match(normalized, /b-slow: rss: interrupted/);
    assert.match(normalized, /↓ c-queued: not run \(interrupted before this site started\)/);
    assert.doesNotMatch(normalized, /✔ c-queued/, 'a site that never started is not done');
    assert.match(normalized, /warning: \[all\] \[run\] received SIGINT: stopping/);
    assert.match(normalized, /\[exit 130\]/);
    // The tree fits; warnings below it wrap rather than lose their words.
    const tree = normalized.slice(0, normalized.indexOf('\nwarning:'));
    for (const line of tree.split('\n')) assert.ok(line.length <= cols, `a tree line wider than the terminal: ${line}`);
  });
}
