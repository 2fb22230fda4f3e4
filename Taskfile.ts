#!/usr/bin/env -S npx tsx
// The entry point. Reads like a Makefile: the command line picks a command, `run` loads the
// sites and hands the per-site pipeline (tasks/steps.ts) to the task graph (tasks/graph.ts).
//
//   npx tsx Taskfile.ts run [--sites=a,b] [--dry-run] ...   nightly pipeline, every site
//   npx tsx Taskfile.ts demo                                the same on the bundled demo
//   npx tsx Taskfile.ts sites | consistency | feed | validate | check-access
import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HELP, parseCommandLine, UsageError, type Command, type RunFlags } from './tasks/cli.ts';
import { discoverSites, selectSites } from './tasks/site-config.ts';
import { Limiter } from './tasks/limiter.ts';
import { Logger, plainSink, type LogEvent, type LogSink } from './tasks/log.ts';
import { acquireLock, describeHolder } from './tasks/lock.ts';
import { removeLiveTemporaries, removeStaleTemporaries } from './tasks/atomic.ts';
import { formatSummaryTable, summaryLines } from './tasks/summary.ts';
import { EXIT, STEP_NAMES, type RunSummary, type StepError } from './tasks/types.ts';
import { automationEnvProblem, loadAutomationEnv } from './tasks/aws/env.ts';

const VERSION = '0.1.0';

// The SDK warns once per process on Node 20 that releases from 2027 need Node 22; the lock file
// pins today's releases, so under cron that warning is noise on stderr. The run logs it at debug.
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Network transfers in flight across all sites. */
const NETWORK_SLOTS = 16;

async function main(argv: string[]): Promise<number> {
  try {
    return await runCommandLine(parseCommandLine(argv));
  } catch (error) {
    // A bad flag, or a --sites id that names no site.
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\nRun with --help for usage.\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

async function runCommandLine(command: Command): Promise<number> {
  switch (command.name) {
    case 'help':
      process.stdout.write(HELP + '\n');
      return EXIT.ok;
    case 'version':
      process.stdout.write(`podcast-ingest ${VERSION}\n`);
      return EXIT.ok;
    // Commands load their modules on demand: a nightly run should not pay for the others.
    case 'sites':
      return (await import('./tasks/commands/sites.ts')).sitesCommand(command.flags);
    case 'consistency':
      return (await import('./tasks/commands/consistency.ts')).consistencyCommand(command.flags);
    case 'feed':
      return (await import('./tasks/commands/feed.ts')).feedCommand(command.flags);
    case 'validate':
      return (await import('./tasks/commands/validate.ts')).validateCommand(command.flags);
    case 'check-access':
      return (await import('./tasks/commands/check-access.ts')).checkAccessCommand(command.flags);
    case 'run':
      return runCommand(command.flags);
    case 'demo': {
      const { startDemo } = await import('./tasks/demo.ts');
      const demo = await startDemo();
      try {
        // Synchronous indexing lets the run bring the indexer's output down before it ends,
        // so the next run has nothing to do.
        const code = await runCommand({ ...command.flags, sitesRoot: demo.sitesRoot, localRoot: demo.localRoot, waitForIndex: true });
        process.stdout.write(demo.describe());
        return code;
      } finally {
        await demo.stop();
      }
    }
  }
}

/** `run`: lock, discover, run the graph, print the summary, map the outcome to an exit code. */
async function runCommand(flags: RunFlags): Promise<number> {
  const startedAt = new Date();
  // The pipeline (AWS SDK, zx, listr2...) loads here, so the other commands start fast.
  const [{ PIPELINE }, { ActivityRouter, runGraph }] = await Promise.all([import('./tasks/steps.ts'), import('./tasks/graph.ts')]);
  const runId = `${startedAt.toISOString().replace(/[-:]/g, '').slice(0, 15)}-${process.pid}`;
  const tty = flags.renderer === 'tree' || (flags.renderer === 'auto' && process.stdout.isTTY === true);

  // Configuration: an unknown --sites id is a usage error; a broken site fails only itself.
  const env = loadAutomationEnv();
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  if (sites.length === 0 && problems.length === 0) {
    process.stderr.write(`error: no sites found under ${path.resolve(flags.sitesRoot)} (expected <id>/site.config.json)\n`);
    return EXIT.usage;
  }

  const sinks: LogSink[] = [];
  const logFile = flags.logFile ? await openLogFile(flags.logFile) : undefined;
  if (logFile) sinks.push(plainSink({ write: (line) => logFile.write(line), verbose: flags.verbose, activityIntervalMs: 10_000 }));
  const router = new ActivityRouter();
  // The tree shows steps' activity in place; warnings (and the run's own errors, which no step
  // reports) would vanish with it, so they are kept and printed above the summary.
  const warnings: LogEvent[] = [];
  const keep = (event: LogEvent) => event.level === 'warn' || (event.level === 'error' && event.site === 'all');
  if (tty) sinks.push(router.sink, (event) => keep(event) && warnings.push(event));
  else sinks.push(plainSink({ write: (line) => process.stdout.write(line), verbose: flags.verbose }));
  const logger = new Logger(sinks);
  const runLog = logger.child({ site: 'all', step: 'run' });

  for (const warning of env.warnings) runLog.warn(warning);
  const envProblem = automationEnvProblem(env, sites.filter((s) => s.automation.roleArn).length);
  if (envProblem) runLog.error(envProblem);
  if (NODE_MAJOR < 22) runLog.debug(`Node ${process.versions.node}: AWS SDK releases after January 2027 need Node 22 (the lock file pins working ones)`);

  const lock = flags.dryRun ? undefined : await acquireLock(flags.localRoot, `run ${process.argv.slice(2).join(' ')}`.trim());
  if (lock?.status === 'held') {
    process.stderr.write(`error: another run holds ${lock.lockPath}: ${describeHolder(lock.holder)}\n`);
    await closeLog(logFile);
    return EXIT.locked;
  }
  if (lock?.tookOverFrom) runLog.warn(`took over a stale lock from ${describeHolder(lock.tookOverFrom)}`);

  // One cancellation signal for listr2 tasks, zx processes and the AWS SDK.
  const controller = new AbortController();
  // Every transfer, process and SDK call of every site listens on this one signal.
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
    setTimeout(() => {
      void removeLiveTemporaries().finally(() => process.exit(EXIT.interrupted));
    }, 4_000).unref();
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
    runLog.info(
      `run ${runId}: ${sites.length + problems.length} sites, steps ${STEP_NAMES.filter((s) => !excludedReason(flags, s)).join(', ')}${flags.dryRun ? ' (dry run)' : ''}`,
    );

    const cores = os.availableParallelism();
    const records = await runGraph({
      sites,
      problems,
      pipeline: PIPELINE,
      excluded: (step) => excludedReason(flags, step),
      options: {
        runId,
        dryRun: flags.dryRun,
        verbose: flags.verbose,
        syncFolders: flags.syncFolders,
        localRoot: flags.localRoot,
        forceIndex: flags.forceIndex,
        waitForIndex: flags.waitForIndex,
      },
      concurrency: flags.concurrency,
      renderer: tty ? 'tree' : 'plain',
      logger,
      activityRouter: router,
      limits: { cpu: new Limiter('cpu', cores), network: new Limiter('network', NETWORK_SLOTS) },
      signal: controller.signal,
    });

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
      exitCode: interrupted ? EXIT.interrupted : failed ? EXIT.failed : EXIT.ok,
      sites: records,
      errors,
    };
    printSummary(summary, tty, logger, warnings);
    if (flags.summaryJson) {
      await mkdir(path.dirname(path.resolve(flags.summaryJson)), { recursive: true });
      await writeFile(flags.summaryJson, JSON.stringify(summary, null, 2) + '\n');
    }
    return summary.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await removeLiveTemporaries();
    if (lock?.status === 'acquired') await lock.release();
    await closeLog(logFile);
  }
}

