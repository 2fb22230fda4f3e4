// Whisper test fixtures: the random-weight model (generated once into the cache, shared by
// every test file), the whisper-cli that set-up built, synthetic audio made by ffmpeg, and a
// local site folder holding audio (no bucket needed when only the transcribe step runs).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureRandomModel } from '../../tasks/engines/transcription/toolchain/whisper-models.ts';
import { cachedWhisperCli } from '../../tasks/engines/transcription/toolchain/whisper-build.ts';
import { writeSite } from './sites.ts';
import { FIXTURES } from './fixtures.ts';

export const CORPUS_AUDIO = path.join(FIXTURES, 'audio');

/** The random-weight model used by the tests (few MB; generated in about a second if missing). */
export function testModel(): Promise<string> {
  return ensureRandomModel();
}

/** whisper-cli from WHISPER_CLI or the set-up's cache; a missing one fails the test with what to do. */
export function testWhisperCli(): string {
  const cli = process.env.WHISPER_CLI || cachedWhisperCli();
  if (!cli || !existsSync(cli)) throw new Error('whisper-cli is not built: run `npm run setup -- --for=test` (or `npm test`, which runs it)');
  return cli;
}

/**
 * Tone bursts with a silence of `silenceSeconds` every `periodSeconds`, as MP3: long audio whose
 * cut points are known. `noise` adds a quiet noise floor so not every gap is digital silence.
 */
export function makeToneAudio(file: string, seconds: number, options: { periodSeconds?: number; silenceSeconds?: number } = {}): void {
  const period = options.periodSeconds ?? 25;
  const silence = options.silenceSeconds ?? 1.5;
  const expr = `0.4*sin(2*PI*(300+200*mod(floor(t/${period})\\,3))*t)*gt(mod(t\\,${period})\\,${silence})`;
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `aevalsrc=${expr}:s=16000:d=${seconds}`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', '-y', file]);
}

/** Uninterrupted noise (no silence anywhere): every cut is a hard cut. */
export function makeNoiseAudio(file: string, seconds: number): void {
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `anoisesrc=d=${seconds}:c=pink:r=16000:a=0.3`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', '-y', file]);
}

export interface LocalSite {
  sitesRoot: string;
  localRoot: string;
  siteDir: string;
  configDir: string;
}

/** A site whose mirror holds audio only; its bucket endpoint is unreachable on purpose (never used). */
export async function localSite(root: string, id = 'tsite', extra: Record<string, unknown> = {}): Promise<LocalSite> {
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  const configDir = await writeSite(sitesRoot, {
    id,
    includedPodcasts: [],
    whisperTranscriptionPrompt: 'Speeches and talks.',
    automation: { bucket: `${id}-bucket`, endpoint: 'http://127.0.0.1:9' },
    ...extra,
  });
  const siteDir = path.join(localRoot, 'sites', id);
  await mkdir(siteDir, { recursive: true });
  return { sitesRoot, localRoot, siteDir, configDir };
}

export async function addAudio(site: LocalSite, podcastId: string, fileKey: string, source: string): Promise<string> {
  const dir = path.join(site.siteDir, 'audio', podcastId);
  await mkdir(dir, { recursive: true });
  const target = path.join(dir, `${fileKey}.mp3`);
  await copyFile(source, target);
  return target;
}

/** Work folders of the transcribe step left in `tmp` (the CLI runs with TMPDIR=tmp; tsx keeps its cache there too). */
/** The whisper work folders of a site (they live under `<localRoot>/.work/<site>/`). */
export async function workDirsIn(site: LocalSite, id = 'tsite'): Promise<string[]> {
  return (await readdir(path.join(site.localRoot, '.work', id)).catch(() => [] as string[])).filter((name) => name.startsWith('whisper-'));
}

/** Every file under `dir` (relative paths), dot-files included. */
export async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
  } catch {
    return [];
  }
}
