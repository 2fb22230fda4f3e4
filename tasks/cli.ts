// Command-line parsing: one typed record per command. Unknown flags and bad values are
// usage errors (exit 2) that name the flag at fault.
import { parseArgs } from 'node:util';
import os from 'node:os';
import { STEP_NAMES, SYNC_FOLDERS, type StepName } from './types.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

export type Renderer = 'auto' | 'tree' | 'plain';

export interface CommonFlags {
  sitesRoot: string;
  localRoot: string;
  sites?: string[];
  json: boolean;
  verbose: boolean;
}

export interface RunFlags extends CommonFlags {
  skip: StepName[];
  only?: StepName[];
  syncFolders: string[];
  concurrency: number;
  renderer: Renderer;
  logFile?: string;
  summaryJson?: string;
  dryRun: boolean;
  forceIndex: boolean;
  waitForIndex: boolean;
}

export type Command =
  | { name: 'run'; flags: RunFlags }
  | { name: 'demo'; flags: RunFlags }
  | { name: 'sites'; flags: CommonFlags }
  | { name: 'consistency'; flags: CommonFlags & { syncFolders: string[] } }
  | { name: 'feed'; flags: CommonFlags & { source: string; at?: number } }
  | { name: 'validate'; flags: CommonFlags }
  | { name: 'check-access'; flags: CommonFlags }
  | { name: 'help'; topic?: string }
  | { name: 'version' };

export const HELP = `Usage: node scripts/ingest.mjs <command> [flags]   (or: npx tsx Taskfile.ts <command> [flags])

Commands:
  run            run the nightly pipeline for every site (default)
  demo           run the pipeline on the bundled demo site with embedded local services
  sites          list the discovered sites               [--json]
  consistency    compare local folders and buckets        [--sites=a,b] [--json] [--verbose]
  feed <url|file> parse one feed, print its episodes      [--json] [--at=<epoch-ms>]
  validate       check the automation configuration offline
  check-access   check each site's role, bucket and indexing function live  [--sites=a,b]

Flags for run:
  --sites=a,b            only these sites
  --skip=step,...        skip these steps (${STEP_NAMES.join(', ')})
  --only=step,...        run only these steps
  --sync-folders=a,b     synced top-level folders (default: ${SYNC_FOLDERS.join(',')})
  --concurrency=N        sites processed at once (default 4)
  --renderer=auto|tree|plain   live tree in a terminal, timestamped lines otherwise (auto)
  --log-file=F           also append the plain lines to F
  --summary-json=F       write the run summary as JSON to F
  --dry-run              print what would be done and why; change nothing
  --force-index          invoke indexing even when nothing was uploaded
  --wait-for-index       invoke indexing synchronously and fail on a function error
  --verbose              debug lines and file lists
Common flags:
  --sites-root=DIR       where site folders live (default: sites)
  --local-root=DIR       local mirror of the buckets (default: aws-local-dev/s3)
  --help, --version

Exit codes: 0 clean, 1 a step failed, 2 usage or configuration error,
            3 another run holds the lock, 130 interrupted.`;

const COMMANDS = ['run', 'demo', 'sites', 'consistency', 'feed', 'validate', 'check-access', 'help', 'version'] as const;

function list(value: string | undefined, flag: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`--${flag} needs a comma-separated list`);
  return items;
}

function steps(value: string | undefined, flag: string): StepName[] | undefined {
  const items = list(value, flag);
  if (!items) return undefined;
  for (const item of items) {
    if (!(STEP_NAMES as readonly string[]).includes(item)) {
      throw new UsageError(`--${flag}: unknown step "${item}" (steps: ${STEP_NAMES.join(', ')})`);
    }
  }
  return items as StepName[];
}

function syncFolders(value: string | undefined): string[] {
  const items = list(value, 'sync-folders') ?? [...SYNC_FOLDERS];
  for (const item of items) {
    if (!/^[A-Za-z0-9_-]+$/.test(item)) throw new UsageError(`--sync-folders: "${item}" is not a top-level folder name`);
  }
  return items;
}

