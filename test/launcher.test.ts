// scripts/ingest.mjs, the operator's command line, runs a cached esbuild bundle of the sources.
// A checkout is moved or copied the way `cp -a`, `rsync -a` and `mv` do it: every mtime kept and
// node_modules/.cache (the bundles) carried along. The bundle a start runs must be one of this
// checkout's sources, never one built for the old place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

/** A checkout's sources, as a start reads them. */
const SOURCES = ['Taskfile.ts', 'tasks', 'scripts', 'tsconfig.json', 'package.json'];
/** npm tarballs date every file 1985-10-26T08:15:00Z, and npm 6 and yarn 1 keep that mtime on install. */
const TARBALL_MTIME = new Date('1985-10-26T08:15:00Z');

function cpA(from: string[], to: string, cwd: string): void {
  const r = spawnSync('cp', ['-a', ...from, to], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/**
 * A checkout at `dir`: the sources copied with their mtimes; node_modules a folder of its own (so
 * its .cache moves with it), the packages linked to the project's, esbuild's package.json a copy.
 */
async function makeCheckout(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  cpA(SOURCES, dir, PROJECT_ROOT);
  const modules = path.join(PROJECT_ROOT, 'node_modules');
  await mkdir(path.join(dir, 'node_modules', 'esbuild'), { recursive: true });
  for (const name of await readdir(modules)) {
    if (name !== '.cache' && name !== 'esbuild') await symlink(path.join(modules, name), path.join(dir, 'node_modules', name));
  }
  for (const name of await readdir(path.join(modules, 'esbuild'))) {
    if (name !== 'package.json') await symlink(path.join(modules, 'esbuild', name), path.join(dir, 'node_modules', 'esbuild', name));
  }
  const esbuildPackage = path.join(dir, 'node_modules', 'esbuild', 'package.json');
  await copyFile(path.join(modules, 'esbuild', 'package.json'), esbuildPackage);
  await utimes(esbuildPackage, TARBALL_MTIME, TARBALL_MTIME);
}

/** The checkout's own launcher, from inside it, with the default bundle cache. */
function start(checkout: string, args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
  delete env.INGEST_BUNDLE_CACHE;
  const r = spawnSync(process.execPath, [path.join(checkout, 'scripts', 'ingest.mjs'), ...args], { cwd: checkout, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

const cacheOf = (checkout: string) => path.join(checkout, 'node_modules', '.cache', 'podcast-ingest-bundle');

/** Every bundle in the checkout's cache, each made an hour old: older than any start to come. */
async function ageBundles(checkout: string): Promise<string[]> {
  const names = await readdir(cacheOf(checkout));
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const name of names) await utimes(path.join(cacheOf(checkout), name), hourAgo, hourAgo);
  return names;
}

/** The bundle a start ran since ageBundles: each start marks its own as in use. */
async function bundleRun(checkout: string): Promise<string> {
  const recent = [];
  for (const name of await readdir(cacheOf(checkout))) {
    if ((await stat(path.join(cacheOf(checkout), name))).mtimeMs > Date.now() - 1800_000) recent.push(name);
  }
  assert.equal(recent.length, 1, `bundles used: ${recent.join(', ')}`);
  return path.join(cacheOf(checkout), recent[0]!);
}

async function bundleText(bundle: string): Promise<string> {
  const files = await readdir(bundle);
  assert.ok(files.includes('Taskfile.js'), files.join(', '));
  return (await Promise.all(files.map((file) => readFile(path.join(bundle, file), 'utf8')))).join('\n');
}

/** Whether `text` names anything inside `dir`, as a path or as a file URL. */
function names(text: string, dir: string): boolean {
  return text.includes(dir + path.sep) || text.includes(pathToFileURL(dir).href + '/');
}

test('a checkout moved with cp -a (mtimes and node_modules/.cache kept) runs a bundle of its own sources', async (t) => {
  const root = await tempDir(t, 'ingest-launcher-');
  const first = path.join(root, 'first');
  const moved = path.join(root, 'moved');
  const emptySites = path.join(root, 'no-sites');
  await mkdir(emptySites);
  await makeCheckout(first);

  const built = start(first, ['--version']);
  assert.equal(built.code, 0, built.output);
  assert.match(built.output, /^podcast-ingest \d/);
  assert.ok(names(await bundleText(await bundleRun(first)), first), 'the bundle locates its modules in the checkout');

  // mv of the project folder, as cp -a then removing the original.
  cpA([first], moved, root);
  await rm(first, { recursive: true, force: true });
  const [carried] = await ageBundles(moved);
  assert.ok(carried, 'the bundle moved along with node_modules/.cache');

  // A lazily loaded command, from the moved checkout.
  const sites = start(moved, ['sites', `--sites-root=${emptySites}`]);
  assert.equal(sites.code, 0, sites.output);
  assert.match(sites.output, new RegExp(`no sites under ${emptySites.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const ran = await bundleRun(moved);
  const text = await bundleText(ran);
  assert.ok(!names(text, first), `the bundle run from ${moved} names the old place ${first}`);
  assert.ok(names(text, moved), 'the bundle locates its modules in the moved checkout');
  assert.notEqual(path.basename(ran), carried, 'a new bundle, built for the new place');

  // Later starts reuse it.
  await ageBundles(moved);
  assert.equal(start(moved, ['--version']).code, 0);
  assert.equal(await bundleRun(moved), ran);
});

test('a new esbuild whose package.json keeps its size and its tarball mtime gets a new bundle', async (t) => {
  const checkout = path.join(await tempDir(t, 'ingest-launcher-'), 'checkout');
  await makeCheckout(checkout);
  assert.equal(start(checkout, ['--version']).code, 0);
  const [before] = await ageBundles(checkout);

  // Same length, same mtime: 0.28.2 -> 0.28.3 as npm 6 or yarn 1 would install it.
  const esbuildPackage = path.join(checkout, 'node_modules', 'esbuild', 'package.json');
  const manifest = await readFile(esbuildPackage, 'utf8');
  const version = (JSON.parse(manifest) as { version: string }).version;
  const bumped = version.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
  await writeFile(esbuildPackage, manifest.replace(`"version": "${version}"`, `"version": "${bumped}"`));
  await utimes(esbuildPackage, TARBALL_MTIME, TARBALL_MTIME);
  assert.equal((await stat(esbuildPackage)).size, Buffer.byteLength(manifest));

  assert.equal(start(checkout, ['--version']).code, 0);
  assert.notEqual(path.basename(await bundleRun(checkout)), before);
});
