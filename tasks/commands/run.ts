// `run` (and `demo`): select the sites, take the lock, sweep what a killed run left, run the
// pipeline through the scheduler while the renderers observe its events, then write the
// summary and map the outcome to an exit code. The pipeline itself is declared in Taskfile.ts.
import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RunFlags } from './command-line.ts';
import { automationEnvProblem, loadAutomationEnv } from '../aws/env.ts';
import { createSiteClients } from '../aws/clients.ts';
import { removeLiveTemporaries, removeStaleTemporaries } from '../platform/atomic.ts';
import { hostLimiters, Limiter } from '../platform/limiter.ts';
import { PER_HOST_CONCURRENCY } from '../engines/feeds/audio-download.ts';
import { acquireLock, describeHolder } from '../platform/lock.ts';
import { Logger } from '../platform/log.ts';
import { EXIT, STEP_NAMES, type RunSummary, type SiteRecord, type StepError, type StepName } from '../platform/types.ts';
import { discoverSites, selectSites } from '../site/site-config.ts';
import type { StepDefinition } from '../steps/contract.ts';
import { EventStream, type Renderer } from '../run/events.ts';
import { plainRenderer } from '../run/render/plain.ts';
import { treeRenderer } from '../run/render/tree.ts';
import { runSites } from '../run/scheduler.ts';
import { summaryJson } from '../run/summary.ts';

/** Network transfers in flight across all sites. */
const NETWORK_SLOTS = 16;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

export interface RunTerminal {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export async function runCommand(flags: RunFlags, pipeline: StepDefinition[], terminal: RunTerminal = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const startedAt = new Date();
  const runId = `${startedAt.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${process.pid}`;
  const tty = flags.renderer === 'tree' || (flags.renderer === 'auto' && terminal.stdout.isTTY === true);

  // Configuration: an unknown --sites id is a usage error; a broken site fails only itself.
  const env = loadAutomationEnv();
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  if (sites.length === 0 && problems.length === 0) {
    terminal.stderr.write(`error: no sites found under ${path.resolve(flags.sitesRoot)} (expected <id>/site.config.json)\n`);
    return EXIT.usage;
  }

  // Renderers observe one event stream; the logger feeds it.
  const events = new EventStream();
  const renderers: Renderer[] = [];
  const logFile = flags.logFile ? await openLogFile(flags.logFile) : undefined;
  if (logFile) renderers.push(plainRenderer({ write: (text) => logFile.write(text), verbose: flags.verbose }));
  renderers.push(
    tty
      ? treeRenderer({ stream: terminal.stdout, columns: terminal.stdout.columns ?? 100, rows: terminal.stdout.rows ?? 40, verbose: flags.verbose })
      : plainRenderer({ write: (text) => terminal.stdout.write(text), verbose: flags.verbose }),
  );
  for (const renderer of renderers) events.subscribe(renderer.handle);
  const logger = new Logger([(event) => events.emit({ type: 'log', event })]);
  const runLog = logger.child({ site: 'all', step: 'run' });
  const included = STEP_NAMES.filter((s) => !excludedReason(flags, s));

  for (const warning of env.warnings) runLog.warn(warning);
  const envProblem = automationEnvProblem(env, sites.filter((s) => s.automation.roleArn).length);
  if (envProblem) runLog.error(envProblem);
  if (NODE_MAJOR < 22) runLog.debug(`Node ${process.versions.node}: AWS SDK releases after January 2027 need Node 22 (the lock file pins working ones)`);

  const lock = flags.dryRun ? undefined : await acquireLock(flags.localRoot, `run ${process.argv.slice(2).join(' ')}`.trim());
  if (lock?.status === 'held') {
    terminal.stderr.write(`error: another run holds ${lock.lockPath}: ${describeHolder(lock.holder)}\n`);
    await finishRenderers(renderers, logFile, startedAt, runId, flags, [], problems, EXIT.locked, false, events, true);
    return EXIT.locked;
  }
  events.emit({ type: 'run-started', time: startedAt, runId, sites: [...problems.map((p) => p.site), ...sites.map((s) => s.id)], steps: included, dryRun: flags.dryRun });
  // A site whose configuration is broken is done before it starts: failed, with the reason.
  for (const problem of problems) {
    logger.child({ site: problem.site, step: 'config' }).error(problem.message);
    events.emit({ type: 'site-finished', time: new Date(), record: { site: problem.site, status: 'failed', steps: [] } });
  }
  if (lock?.tookOverFrom) runLog.warn(`took over a stale lock from ${describeHolder(lock.tookOverFrom)}`);

  // One cancellation signal for every step, child process and SDK call.
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      // A second signal: stop now.
      void removeLiveTemporaries().finally(() => process.exit(EXIT.interrupted));
      return;
    }
    interrupted = true;
    runLog.warn(`received ${signal}: stopping (child processes killed, temporary files removed)`);
    controller.abort(new Error(`interrupted by ${signal}`));
    // Steps honour the signal; this bounds the wait if one does not.
    setTimeout(() => void removeLiveTemporaries().finally(() => process.exit(EXIT.interrupted)), 4_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (!flags.dryRun) {
      await Promise.all(
        sites.map(async (site) => {
          const removed = await removeStaleTemporaries(site.localDir);
          if (removed > 0) logger.child({ site: site.id, step: 'run' }).warn(`removed ${removed} partial files left by an interrupted run`);
        }),
      );
    }
    runLog.info(`run ${runId}: ${sites.length + problems.length} sites, steps ${included.join(', ')}${flags.dryRun ? ' (dry run)' : ''}`);

    const records = await runSites({
      sites,
      pipeline,
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
      clientsFor: (site) => createSiteClients(site, runId),
      emit: events.emit,
    });
    const exitCode = await finishRenderers(renderers, logFile, startedAt, runId, flags, records, problems, undefined, interrupted, events, false);
    return exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await removeLiveTemporaries();
    if (lock?.status === 'acquired') await lock.release();
  }
}

