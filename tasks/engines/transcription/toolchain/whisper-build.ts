// whisper.cpp's whisper-cli, built from the source that the npm package nodejs-whisper ships
// (no prebuilt binary exists in npm or Debian). Built once per version into the cache:
//   ${XDG_CACHE_HOME:-~/.cache}/podcast-ingest/whisper.cpp-<version>-build/bin/whisper-cli
// The build happens in a temporary sibling folder that is renamed into place only after the
// binary runs, so a build killed halfway is never mistaken for a finished one.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** `${XDG_CACHE_HOME:-~/.cache}/podcast-ingest` */
export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'podcast-ingest');
}

/** The whisper.cpp source tree inside node_modules/nodejs-whisper, or undefined when not installed. */
export function whisperSourceDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('nodejs-whisper/package.json');
    const dir = path.join(path.dirname(pkg), 'cpp', 'whisper.cpp');
    return existsSync(path.join(dir, 'CMakeLists.txt')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** The version declared by `project("whisper.cpp" VERSION x.y.z)` in the source's CMakeLists.txt. */
export function whisperSourceVersion(sourceDir: string): string {
  const cmake = readFileSync(path.join(sourceDir, 'CMakeLists.txt'), 'utf8');
  const version = /project\("whisper\.cpp"\s+VERSION\s+([0-9.]+)\)/.exec(cmake)?.[1];
  if (!version) throw new Error(`cannot read the whisper.cpp version from ${sourceDir}/CMakeLists.txt`);
  return version;
}

export function buildDirFor(version: string): string {
  return path.join(cacheRoot(), `whisper.cpp-${version}-build`);
}

export function cachedCliFor(version: string): string {
  return path.join(buildDirFor(version), 'bin', 'whisper-cli');
}

/** The cached binary for the installed source's version, if it was built. */
export function cachedWhisperCli(): string | undefined {
  const source = whisperSourceDir();
  if (!source) return undefined;
  const cli = cachedCliFor(whisperSourceVersion(source));
  return existsSync(cli) ? cli : undefined;
}

/** True when `binary --help` runs (whisper-cli exits 0 and prints its usage). */
export function cliRuns(binary: string): boolean {
  const probe = spawnSync(binary, ['--help'], { encoding: 'utf8', timeout: 20_000 });
  return probe.status === 0 && /usage:/.test(`${probe.stdout}${probe.stderr}`);
}

/** Flags measured in ENVIRONMENT.md: static, CPU only, no tests/server/SDL/curl. */
const CMAKE_FLAGS = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DBUILD_SHARED_LIBS=OFF',
  '-DWHISPER_BUILD_TESTS=OFF',
  '-DWHISPER_BUILD_SERVER=OFF',
  '-DWHISPER_BUILD_EXAMPLES=ON',
  '-DWHISPER_SDL2=OFF',
  '-DWHISPER_CURL=OFF',
];

export type BuildOutcome =
  | { status: 'cached'; cli: string; version: string }
  | { status: 'built'; cli: string; version: string; seconds: number }
  | { status: 'failed'; message: string };

/** Run a command, passing progress lines ("[ 42%] ...") to `progress`; resolves with the exit code and output tail. */
function run(command: string, args: string[], progress: (line: string) => void): Promise<{ code: number | null; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let pending = '';
    const onData = (data: Buffer) => {
      const text = data.toString();
      tail = (tail + text).slice(-4000);
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) progress(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => resolve({ code: null, tail: String(error) }));
    child.on('close', (code) => resolve({ code, tail }));
  });
}

/** Remove temporary build folders left by killed builds (any version). */
async function removeStaleBuilds(root: string): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await readdir(root);
  } catch {
    return;
  }
  for (const name of entries) {
    if (name.startsWith('.whisper.cpp-') && name.endsWith('.partial')) await rm(path.join(root, name), { recursive: true, force: true });
  }
}

/** Build whisper-cli for the installed source unless the cache already holds it. */
export async function ensureWhisperBuild(say: (line: string) => void): Promise<BuildOutcome> {
  const source = whisperSourceDir();
  if (!source) return { status: 'failed', message: 'the whisper.cpp source (npm package nodejs-whisper) is not installed: run `npm install`' };
  const version = whisperSourceVersion(source);
  const cli = cachedCliFor(version);
  if (existsSync(cli) && cliRuns(cli)) return { status: 'cached', cli, version };

  for (const tool of ['cmake', 'c++']) {
    if (spawnSync(tool, ['--version']).status !== 0) {
      return {
        status: 'failed',
        message:
          `building whisper.cpp ${version} needs ${tool}: Debian/Ubuntu \`sudo apt-get install cmake build-essential\`; ` +
          'macOS `xcode-select --install && brew install cmake`; or set WHISPER_CLI to an existing whisper-cli',
      };
    }
  }

  const root = cacheRoot();
  await mkdir(root, { recursive: true });
  await removeStaleBuilds(root);
  // A killed build leaves only this folder, which the next set-up removes.
  const temp = path.join(root, `.whisper.cpp-${version}-build.${process.pid}.partial`);
  await rm(buildDirFor(version), { recursive: true, force: true }); // present but not runnable: rebuild
  const started = Date.now();
  say(`building whisper.cpp ${version} from ${path.relative(process.cwd(), source)} (about 3-4 minutes, once per version)...`);
  let lastShown = -10;
  const progress = (line: string) => {
    const percent = Number(/^\[\s*(\d+)%\]/.exec(line)?.[1] ?? NaN);
    if (Number.isFinite(percent) && percent >= lastShown + 10) {
      lastShown = percent;
      say(`  whisper.cpp build ${percent}%`);
    }
  };
  try {
    const configure = await run('cmake', ['-S', source, '-B', temp, ...CMAKE_FLAGS], progress);
    if (configure.code !== 0) return { status: 'failed', message: `cmake configure failed (exit ${configure.code}): ${configure.tail.slice(-1500)}` };
    const jobs = String(Math.max(1, os.availableParallelism()));
    const build = await run('cmake', ['--build', temp, '--target', 'whisper-cli', '--config', 'Release', '-j', jobs], progress);
    if (build.code !== 0) return { status: 'failed', message: `cmake build failed (exit ${build.code}): ${build.tail.slice(-1500)}` };
    if (!cliRuns(path.join(temp, 'bin', 'whisper-cli'))) return { status: 'failed', message: `the built ${temp}/bin/whisper-cli does not run` };
    await rename(temp, buildDirFor(version));
    return { status: 'built', cli, version, seconds: Math.round((Date.now() - started) / 1000) };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