export function defaultConcurrency(): number {
  return Math.max(2, Math.min(4, os.availableParallelism() * 2));
}

export function parseCommandLine(argv: string[]): Command {
  const first = argv[0];
  const commandName = first && !first.startsWith('-') ? first : 'run';
  const rest = first && !first.startsWith('-') ? argv.slice(1) : argv;
  if (!(COMMANDS as readonly string[]).includes(commandName)) {
    throw new UsageError(`unknown command "${commandName}" (commands: ${COMMANDS.join(', ')})`);
  }
  if (commandName === 'version') return { name: 'version' };
  if (commandName === 'help') return { name: 'help', topic: rest[0] };

  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: commandName === 'feed',
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        'sites-root': { type: 'string' },
        'local-root': { type: 'string' },
        sites: { type: 'string' },
        json: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        skip: { type: 'string' },
        only: { type: 'string' },
        'sync-folders': { type: 'string' },
        concurrency: { type: 'string' },
        renderer: { type: 'string' },
        'log-file': { type: 'string' },
        'summary-json': { type: 'string' },
        'dry-run': { type: 'boolean', short: 'n' },
        'force-index': { type: 'boolean' },
        'wait-for-index': { type: 'boolean' },
        at: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const v = parsed.values;
  if (v.help) return { name: 'help', topic: commandName };
  if (v.version) return { name: 'version' };

  const runOnly = ['skip', 'only', 'concurrency', 'renderer', 'log-file', 'summary-json', 'dry-run', 'force-index', 'wait-for-index'] as const;
  if (commandName !== 'run' && commandName !== 'demo') {
    for (const flag of runOnly) {
      if (v[flag] !== undefined) throw new UsageError(`--${flag} is only valid for "run"`);
    }
  }
  if (commandName !== 'feed' && v.at !== undefined) throw new UsageError('--at is only valid for "feed"');

  const common: CommonFlags = {
    sitesRoot: v['sites-root'] ?? 'sites',
    localRoot: v['local-root'] ?? 'aws-local-dev/s3',
    sites: list(v.sites, 'sites'),
    json: v.json ?? false,
    verbose: v.verbose ?? false,
  };

  switch (commandName) {
    case 'run':
    case 'demo': {
      const concurrency = v.concurrency === undefined ? defaultConcurrency() : Number(v.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
        throw new UsageError(`--concurrency must be an integer from 1 to 64 (got "${v.concurrency}")`);
      }
      const renderer = (v.renderer ?? 'auto') as Renderer;
      if (!['auto', 'tree', 'plain'].includes(renderer)) throw new UsageError(`--renderer must be auto, tree or plain (got "${v.renderer}")`);
      const skip = steps(v.skip, 'skip') ?? [];
      const only = steps(v.only, 'only');
      if (only && skip.length > 0) throw new UsageError('--skip and --only cannot be combined');
      return {
        name: commandName,
        flags: {
          ...common,
          skip,
          only,
          syncFolders: syncFolders(v['sync-folders']),
          concurrency,
          renderer,
          logFile: v['log-file'],
          summaryJson: v['summary-json'],
          dryRun: v['dry-run'] ?? false,
          forceIndex: v['force-index'] ?? false,
          waitForIndex: v['wait-for-index'] ?? false,
        },
      };
    }
    case 'consistency':
      return { name: 'consistency', flags: { ...common, syncFolders: syncFolders(v['sync-folders']) } };
    case 'feed': {
      const source = parsed.positionals[0];
      if (!source || parsed.positionals.length > 1) throw new UsageError('feed takes exactly one URL or file');
      const at = v.at === undefined ? undefined : Number(v.at);
      if (at !== undefined && (!Number.isInteger(at) || at < 0 || String(at).length !== 13)) {
        throw new UsageError(`--at must be epoch milliseconds (13 digits), got "${v.at}"`);
      }
      return { name: 'feed', flags: { ...common, source, at } };
    }
    case 'sites':
    case 'validate':
    case 'check-access':
      return { name: commandName, flags: common };
    default:
      throw new UsageError(`unknown command "${commandName}"`);
  }
}
