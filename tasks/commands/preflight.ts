// Preflight (ARCHITECTURE.md "Errors, retries and exit codes"): before any site starts, check what
// the selected steps will need on this machine, so a broken machine fails at once with one line
// per problem naming the thing and the fix (exit 2), instead of failing every episode, or only
// on the night an episode arrives. Nothing is written but a probe file in the local root.
import { spawnSync } from 'node:child_process';
import { mkdir, open, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AutomationEnv } from '../aws/env.ts';
import { automationEnvProblem } from '../aws/env.ts';
import { resolveWhisperTools } from '../engines/transcription/toolchain/whisper.ts';
import { ffmpegPath } from '../engines/transcription/toolchain/ffmpeg.ts';
import { formatBytes } from '../platform/format.ts';
import type { StepName } from '../platform/types.ts';
import type { SiteConfig } from '../site/site-config.ts';

export interface PreflightInput {
  localRoot: string;
  minFreeBytes: number;
  steps: readonly StepName[];
  sites: readonly SiteConfig[];
  env: AutomationEnv;
}

/** Every problem found, one line each ("<what>: <problem>; <fix>"); empty when the machine is ready. */
export async function preflight(input: PreflightInput): Promise<string[]> {
  const problems: string[] = [];
  problems.push(...(await checkLocalRoot(input.localRoot, input.minFreeBytes)));
  if (input.steps.includes('transcribe') && input.sites.some((s) => s.podcasts.length > 0)) problems.push(...(await checkTranscription()));
  const envProblem = automationEnvProblem(input.env, input.sites.filter((s) => s.automation.roleArn).length);
  if (envProblem) problems.push(`${envProblem}; copy .env.automation.example to .env.automation and fill it in`);
  return problems;
}

async function checkLocalRoot(localRoot: string, minFreeBytes: number): Promise<string[]> {
  const where = path.resolve(localRoot);
  try {
    await mkdir(where, { recursive: true });
    const probe = path.join(where, `.preflight-${process.pid}.partial`);
    await writeFile(probe, 'probe');
    await rm(probe, { force: true });
  } catch (failure) {
    const error = await realCause(where, failure);
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const fix = code === 'ENOSPC' ? 'free some space' : code === 'EROFS' ? 'it is on a read-only file system: pass --local-root=DIR on a writable disk' : 'fix its permissions or pass --local-root=DIR';
    return [`local root ${where}: cannot write there (${code}); ${fix}`];
  }
  try {
    const fs = await statfs(where);
    const free = Number(fs.bavail) * Number(fs.bsize);
    if (free < minFreeBytes) return [`local root ${where}: only ${formatBytes(free)} free, below --min-free=${formatBytes(minFreeBytes)}; free some space or lower --min-free`];
  } catch {
    // statfs is not available everywhere: the write probe above already succeeded.
  }
  return [];
}

/**
 * A recursive mkdir under a read-only or forbidden folder can report ENOENT: make the first
 * missing folder alone to get the error the file system really gives.
 */
async function realCause(where: string, error: unknown): Promise<unknown> {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return error;
  let missing = where;
  while (path.dirname(missing) !== missing && !(await exists(path.dirname(missing)))) missing = path.dirname(missing);
  try {
    await mkdir(missing);
    await rm(missing, { recursive: true, force: true });
    return error;
  } catch (cause) {
    return cause;
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** ffmpeg and ffprobe answer, whisper-cli exists, and the model file is a ggml model. */
async function checkTranscription(): Promise<string[]> {
  const problems: string[] = [];
  const ffmpeg = ffmpegPath();
  const probe = spawnSync(ffmpeg, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.error || probe.status !== 0) {
    const why = (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'not found' : `does not run (${probe.error?.message ?? `exit ${probe.status}`})`;
    problems.push(`ffmpeg (${ffmpeg}): ${why}; install it (Debian: apt-get install ffmpeg; macOS: brew install ffmpeg) or set FFMPEG=/path/to/ffmpeg`);
  }
  const tools = resolveWhisperTools();
  if (!tools.ok) {
    problems.push(`transcription: ${tools.message}`);
    return problems;
  }
  const model = await readMagic(tools.model);
  if (model !== 'ggml') problems.push(`Whisper model ${tools.model}: ${model}; download a ggml-<name>.bin model again (npm run setup with WHISPER_MODEL=<name>)`);
  return problems;
}

/** 'ggml' when the file starts with the ggml magic (0x67676d6c, little-endian), else what is wrong. */
async function readMagic(file: string): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const head = Buffer.alloc(4);
      const { bytesRead } = await handle.read(head, 0, 4, 0);
      if (bytesRead < 4) return 'the file is empty or truncated';
      return head.readUInt32LE(0) === 0x67676d6c ? 'ggml' : 'not a ggml model file (wrong magic number)';
    } finally {
      await handle.close();
    }
  } catch (error) {
    return `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}
