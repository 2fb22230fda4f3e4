// `run` (and `demo`): select the sites, take the lock, sweep what a killed run left, run the
// pipeline through the scheduler while the renderers observe its events, then write the
// summary, the history line and the per-run log, ping, and map the outcome to an exit code.
// Every run is recorded, including one that stops before any site (a held lock). The pipeline
// itself is declared in Taskfile.ts.
import { setMaxListeners } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunFlags } from './command-line.ts';
import { automationEnvProblem, loadAutomationEnv } from '../aws/env.ts';
import type { SiteClients } from '../aws/clients.ts';
import { PER_HOST_CONCURRENCY } from '../engines/feeds/audio-download.ts';
import { describeSweep, removeLiveTemporaries, sweepLocalRoot } from '../platform/atomic.ts';
import { hostLimiters, Limiter } from '../platform/limiter.ts';
import { acquireLock, describeHolder } from '../platform/lock.ts';
import { Logger } from '../platform/log.ts';
import { VERSION } from '../platform/version.ts';
import { EXIT, scanReadsWholeSite, STEP_NAMES, type RunSummary, type SiteRecord, type StepError, type StepName } from '../platform/types.ts';
import { discoverSites, selectSites, type ConfigProblem } from '../site/site-config.ts';
import { readSiteState, writeSiteState } from '../site/site-state.ts';
import type { StepDefinition } from '../steps/contract.ts';
import { EventStream, type Renderer } from '../run/events.ts';
import { appendHistory, historyEntry, keptLogs, logsDir, rotateLogs, runsDir } from '../run/history.ts';
import { ping, runOnFailure } from '../run/notify.ts';
import { plainRenderer } from '../run/render/plain.ts';
import { runSites } from '../run/scheduler.ts';
import { summaryJson } from '../run/summary.ts';
import { preflight } from './preflight.ts';
import { HOW_TO_GET_A_MODEL, resolveWhisperTools } from '../engines/transcription/toolchain/whisper.ts';
import { formatEta } from '../platform/format.ts';
import { errorMessage } from '../platform/errors.ts';

/** The AWS clients' module, loaded while the run starts. */
type ClientsModule = typeof import('../aws/clients.ts');

/** Network transfers in flight across all sites. */
const NETWORK_SLOTS = 16;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);


