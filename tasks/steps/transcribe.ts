// The transcribe step: every audio file without a transcript becomes an SRT (ffmpeg decodes,
// whisper.cpp transcribes; tasks/engines/transcription/ holds the pieces). Episodes share the CPU limiter
// with every other site: each whisper job holds `threads` slots, so jobs x threads stays at the
// core count. A bad audio file fails its episode only; an interrupt kills the children and
// leaves no partial SRT and no temporary folder.
import { access } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PreSyncOutput, RssOutput, StepContext, StepResult, TranscribeOutput } from './contract.ts';
import type { S3Key, StepError } from '../platform/types.ts';
import { resolveWhisperTools } from '../engines/transcription/toolchain/whisper.ts';
import { planTranscription, type TranscriptionItem } from '../engines/transcription/plan.ts';
import { loadSpellingRules } from '../engines/transcription/spelling.ts';
import type { EpisodeOutcome } from '../engines/transcription/episode.ts';
import { unreachable } from '../platform/errors.ts';
import { dueForRetry, readSiteState, recordFailure, writeSiteState } from '../site/site-state.ts';
import { reportAttention } from './attention.ts';
import { ProgressTracker } from '../engines/transcription/progress.ts';
import { mapPool } from '../platform/limiter.ts';
import { workRootFor } from '../platform/atomic.ts';

/**
 * Threads per whisper job when WHISPER_THREADS is unset and several episodes are queued.
 * bench/transcribe.ts on 2 cores (tiny-shaped model, 4 queued files of 90 s of speech):
 * 2 jobs x 1 thread gave 3.41 audio s per wall s, 1 job x 2 threads 2.72 (+25% for 2 x 1):
 * whisper.cpp's threads synchronise per layer, separate jobs never wait for each other.
 */
export const DEFAULT_THREADS_PER_JOB = 1;
/** Chunk length in seconds when WHISPER_CHUNK_SECONDS is unset (a long episode = several whisper runs). */
export const DEFAULT_CHUNK_SECONDS = 600;

/**
 * Threads for each whisper job: WHISPER_THREADS if set; else one per job when there are at
 * least as many episodes as cores, and the cores shared among them when there are fewer (one
 * long episode alone gets every core: -t 1 is about 1.6x slower than -t 2 on a single file).
 */
export function threadsPerJob(capacity: number, queued: number): number {
  const cores = Math.max(1, Math.min(capacity, os.availableParallelism()));
  const wanted = Number(process.env.WHISPER_THREADS) || Math.max(DEFAULT_THREADS_PER_JOB, Math.floor(cores / Math.max(1, Math.min(queued, cores))));
  return Math.max(1, Math.min(Math.floor(wanted), cores));
}

function chunkMs(): number {
  const seconds = Number(process.env.WHISPER_CHUNK_SECONDS);
  return Math.round((Number.isFinite(seconds) && seconds >= 5 ? seconds : DEFAULT_CHUNK_SECONDS) * 1000);
}

function failed(ctx: StepContext, message: string, created: S3Key[], errors: StepError[] = [], transcriptsMade = 0): StepResult<TranscribeOutput> {
  return {
    status: 'failed',
    message,
    counts: { transcriptsMade },
    errors: errors.length > 0 ? errors : [{ site: ctx.site.id, step: 'transcribe', message }],
    fatal: false,
    output: { created },
  };
}

/**
 * Audio that this run put in place (or, in a dry run, would have): pre-sync's downloads and
 * rss's new episodes. A dry run plans their transcription too, as the real run would do it.
 */
function audioMadeThisRun(ctx: StepContext, input: { preSync?: PreSyncOutput; rss?: RssOutput }): TranscriptionItem[] {
  const keys = new Set<string>([...(input.preSync?.downloaded ?? []), ...(input.rss?.created ?? [])]);
  const items: TranscriptionItem[] = [];
  for (const key of keys) {
    const m = /^audio\/([^/]+)\/([^/]+)\.mp3$/.exec(key);
    if (!m) continue;
    const [, podcastId, fileKey] = m as unknown as [string, string, string];
    const srtKey = `transcripts/${podcastId}/${fileKey}.srt` as S3Key;
    if (keys.has(srtKey)) continue;
    items.push({ podcastId, fileKey, audioKey: key as S3Key, audioPath: path.join(ctx.site.localDir, key), srtKey, srtPath: path.join(ctx.site.localDir, srtKey) });
  }
  return items;
}

