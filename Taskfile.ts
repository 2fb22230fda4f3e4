#!/usr/bin/env -S npx tsx
// The entry point. Reads like a Makefile: the command line picks a command, and `run` hands the
// per-site pipeline declared below to the scheduler (tasks/run/scheduler.ts), which runs sites
// concurrently and each site's steps in this order, each step receiving the outputs of the
// steps it builds on (ARCHITECTURE.md "Steps").
//
//   npx tsx Taskfile.ts run [--sites=a,b] [--dry-run] ...   nightly pipeline, every site
//   npx tsx Taskfile.ts demo                                the same on the bundled demo
//   npx tsx Taskfile.ts sites | consistency | feed | validate | check-access
import v8 from 'node:v8';
import { HELP, parseCommandLine, type Command, type RunFlags } from './tasks/commands/command-line.ts';
import { unreachable, UsageError } from './tasks/platform/errors.ts';
import { EXIT } from './tasks/platform/types.ts';
import { VERSION } from './tasks/platform/version.ts';
import type { StepDefinition } from './tasks/steps/contract.ts';


const ENVIRONMENT_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE']);

// The SDK warns once per process on Node 20 that releases from 2027 need Node 22; the lock file
// pins today's releases, so under cron that warning is noise on stderr. The run logs it at debug.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// A no-op run over many objects makes mostly short-lived garbage (parsed listings, stat results),
// and V8's default heap growth lets it pile up to 3-4x the live data before collecting. Growing
// the heap by 50% per step instead keeps the peak near the live size: 6 sites x 15,000 objects
// peaked at 246-257 MB instead of 393-416 MB. 35% kept it at 236-243 MB but collected so often
// that the run was 0.4 s slower on average over 7 alternating pairs (bench/scale.ts --hold,
// README "Scale"). Set at run time, before anything large is allocated.
v8.setFlagsFromString('--heap-growing-percent=50');

/**
 * The pipeline of every site. `needs`: skipped when one of these failed fatally (or was skipped
 * for that reason). A step left out by --skip/--only blocks nothing: the steps after it compute
 * what they need themselves (a listing, the manifest basis).
 */
async function pipeline(): Promise<StepDefinition[]> {
  // The steps (AWS SDK, zx...) load only for run: the other commands start fast.
  const [{ step }, { preSync }, { consistency }, { rss }, { transcribe }, { upload }, { index }] = await Promise.all([
    import('./tasks/steps/contract.ts'),
    import('./tasks/steps/pre-sync.ts'),
    import('./tasks/steps/consistency.ts'),
    import('./tasks/steps/rss.ts'),
    import('./tasks/steps/transcribe.ts'),
    import('./tasks/steps/upload.ts'),
    import('./tasks/steps/indexing.ts'),
  ]);
  return [
    // One listing of the bucket, the manifest merged with the bucket's, what is missing locally brought down.
    step({ name: 'pre-sync', needs: [], run: (ctx) => preSync(ctx) }),
    // A read-only report of what pre-sync left.
    step({ name: 'consistency', needs: ['pre-sync'], run: (ctx, done) => consistency(ctx, { preSync: done['pre-sync'] }) }),
    // New episodes go into the manifest pre-sync reconciled with the bucket's.
    step({ name: 'rss', needs: ['pre-sync'], run: (ctx, done) => rss(ctx, { preSync: done['pre-sync'] }) }),
    // Transcripts that exist in the bucket are local by now: only new audio is transcribed.
    step({ name: 'transcribe', needs: ['pre-sync'], run: (ctx, done) => transcribe(ctx, { preSync: done['pre-sync'], rss: done.rss }) }),
    // Everything the bucket lacks, this run's files and earlier backlog alike; rss or
    // transcribe failures still leave files worth uploading.
    step({ name: 'upload', needs: ['pre-sync'], run: (ctx, done) => upload(ctx, { preSync: done['pre-sync'], rss: done.rss, transcribe: done.transcribe }) }),
    // Invoked when upload sent anything (or --force-index).
    step({ name: 'index', needs: ['upload'], run: (ctx, done) => index(ctx, { upload: done.upload }) }),
  ];
}

async function run(flags: RunFlags): Promise<number> {
  // The steps load while the run reads the configuration, takes the lock and sweeps.
  const steps = pipeline();
  steps.catch(() => undefined);
  const { runCommand } = await import('./tasks/commands/run.ts');
  return runCommand(flags, steps);
}

async function main(argv: string[]): Promise<number> {
  // no-color.org: chalk 5 does not read NO_COLOR itself (listr2's colours do).
  if (process.env.NO_COLOR) (await import('chalk')).default.level = 0;
  try {
    return await dispatch(parseCommandLine(argv));
  } catch (error) {
    // A bad flag, or a --sites id that names no site.
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\nRun with --help for usage.\n`);
      return EXIT.usage;
    }
    // The machine, not the runner: a folder it cannot write, a full disk. Never "a bug".
    const code = (error as NodeJS.ErrnoException).code;
    if (code && ENVIRONMENT_ERRORS.has(code)) {
      process.stderr.write(`error: ${(error as Error).message} (check the permissions and free space of the folders given with --local-root and --sites-root)\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

async function dispatch(command: Command): Promise<number> {
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
    case 'verify':
      return (await import('./tasks/commands/verify.ts')).verifyCommand(command.flags);
    case 'status':
      return (await import('./tasks/commands/status.ts')).statusCommand(command.flags);
    case 'schedule':
      return (await import('./tasks/commands/schedule.ts')).scheduleCommand(command.flags);
    case 'run':
      return run(command.flags);
    case 'demo': {
      const { startDemo } = await import('./tasks/demo/demo.ts');
      const demo = await startDemo();
      try {
        // Synchronous indexing lets the run bring the indexer's output down before it ends,
        // so the next run has nothing to do.
        const code = await run({ ...command.flags, sitesRoot: demo.sitesRoot, localRoot: demo.localRoot, waitForIndex: true });
        process.stdout.write(demo.describe());
        return code;
      } finally {
        await demo.stop();
      }
    }
    default:
      return unreachable(command);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`internal error (a bug in the runner, please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT.internal;
  },
);