export interface RunTerminal {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** The outputs of one run: renderers on one event stream, the log files they write to. */
interface RunOutputs {
  events: EventStream;
  renderers: Renderer[];
  files: WriteStream[];
  logger: Logger;
  warnings: { site: string; step: string; message: string }[];
}

async function openOutputs(flags: RunFlags, runId: string, terminal: RunTerminal): Promise<RunOutputs> {
  const tty = !flags.quiet && (flags.renderer === 'tree' || (flags.renderer === 'auto' && terminal.stdout.isTTY === true));
  const events = new EventStream();
  const renderers: Renderer[] = [];
  const files: WriteStream[] = [];
  const fileRenderer = async (file: string, verbose: boolean) => {
    await mkdir(path.dirname(path.resolve(file)), { recursive: true });
    const stream = createWriteStream(file, { flags: 'a' });
    files.push(stream);
    renderers.push(plainRenderer({ write: (text) => stream.write(text), verbose, format: flags.logFormat }));
  };
  // Every run keeps its own log (rotated), whatever the terminal shows; a dry run writes nothing.
  if (!flags.dryRun) await fileRenderer(path.join(logsDir(flags.localRoot), `${runId}.log`), flags.verbose);
  if (flags.logFile) await fileRenderer(flags.logFile, flags.verbose);
  // listr2 loads only for a terminal: cron's plain lines do not pay for it.
  renderers.push(
    tty
      ? (await import('../run/render/tree.ts')).treeRenderer({ stream: terminal.stdout, columns: terminal.stdout.columns ?? 100, rows: terminal.stdout.rows ?? 40, verbose: flags.verbose })
      : plainRenderer({ write: (text) => terminal.stdout.write(text), verbose: flags.verbose, level: flags.logLevel, format: flags.logFormat, summary: flags.verbose ? 'full' : 'compact' }),
  );
  for (const renderer of renderers) events.subscribe(renderer.handle);
  // The summary JSON lists every warning.
  const warnings: RunOutputs['warnings'] = [];
  events.subscribe((event) => {
    if (event.type === 'log' && event.event.level === 'warn') warnings.push({ site: event.event.site ?? 'all', step: event.event.step ?? 'run', message: event.event.message });
  });
  const logger = new Logger([(event) => events.emit({ type: 'log', event })]);
  return { events, renderers, files, logger, warnings };
}

/** `pipeline` may still be loading: it is awaited only when the sites start, so loading the steps' modules overlaps the run's preliminaries. */
export async function runCommand(flags: RunFlags, pipeline: StepDefinition[] | Promise<StepDefinition[]>, terminal: RunTerminal = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const startedAt = new Date();
  const runId = `${startedAt.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${process.pid}`;

  // The SDK loads while the run reads its configuration, takes the lock and sweeps.
  const clientsModule = import('../aws/clients.ts');
  clientsModule.catch(() => undefined);

  // Configuration: an unknown --sites id is a usage error; a broken site fails only itself.
  const env = loadAutomationEnv();
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  const pingUrl = flags.pingUrl ?? (process.env.INGEST_PING_URL?.replace(/\/+$/, '') || undefined);
  const included = STEP_NAMES.filter((s) => !excludedReason(flags, s));

  // A broken machine fails before any site starts: one line per problem, exit 2, recorded.
  if (!flags.dryRun) {
    const problems = await preflight({ localRoot: flags.localRoot, minFreeBytes: flags.minFreeBytes, steps: included, sites, env });
    if (problems.length > 0) return refuseToStart(flags, runId, startedAt, problems, pingUrl, terminal);
  }
  const outputs = await openOutputs(flags, runId, terminal);
  const { events, logger } = outputs;
  const runLog = logger.child({ site: 'all', step: 'run' });
  if (pingUrl && !flags.dryRun) await ping(pingUrl, 'start', undefined, runLog);

  for (const warning of env.warnings) runLog.warn(warning);
  // Once for the run (the model is the machine's, not a site's), on quiet nights too: known before an episode arrives.
  const whisper = included.includes('transcribe') ? resolveWhisperTools() : undefined;
  if (whisper?.ok && whisper.randomWeights) runLog.warn(`WHISPER_MODEL is a RANDOM-WEIGHT model (${whisper.model}): transcripts made with it are gibberish. ${HOW_TO_GET_A_MODEL}`);
  // A real run stopped in preflight; a dry run only says so.
  const envProblem = automationEnvProblem(env, sites.filter((s) => s.automation.roleArn).length);
  if (envProblem && flags.dryRun) runLog.error(envProblem);
  if (NODE_MAJOR < 22) runLog.debug(`Node ${process.versions.node}: AWS SDK releases after January 2027 need Node 22 (the lock file pins working ones)`);

  const finish = (records: SiteRecord[], end: { exitCode?: number; interrupted?: boolean; refused?: string; stopped?: string }) =>
    finishRun({ flags, runId, startedAt, records, problems, outputs, pingUrl, ...end });

  const deadline = flags.maxRuntimeMs ? new Date(startedAt.getTime() + flags.maxRuntimeMs) : undefined;
  const lock = flags.dryRun ? undefined : await acquireLock(flags.localRoot, `run ${process.argv.slice(2).join(' ')}`.trim(), { deadline });
  if (lock?.status === 'held') {
    const reason = `another run holds ${lock.lockPath}: ${describeHolder(lock.holder)}`;
    terminal.stderr.write(`error: ${reason}\n`);
    runLog.error(reason);
    return finish([], { exitCode: EXIT.locked, refused: reason });
  }
  events.emit({ type: 'run-started', time: startedAt, runId, sites: [...problems.map((p) => p.site), ...sites.map((s) => s.id)], steps: included, dryRun: flags.dryRun });
  // A site whose configuration is broken is done before it starts: failed, with the reason.
  for (const problem of problems) {
    logger.child({ site: problem.site, step: 'config' }).error(problem.message);
    events.emit({ type: 'site-finished', time: new Date(), record: { site: problem.site, status: 'failed', steps: [] } });
  }
  if (lock?.tookOverFrom) runLog.warn(`took over a stale lock from ${describeHolder(lock.tookOverFrom)}`);

  // One cancellation signal for every step, child process and SDK call: SIGINT, SIGTERM, --max-runtime.
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  let stopped: string | undefined;
  const stop = (why: string) => {
    if (stopped) {
      // A second signal: stop now.
      void removeLiveTemporaries().finally(() => process.exit(EXIT.interrupted));
      return;
    }
    stopped = why;
    runLog.warn(`${why}: stopping (child processes killed, temporary files removed)`);
    controller.abort(new Error(why));
    // Steps honour the signal; this bounds the wait if one does not.
    setTimeout(() => void removeLiveTemporaries().finally(() => process.exit(EXIT.interrupted)), 4_000).unref();
  };
  const onSignal = (signal: NodeJS.Signals) => stop(`received ${signal}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const overtime = flags.maxRuntimeMs ? setTimeout(() => stop(`the run exceeded --max-runtime (${formatEta(flags.maxRuntimeMs!)})`), flags.maxRuntimeMs) : undefined;

  try {
    if (!flags.dryRun) {
      // What a killed run left (partial files, whisper work folders): only while holding the lock.
      // pre-sync's scan removes the partial files in a site's folders when it reads all of
      // them (at 15,000 files a site, reading them twice cost 0.15-0.2 s of every start).
      const sweptByPreSync = included.includes('pre-sync') && scanReadsWholeSite(flags.syncFolders);
      const swept = await sweepLocalRoot(flags.localRoot, sweptByPreSync ? [] : sites.map((site) => site.id));
      if (swept.removed > 0) runLog.warn(describeSweep(swept));
    }
    runLog.info(`run ${runId}: ${sites.length + problems.length} sites, steps ${included.join(', ')}${flags.dryRun ? ' (dry run)' : ''}`);

    let loaded: [StepDefinition[], ClientsModule];
    try {
      loaded = await Promise.all([pipeline, clientsModule]);
    } catch (error) {
      // A broken installation: recorded, pinged and summarised like any run that cannot start.
      const reason = `the runner's modules did not load (reinstall with \`npm ci\`): ${errorMessage(error)}`;
      terminal.stderr.write(`error: ${reason}\n`);
      runLog.error(reason);
      return await finish([], { exitCode: EXIT.internal, refused: reason });
    }
    const [steps, { createSiteClients }] = loaded;
    const records = await runSites({
      sites,
      pipeline: steps,
      excluded: (step) => excludedReason(flags, step),
      options: {
        runId,
        dryRun: flags.dryRun,
        verbose: flags.verbose,
        syncFolders: flags.syncFolders,
        localRoot: flags.localRoot,
        forceIndex: flags.forceIndex,
        waitForIndex: flags.waitForIndex,
        ...(flags.index ? { index: flags.index } : {}),
        ...(flags.maxEpisodesPerFeed ? { maxEpisodesPerFeed: flags.maxEpisodesPerFeed } : {}),
      },
      concurrency: flags.concurrency,
      limits: { cpu: new Limiter('cpu', os.availableParallelism()), network: new Limiter('network', NETWORK_SLOTS), perHost: hostLimiters(PER_HOST_CONCURRENCY) },
      signal: controller.signal,
      logger,
      clientsFor: (site): SiteClients => createSiteClients(site, runId, controller.signal),
      // The clock of the per-site backoff (tasks/site/site-state.ts): one tick per run that reaches the site.
      onSiteStart: flags.dryRun ? undefined : (site) => countSiteRun(flags.localRoot, site.id, logger.child({ site: site.id, step: 'run' })),
      emit: events.emit,
    });
    return await finish(records, { interrupted: stopped !== undefined, stopped });
  } finally {
    clearTimeout(overtime);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await removeLiveTemporaries();
    if (lock?.status === 'acquired') await lock.release();
  }
}

