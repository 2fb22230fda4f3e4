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

async function screenOf(command: string, cols: number, rows: number, cwd: string): Promise<string> {
  const session = `ingest-golden-${process.pid}-${cols}`;
  const env = { ...process.env, TERM: 'xterm-256color', FORCE_COLOR: '1' };
  spawnSync('tmux', ['kill-session', '-t', session], { env });
  const started = spawnSync('tmux', ['new-session', '-d', '-s', session, '-x', String(cols), '-y', String(rows), `cd '${cwd}' && ${command}; echo "[exit $?]"; sleep 60`], { env });
  assert.equal(started.status, 0, String(started.stderr));
  try {
    for (let i = 0; i < 600; i++) {
      const screen = spawnSync('tmux', ['capture-pane', '-p', '-J', '-S', '-500', '-t', session], { env, encoding: 'utf8' }).stdout;
      if (/\[exit \d+\]/.test(screen)) return screen;
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
    assert.match(normalized, /✖ gone: failed in rss \(1 error\)/);
    assert.match(normalized, /✔ good: ok · 1 episodes added, 1 audio downloaded/);
    assert.match(normalized, /broken: configuration error/);
    assert.match(normalized, /\[exit 1\]/);
    // The tree fits the terminal (the summary below it is issue 12's compact table).
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