/** Build the summary, hand it to the renderers, write the JSON, close the log. Returns the exit code. */
async function finishRenderers(
  renderers: Renderer[],
  logFile: ReturnType<typeof createWriteStream> | undefined,
  startedAt: Date,
  runId: string,
  flags: RunFlags,
  records: SiteRecord[],
  problems: { site: string; configPath: string; message: string }[],
  forcedExit: number | undefined,
  interrupted: boolean,
  events: EventStream,
  refused: boolean,
): Promise<number> {
  const errors: StepError[] = [
    ...problems.map((p): StepError => ({ site: p.site, step: 'config', subject: p.configPath, message: p.message })),
    ...records.flatMap((site) => site.steps.flatMap((step) => step.errors)),
  ];
  const failed = records.some((r) => r.status === 'failed') || errors.length > 0;
  const finishedAt = new Date();
  const summary: RunSummary = {
    schema: 'podcast-ingest/summary@1',
    runId,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    dryRun: flags.dryRun,
    interrupted,
    exitCode: forcedExit ?? (interrupted ? EXIT.interrupted : failed ? EXIT.failed : EXIT.ok),
    sites: [...problems.map((p): SiteRecord => ({ site: p.site, status: 'failed', steps: [] })), ...records],
    errors,
  };
  if (!refused) events.emit({ type: 'run-finished', time: finishedAt, summary });
  for (const renderer of renderers) await renderer.finish();
  if (flags.summaryJson && !refused) {
    await mkdir(path.dirname(path.resolve(flags.summaryJson)), { recursive: true });
    await writeFile(flags.summaryJson, summaryJson(summary));
  }
  if (logFile) await new Promise<void>((resolve) => logFile.end(() => resolve()));
  return summary.exitCode;
}

function excludedReason(flags: RunFlags, step: StepName): string | undefined {
  if (flags.only && !flags.only.includes(step)) return 'not in --only';
  if (flags.skip.includes(step)) return 'excluded by --skip';
  return undefined;
}

async function openLogFile(file: string) {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  return createWriteStream(file, { flags: 'a' });
}