interface FinishInput {
  flags: RunFlags;
  runId: string;
  startedAt: Date;
  records: SiteRecord[];
  problems: ConfigProblem[];
  outputs: RunOutputs;
  pingUrl: string | undefined;
  exitCode?: number;
  interrupted?: boolean;
  refused?: string;
  stopped?: string;
}

/** Build the summary, hand it to the renderers, write it and the history line, ping. Returns the exit code. */
async function finishRun(input: FinishInput): Promise<number> {
  const { flags, records, problems, outputs } = input;
  const errors: StepError[] = [
    ...(input.refused ? [{ site: 'all', step: 'runner' as const, message: input.refused }] : []),
    ...problems.map((p): StepError => ({ site: p.site, step: 'config', message: p.message })),
    ...records.flatMap((site) => site.steps.flatMap((step) => step.errors)),
  ];
  const failed = records.some((r) => r.status === 'failed') || errors.length > 0;
  const finishedAt = new Date();
  const summary: RunSummary = {
    schema: 'podcast-ingest/summary@1',
    runId: input.runId,
    startedAt: input.startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - input.startedAt.getTime(),
    dryRun: flags.dryRun,
    interrupted: input.interrupted ?? false,
    exitCode: input.exitCode ?? (input.interrupted ? EXIT.interrupted : failed ? EXIT.failed : EXIT.ok),
    sites: input.refused ? [] : [...problems.map((p): SiteRecord => ({ site: p.site, status: 'failed', steps: [] })), ...records],
    errors,
    version: VERSION,
    host: os.hostname(),
    warnings: outputs.warnings,
    episodes: episodesOf(records),
  };
  if (!input.refused) outputs.events.emit({ type: 'run-finished', time: finishedAt, summary });
  for (const renderer of outputs.renderers) await renderer.finish();
  await Promise.all(outputs.files.map((stream) => new Promise<void>((resolve) => stream.end(() => resolve()))));

  // The summary goes where --summary-json says and always to .runs/last-run.json, so a refused
  // night never leaves the previous night's summary looking current.
  const json = summaryJson(summary);
  const lastRun = path.join(runsDir(flags.localRoot), 'last-run.json');
  const summaryPath = flags.summaryJson ? path.resolve(flags.summaryJson) : lastRun;
  for (const file of new Set(flags.dryRun ? (flags.summaryJson ? [summaryPath] : []) : [summaryPath, lastRun])) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, json);
  }
  const log = outputs.logger.child({ site: 'all', step: 'run' });
  if (!flags.dryRun) {
    await appendHistory(flags.localRoot, historyEntry(summary, input.refused));
    await rotateLogs(flags.localRoot, keptLogs());
  }
  if (input.pingUrl && !flags.dryRun) await ping(input.pingUrl, summary.exitCode, json, log);
  if (flags.onFailure && summary.exitCode !== EXIT.ok) await runOnFailure(flags.onFailure, summaryPath, log);
  return summary.exitCode;
}