function excludedReason(flags: RunFlags, step: (typeof STEP_NAMES)[number]): string | undefined {
  if (flags.only && !flags.only.includes(step)) return 'not in --only';
  if (flags.skip.includes(step)) return 'excluded by --skip';
  return undefined;
}

/** The most warnings shown above the terminal summary (all of them go to --log-file). */
const MAX_SHOWN_WARNINGS = 20;

/**
 * Terminal: the run's warnings, then the coloured table. Plain: one timestamped line per site
 * and step (the log file gets those too).
 */
function printSummary(summary: RunSummary, tty: boolean, logger: Logger, warnings: LogEvent[]): void {
  for (const line of summaryLines(summary)) {
    const log = logger.child({ site: line.site, step: line.step === 'summary' ? 'summary' : `summary:${line.step}` });
    if (line.level === 'error') log.error(line.text);
    else log.info(line.text);
  }
  if (!tty) return;
  for (const event of warnings.slice(0, MAX_SHOWN_WARNINGS)) process.stdout.write(`${event.level === 'warn' ? 'warning' : 'error'}: [${event.site}] [${event.step}] ${event.message}\n`);
  if (warnings.length > MAX_SHOWN_WARNINGS) process.stdout.write(`warning: ${warnings.length - MAX_SHOWN_WARNINGS} more (all of them with --log-file)\n`);
  process.stdout.write(formatSummaryTable(summary));
}

async function openLogFile(file: string) {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  return createWriteStream(file, { flags: 'a' });
}

async function closeLog(stream: ReturnType<typeof createWriteStream> | undefined): Promise<void> {
  if (!stream) return;
  await new Promise<void>((resolve) => stream.end(() => resolve()));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`internal error (a bug in the runner, please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70;
  },
);