export async function transcribe(ctx: StepContext, input: { preSync?: PreSyncOutput; rss?: RssOutput }): Promise<StepResult<TranscribeOutput>> {
  const created: S3Key[] = [];
  const plan = await planTranscription(ctx.site.localDir);
  if (ctx.dryRun) {
    // Files a real run would have on disk by now are planned as well.
    const planned = new Set(plan.todo.map((i) => i.srtKey));
    for (const item of audioMadeThisRun(ctx, input)) if (!planned.has(item.srtKey) && !(await exists(item.srtPath))) plan.todo.push(item);
  }
  for (const s of plan.superseded) ctx.log.info(`skipping ${s.audioKey}: the manifest has a newer download (${s.newerFileKey})`);
  // An episode whose transcription keeps failing is tried less and less often (tasks/site/site-state.ts).
  const { state } = await readSiteState(ctx.localRoot, ctx.site.id);
  const stateBefore = JSON.stringify(state);
  const backingOff = plan.todo.filter((item) => !dueForRetry(state, `${item.podcastId}/${item.fileKey}`, 'transcribe'));
  if (backingOff.length > 0) {
    plan.todo = plan.todo.filter((item) => !backingOff.includes(item));
    ctx.log.info(`${backingOff.length} transcription${backingOff.length === 1 ? '' : 's'} that kept failing left for a later run (backoff)`);
  }
  reportAttention(ctx, state, 'transcribe');
  const saveState = async () => {
    if (!ctx.dryRun && JSON.stringify(state) !== stateBefore) await writeSiteState(ctx.localRoot, state);
  };
  if (plan.todo.length === 0) {
    const message = backingOff.length > 0 ? `${backingOff.length} failing transcriptions left for a later run (backoff)` : `every audio file has a transcript (${plan.done})`;
    return { status: 'up-to-date', message, counts: {}, errors: [], output: { created } };
  }

  const tools = resolveWhisperTools();
  if (!tools.ok) return failed(ctx, `cannot transcribe ${plan.todo.length} episodes: ${tools.message}`, created);
  // The run warns once that the model has random weights (tasks/commands/run.ts), not every site.
  const spelling = await loadSpellingRules(ctx.site.configDir);
  if (!spelling.ok) return failed(ctx, `spelling corrections: ${spelling.message}`, created);

  // Loaded only when there is work: zx and the audio code are not needed for an up-to-date site.
  const { transcribeEpisode } = await import('../engines/transcription/episode.ts');
  const { probeDurationMs } = await import('../engines/transcription/audio.ts');
  const threads = threadsPerJob(ctx.limits.cpu.capacity, plan.todo.length);
  // Container durations give the progress total up front (a file ffprobe cannot read counts 0 and fails below).
  // A dry run transcribes nothing, so it needs no durations.
  const expected = ctx.options.dryRun ? plan.todo.map(() => undefined) : await mapPool(plan.todo, 4, (item) => probeDurationMs(item.audioPath, ctx.signal));
  const progress = new ProgressTracker(
    expected.map((ms) => ms ?? 0),
    (text) => ctx.log.activity(text),
  );
  ctx.log.info(`${plan.todo.length} episodes to transcribe, ${threads} thread${threads === 1 ? '' : 's'} per whisper job, model ${tools.model}`);

  const errors: StepError[] = [];
  let made = 0;
  let planned = 0;
  let started = 0;
  const runOne = async (item: TranscriptionItem, index: number): Promise<void> => {
    const outcome = await ctx.effect({ kind: 'transcribe', target: item.srtKey, reason: `${item.audioKey} has no transcript` }, () => {
      // Other sites' transcriptions hold the CPU: say so, rather than look busy.
      if (started === 0 && ctx.limits.cpu.wouldWait(threads)) ctx.log.activity(`queued: ${plan.todo.length} episode${plan.todo.length === 1 ? '' : 's'} waiting for the CPU (${ctx.limits.cpu.waiting + 1} jobs in line)`);
      return ctx.limits.cpu.use(
        async (): Promise<EpisodeOutcome> => {
          started++;
          progress.start(index);
          ctx.log.debug(`transcribing ${item.audioKey}`);
          return transcribeEpisode(
            item,
            {
              cli: tools.cli,
              model: tools.model,
              randomWeights: tools.randomWeights,
              threads,
              prompt: ctx.site.whisperPrompt,
              chunkMs: chunkMs(),
              spelling: spelling.rules,
              signal: ctx.signal,
              workRoot: workRootFor(ctx.localRoot, ctx.site.id),
              onProgress: (doneMs, totalMs) => progress.update(index, doneMs, totalMs),
              debug: (message) => ctx.log.debug(message),
            },
            expected[index],
          );
        },
        { weight: threads, signal: ctx.signal },
      );
    });
    if (outcome === undefined) {
      planned++;
      created.push(item.srtKey);
      return;
    }
    progress.finish(index);
    switch (outcome.kind) {
      case 'written':
        made++;
        created.push(item.srtKey);
        delete state.failing[`${item.podcastId}/${item.fileKey}`];
        ctx.log.info(
          `${item.srtKey}: ${outcome.cues} cues from ${(outcome.durationMs / 1000).toFixed(1)} s of audio in ${outcome.chunks} chunk(s)` +
            (outcome.replacements > 0 ? `, ${outcome.replacements} spelling corrections` : ''),
        );
        break;
      case 'failed':
        ctx.log.error(`${item.audioKey}: ${outcome.message}`);
        errors.push({ site: ctx.site.id, step: 'transcribe', subject: item.audioKey, message: outcome.message, code: outcome.code });
        recordFailure(state, `${item.podcastId}/${item.fileKey}`, 'transcribe', outcome.message);
        break;
      default:
        unreachable(outcome);
    }
  };

  try {
    await Promise.all(plan.todo.map((item, index) => runOne(item, index)));
  } finally {
    progress.stop();
    await saveState();
  }
  ctx.signal.throwIfAborted();

  if (ctx.dryRun) return { status: 'ok', message: `would transcribe ${planned} episodes`, counts: { transcriptsMade: 0 }, errors: [], output: { created } };
  const summary = `transcribed ${made} of ${plan.todo.length} episodes (${progress.describeTotal()} of audio)`;
  if (errors.length > 0) return failed(ctx, `${summary}; ${errors.length} failed`, created, errors, made);
  return { status: 'ok', message: summary, counts: { transcriptsMade: made }, errors: [], output: { created } };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