/**
 * Preflight found problems: print them (one line each), record the run when the local root
 * takes a history line, ping. Nothing else started.
 */
async function refuseToStart(flags: RunFlags, runId: string, startedAt: Date, problems: string[], pingUrl: string | undefined, terminal: RunTerminal): Promise<number> {
  for (const problem of problems) terminal.stderr.write(`error: ${problem}\n`);
  terminal.stderr.write(`error: ${problems.length === 1 ? 'this problem stops' : `these ${problems.length} problems stop`} the run before any site starts (exit 2)\n`);
  const finishedAt = new Date();
  const summary: RunSummary = {
    schema: 'podcast-ingest/summary@1',
    runId,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    dryRun: false,
    interrupted: false,
    exitCode: EXIT.usage,
    sites: [],
    errors: problems.map((message): StepError => ({ site: 'all', step: 'runner', subject: 'preflight', message })),
  };
  const quietLog = new Logger([]);
  try {
    await appendHistory(flags.localRoot, historyEntry(summary, `preflight: ${problems.join('; ')}`));
    if (flags.summaryJson) await writeFile(flags.summaryJson, summaryJson(summary));
  } catch {
    // The local root itself may be the problem: stderr has said it all.
  }
  if (pingUrl) await ping(pingUrl, EXIT.usage, problems.join('\n'), quietLog);
  return EXIT.usage;
}

/** One more run of this site (the backoff's clock); a damaged state file is said so and started afresh. */
async function countSiteRun(localRoot: string, siteId: string, log: Logger): Promise<void> {
  const read = await readSiteState(localRoot, siteId);
  if (read.kind === 'rebuilt') {
    log.warn(`the site's state file is ${read.reason}: starting it afresh (failure counts restart, moved feeds are found again, and the site is indexed once in case an invocation was owed)`);
    read.state.pendingIndex = { since: new Date().toISOString(), reason: 'the state file was rebuilt' };
  }
  read.state.runs++;
  await writeSiteState(localRoot, read.state);
}

/** The episodes a run added and transcribed, from the steps' actions (rss: add-episode, transcribe). */
function episodesOf(records: SiteRecord[]): NonNullable<RunSummary['episodes']> {
  const added: NonNullable<RunSummary['episodes']>['added'] = [];
  const transcribed: NonNullable<RunSummary['episodes']>['transcribed'] = [];
  for (const site of records) {
    for (const step of site.steps) {
      for (const action of step.actions) {
        if (action.kind === 'add-episode') {
          const [podcastId = '', fileKey = ''] = action.target.split('/');
          added.push({ site: site.site, podcastId, fileKey, title: /^"(.*)" is new in the feed$/.exec(action.reason)?.[1] ?? action.reason });
        } else if (action.kind === 'transcribe') transcribed.push({ site: site.site, key: action.target });
      }
    }
  }
  return { added, transcribed };
}

function excludedReason(flags: RunFlags, step: StepName): string | undefined {
  if (flags.only && !flags.only.includes(step)) return 'not in --only';
  if (flags.skip.includes(step)) return 'excluded by --skip';
  return undefined;
}
