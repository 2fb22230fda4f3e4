// The transcribe step: every audio file without a transcript becomes an SRT (ffmpeg decodes,
// whisper.cpp transcribes; tasks/transcribe/ holds the pieces). Episodes share the CPU limiter
// with every other site: each whisper job holds `threads` slots, so jobs x threads stays at the
// core count. A bad audio file fails its episode only; an interrupt kills the children and
// leaves no partial SRT and no temporary folder.
import os from 'node:os';
import type { StepContext, StepFunction } from './context.ts';
import { upToDate, type StepError, type StepResult } from './types.ts';
import { HOW_TO_GET_A_MODEL, resolveWhisperTools } from './toolchain/whisper.ts';
import { planTranscription, type TranscriptionItem } from './transcribe/plan.ts';
import { loadSpellingRules } from './transcribe/spelling.ts';
import type { EpisodeOutcome } from './transcribe/episode.ts';
import { ProgressTracker } from './transcribe/progress.ts';
import { mapPool } from './limiter.ts';

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

function failed(ctx: StepContext, message: string, errors: StepError[] = [], transcriptsMade = 0): StepResult {
  return {
    status: 'failed',
    message,
    counts: { transcriptsMade },
    errors: errors.length > 0 ? errors : [{ site: ctx.site.id, step: 'transcribe', message }],
    fatal: false,
  };
}

export const transcribe: StepFunction = async (ctx) => {
  const plan = await planTranscription(ctx.site.localDir);
  for (const s of plan.superseded) ctx.log.info(`skipping ${s.audioKey}: the manifest has a newer download (${s.newerFileKey})`);
  if (plan.todo.length === 0) return upToDate(`every audio file has a transcript (${plan.done})`);

  const tools = resolveWhisperTools();
  if (!tools.ok) return failed(ctx, `cannot transcribe ${plan.todo.length} episodes: ${tools.message}`);
  if (tools.randomWeights) ctx.log.warn(`transcribing with a RANDOM-WEIGHT model (${tools.model}): the text is gibberish. ${HOW_TO_GET_A_MODEL}`);
  const spelling = await loadSpellingRules(ctx.site.configDir);
  if (!spelling.ok) return failed(ctx, `spelling corrections: ${spelling.message}`);

  // Loaded only when there is work: zx and the audio code are not needed for an up-to-date site.
  const { transcribeEpisode } = await import('./transcribe/episode.ts');
  const { probeDurationMs } = await import('./transcribe/audio.ts');
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
  const runOne = async (item: TranscriptionItem, index: number): Promise<void> => {
    const outcome = await ctx.effect({ kind: 'transcribe', target: item.srtKey, reason: `${item.audioKey} has no transcript` }, () =>
      ctx.limits.cpu.use(
        async (): Promise<EpisodeOutcome> => {
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
              onProgress: (doneMs, totalMs) => progress.update(index, doneMs, totalMs),
              debug: (message) => ctx.log.debug(message),
            },
            expected[index],
          );
        },
        { weight: threads, signal: ctx.signal },
      ),
    );
    if (outcome === undefined) {
      planned++;
      return;
    }
    progress.finish(index);
    switch (outcome.status) {
      case 'written':
        made++;
        ctx.state.createdThisRun.add(item.srtKey);
        ctx.log.info(
          `${item.srtKey}: ${outcome.cues} cues from ${(outcome.durationMs / 1000).toFixed(1)} s of audio in ${outcome.chunks} chunk(s)` +
            (outcome.replacements > 0 ? `, ${outcome.replacements} spelling corrections` : ''),
        );
        break;
      case 'failed':
        ctx.log.error(`${item.audioKey}: ${outcome.message}`);
        errors.push({ site: ctx.site.id, step: 'transcribe', subject: item.audioKey, message: outcome.message, code: outcome.code });
        break;
    }
  };

  try {
    await Promise.all(plan.todo.map((item, index) => runOne(item, index)));
  } finally {
    progress.stop();
  }
  ctx.signal.throwIfAborted();

  if (ctx.options.dryRun) return { status: 'ok', message: `would transcribe ${planned} episodes`, counts: { transcriptsMade: 0 }, errors: [] };
  const summary = `transcribed ${made} of ${plan.todo.length} episodes (${progress.describeTotal()} of audio)`;
  if (errors.length > 0) return failed(ctx, `${summary}; ${errors.length} failed`, errors, made);
  return { status: 'ok', message: summary, counts: { transcriptsMade: made }, errors: [] };
};
