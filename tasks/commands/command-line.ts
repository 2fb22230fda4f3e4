// Command-line parsing: one typed record per command. Each command accepts only the flags it
// reads (COMMANDS below, which also generates HELP); anything else is a usage error (exit 2)
// that names the command and the flag, with a suggestion for a near miss.
import { unreachable, UsageError } from '../platform/errors.ts';
import { suggest } from '../platform/suggest.ts';
import { wrapWords } from '../platform/format.ts';
import os from 'node:os';
import { STEP_NAMES, SYNC_FOLDERS, type StepName } from '../platform/types.ts';


export type Renderer = 'auto' | 'tree' | 'plain';
export type LogLevelFlag = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
export type IndexWhere = 'lambda' | 'local';
export type ScheduleKind = 'auto' | 'systemd' | 'launchd' | 'cron';

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
  /** Stop cleanly (exit 130) once the run has lasted this long, in ms. */
  maxRuntimeMs?: number;
  /** A command run with the summary JSON's path when the run does not end clean. */
  onFailure?: string;
  /** A healthchecks.io-style URL pinged at start, success and failure (also INGEST_PING_URL). */
  pingUrl?: string;
  /** Cap the episodes a feed adds in one run (newest first; the rest come on later runs). */
  maxEpisodesPerFeed?: number;
  /** Where the search index is built for this run (overrides each site's automation.indexing). */
  index?: IndexWhere;
  /** Only warnings and errors (plain) / no tree (terminal). */
  quiet: boolean;
  logLevel: LogLevelFlag;
  logFormat: LogFormat;
  /** Refuse to start when the local root has less free space than this (bytes). */
  minFreeBytes: number;
}

export interface ScheduleFlags extends CommonFlags {
  action: 'install' | 'status' | 'remove';
  /** HH:MM, local time. */
  at: string;
  kind: ScheduleKind;
  maxRuntimeMs: number;
}

export type Command =
  | { name: 'run'; flags: RunFlags }
  | { name: 'demo'; flags: RunFlags }
  | { name: 'sites'; flags: CommonFlags }
  | { name: 'consistency'; flags: CommonFlags & { syncFolders: string[] } }
  | { name: 'feed'; flags: CommonFlags & { source: string; at?: number } }
  | { name: 'validate'; flags: CommonFlags }
  | { name: 'check-access'; flags: CommonFlags }
  | { name: 'verify'; flags: CommonFlags & { syncFolders: string[] } }
  | { name: 'status'; flags: CommonFlags }
  | { name: 'schedule'; flags: ScheduleFlags }
  | { name: 'help'; topic?: string }
  | { name: 'version' };

/** A flag with `value` takes one (`--flag=v` or `--flag v`, never empty); without, it is a switch. */
interface FlagSpec {
  value?: string;
  short?: string;
  help: string;
}

export const FLAGS = {
  sites: { value: 'a,b', help: 'only these sites' },
  skip: { value: 'step,...', help: `skip these steps (${STEP_NAMES.join(', ')})` },
  only: { value: 'step,...', help: 'run only these steps' },
  'sync-folders': { value: 'a,b', help: `synced top-level folders (default: ${SYNC_FOLDERS.join(',')})` },
  concurrency: { value: 'N', help: 'sites processed at once (default 4)' },
  renderer: { value: 'auto|tree|plain', help: 'live tree in a terminal, timestamped lines otherwise (auto)' },
  'log-file': { value: 'F', help: 'also append the plain lines to F' },
  'summary-json': { value: 'F', help: 'write the run summary as JSON to F' },
  'dry-run': { short: 'n', help: 'print what would be done and why; change nothing' },
  'force-index': { help: 'invoke indexing even when nothing was uploaded' },
  'wait-for-index': { help: 'invoke indexing synchronously and fail on a function error' },
  verbose: { short: 'v', help: 'debug lines and file lists' },
  json: { help: 'print JSON' },
  at: { value: 'epoch-ms|HH:MM', help: 'feed: the download time file keys are made with (13 digits); schedule: the time of the nightly run (default 02:30)' },
  'max-runtime': { value: 'DURATION', help: 'stop cleanly after this long (e.g. 6h, 90m; schedule default 8h)' },
  'on-failure': { value: 'COMMAND', help: 'run COMMAND with the summary JSON path as its argument when the run is not clean' },
  'ping-url': { value: 'URL', help: 'healthchecks.io-style pings: URL/start, URL on success, URL/fail otherwise (or INGEST_PING_URL)' },
  'max-episodes-per-feed': { value: 'N', help: 'add at most N new episodes per feed this run, newest first' },
  index: { value: 'lambda|local', help: "build the search index with the site's function (lambda) or on this machine (local)" },
  quiet: { short: 'q', help: 'only warnings, errors and the summary' },
  'log-level': { value: 'debug|info|warn|error', help: 'the least severe lines shown (default info; --verbose is debug)' },
  'log-format': { value: 'text|json', help: 'plain lines as text, or one JSON object per line for log shippers' },
  'min-free': { value: 'SIZE', help: 'refuse to start below this free space in the local root (default 2GB)' },
  kind: { value: 'auto|systemd|launchd|cron', help: 'schedule: what runs the nightly job (auto picks for this system)' },
  'sites-root': { value: 'DIR', help: 'where site folders live (default: sites)' },
  'local-root': { value: 'DIR', help: 'local mirror of the buckets (default: aws-local-dev/s3)' },
  help: { short: 'h', help: 'print this text' },
  version: { help: 'print the version' },
} satisfies Record<string, FlagSpec>;
type FlagName = keyof typeof FLAGS;

/** Every command takes these too. */
const GLOBAL_FLAGS: readonly FlagName[] = ['help', 'version'];
const PIPELINE_FLAGS = [
  'sites', 'skip', 'only', 'sync-folders', 'concurrency', 'renderer', 'log-file', 'summary-json', 'dry-run', 'force-index',
  'max-runtime', 'on-failure', 'ping-url', 'max-episodes-per-feed', 'index', 'quiet', 'log-level', 'log-format', 'min-free',
] as const;

/** Each command and the flags it reads. `args` names its positionals, if any. */
export const COMMANDS = {
  run: { help: 'run the nightly pipeline for every site (default)', flags: [...PIPELINE_FLAGS, 'wait-for-index', 'verbose', 'sites-root', 'local-root'] },
  // The demo brings its own sites and local root and always waits for indexing (Taskfile.ts).
  demo: { help: 'run the pipeline on the bundled demo site with embedded local services', flags: [...PIPELINE_FLAGS, 'verbose'] },
  sites: { help: 'list the discovered sites', flags: ['json', 'sites-root', 'local-root'] },
  consistency: { help: 'compare local folders and buckets', flags: ['sites', 'sync-folders', 'json', 'verbose', 'sites-root', 'local-root'] },
  feed: { args: '<url|file>', help: 'parse one feed, print its episodes', flags: ['json', 'at'] },
  // validate and check-access pass --local-root only to site discovery; kept so one --sites-root
  // --local-root pair works with every site command (test/runner.test.ts relies on it).
  validate: { help: 'check the automation configuration offline', flags: ['sites', 'json', 'sites-root', 'local-root'] },
  'check-access': { help: "check each site's role, bucket and indexing function live", flags: ['sites', 'json', 'sites-root', 'local-root'] },
  verify: { help: 'check every episode has its audio, transcript and entries, locally and in the bucket (exit 1 on a finding)', flags: ['sites', 'sync-folders', 'json', 'sites-root', 'local-root'] },
  status: { help: 'per site: the last good run, failures in a row, pending work, episodes needing attention, silent feeds', flags: ['sites', 'json', 'sites-root', 'local-root'] },
  schedule: { args: 'install|status|remove', help: 'install, show or remove the nightly run (systemd timer, launchd or cron)', flags: ['at', 'kind', 'max-runtime', 'sites-root', 'local-root'] },
  help: { args: '[command]', help: 'print this text', flags: [] },
  version: { help: 'print the version', flags: [] },
} satisfies Record<string, { args?: string; help: string; flags: readonly FlagName[] }>;
type CommandName = keyof typeof COMMANDS;

const flagsOf = (command: CommandName): readonly FlagName[] => [...COMMANDS[command].flags, ...GLOBAL_FLAGS];

function flagUsage(name: FlagName): string {
  const spec: FlagSpec = FLAGS[name];
  return `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.value ? `=${spec.value}` : ''}`;
}

export const HELP = [
  'Usage: node scripts/ingest.mjs <command> [flags]   (or: npx tsx Taskfile.ts <command> [flags])',
  '',
  'Commands, each with the only flags it takes (besides --help and --version):',
  ...Object.entries(COMMANDS).flatMap(([name, spec]) => {
    const head = `  ${`${name} ${'args' in spec ? spec.args : ''}`.padEnd(18)} ${spec.help}`;
    return spec.flags.length === 0 ? [head] : [head, wrapWords(spec.flags.map((f) => `--${f}`), 100, ' '.repeat(21))];
  }),
  '',
  'Flags:',
  ...Object.keys(FLAGS).map((name) => `  ${flagUsage(name as FlagName).padEnd(30)} ${FLAGS[name as FlagName].help}`),
  '',
  'Exit codes: 0 clean, 1 a step failed, 2 usage or configuration error, 3 another run holds the lock,',
  '            70 internal error (a bug in the runner), 130 interrupted.',
].join('\n');

/** Every usage error reads "<command> <flag>: <problem>". */
const usage = (command: CommandName, flag: string, problem: string) => new UsageError(`${command} ${flag}: ${problem}`);

/** The flag `written` stands for, if `command` takes it; otherwise why not. */
function accepted(command: CommandName, written: string, name: string | undefined): FlagName {
  const own = flagsOf(command);
  if (own.includes(name as FlagName)) return name as FlagName;
  if (name !== undefined && Object.hasOwn(FLAGS, name)) {
    const takers = Object.keys(COMMANDS).filter((c) => (COMMANDS[c as CommandName].flags as readonly string[]).includes(name));
    throw usage(command, written, `not a flag of "${command}" (it is for ${takers.join(', ')})`);
  }
  throw usage(command, written, `unknown flag${written.startsWith('--') ? suggest(written.slice(2), own, '--') : ''}`);
}

type Values = Partial<Record<FlagName, string | true>>;

/** The one parser: `--flag`, `--flag=value`, `--flag value`, bundled short switches (`-nv`), `--`. */
function parseFlags(command: CommandName, args: string[]): { values: Values; positionals: string[] } {
  const values: Values = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
    } else if (!arg.startsWith('--')) {
      for (const letter of arg.slice(1)) {
        const name = Object.keys(FLAGS).find((f) => (FLAGS[f as FlagName] as FlagSpec).short === letter);
        values[accepted(command, `-${letter}`, name)] = true;
      }
    } else {
      const eq = arg.indexOf('=');
      const flag = accepted(command, eq < 0 ? arg : arg.slice(0, eq), eq < 0 ? arg.slice(2) : arg.slice(2, eq));
      if (!(FLAGS[flag] as FlagSpec).value) {
        if (eq >= 0) throw usage(command, `--${flag}`, 'takes no value');
        values[flag] = true;
        continue;
      }
      // As parseArgs did: `--flag -x` is a missing value, not a value "-x" (write --flag=-x).
      const next = args[i + 1];
      const value = eq >= 0 ? arg.slice(eq + 1) : next !== undefined && !/^-./.test(next) ? args[++i] : undefined;
      if (!value) throw usage(command, `--${flag}`, 'needs a value');
      values[flag] = value;
    }
  }
  return { values, positionals };
}

function list(command: CommandName, flag: FlagName, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw usage(command, `--${flag}`, 'needs a comma-separated list');
  return items;
}

/** A list whose every item is one of `known`, with a suggestion for a near miss. */
function listOf<T extends string>(command: CommandName, flag: FlagName, value: string | undefined, known: readonly T[], noun: string): T[] | undefined {
  const items = list(command, flag, value);
  for (const item of items ?? []) {
    if (!(known as readonly string[]).includes(item)) {
      const hint = suggest(item, known);
      throw usage(command, `--${flag}`, `unknown ${noun} "${item}"${hint || ` (${noun}s: ${known.join(', ')})`}`);
    }
  }
  return items as T[] | undefined;
}

export function defaultConcurrency(): number {
  return Math.max(2, Math.min(4, os.availableParallelism() * 2));
}

export function parseCommandLine(argv: string[]): Command {
  const named = argv[0] !== undefined && !argv[0].startsWith('-');
  const name = named ? argv[0]! : 'run';
  if (!Object.hasOwn(COMMANDS, name)) {
    const names = Object.keys(COMMANDS);
    throw new UsageError(`unknown command "${name}"${suggest(name, names) || ` (commands: ${names.join(', ')})`}`);
  }
  const command = name as CommandName;
  const { values: v, positionals } = parseFlags(command, named ? argv.slice(1) : argv);
  const text = (flag: FlagName) => (typeof v[flag] === 'string' ? (v[flag] as string) : undefined);
  if (v.help) return { name: 'help', topic: command === 'help' ? positionals[0] : command };
  if (v.version || command === 'version') return { name: 'version' };

  const maxPositionals = command === 'feed' || command === 'help' || command === 'schedule' ? 1 : 0;
  if (positionals.length > maxPositionals) throw new UsageError(`${command}: unexpected argument "${positionals[maxPositionals]}"`);
  if (command === 'help') return { name: 'help', topic: positionals[0] };

  // Flags a command does not take never reach `v`, so they get their defaults here.
  const common: CommonFlags = {
    sitesRoot: text('sites-root') ?? 'sites',
    localRoot: text('local-root') ?? 'aws-local-dev/s3',
    sites: list(command, 'sites', text('sites')),
    json: v.json === true,
    verbose: v.verbose === true,
  };
  const syncFolders = listOf(command, 'sync-folders', text('sync-folders'), SYNC_FOLDERS, 'folder') ?? [...SYNC_FOLDERS];

  switch (command) {
    case 'run':
    case 'demo': {
      const concurrency = text('concurrency') === undefined ? defaultConcurrency() : Number(text('concurrency'));
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
        throw usage(command, '--concurrency', `must be an integer from 1 to 64 (got "${text('concurrency')}")`);
      }
      const renderer = (text('renderer') ?? 'auto') as Renderer;
      if (!['auto', 'tree', 'plain'].includes(renderer)) throw usage(command, '--renderer', `must be auto, tree or plain (got "${renderer}")`);
      const skip = listOf(command, 'skip', text('skip'), STEP_NAMES, 'step') ?? [];
      const only = listOf(command, 'only', text('only'), STEP_NAMES, 'step');
      if (only && skip.length > 0) throw usage(command, '--skip', 'cannot be combined with --only');
      const maxEpisodes = text('max-episodes-per-feed');
      if (maxEpisodes !== undefined && !(Number.isInteger(Number(maxEpisodes)) && Number(maxEpisodes) >= 1)) {
        throw usage(command, '--max-episodes-per-feed', `must be a whole number of at least 1 (got "${maxEpisodes}")`);
      }
      const index = oneOf(command, 'index', text('index'), ['lambda', 'local'] as const);
      const logLevel = oneOf(command, 'log-level', text('log-level'), ['debug', 'info', 'warn', 'error'] as const) ?? (v.verbose ? 'debug' : 'info');
      const logFormat = oneOf(command, 'log-format', text('log-format'), ['text', 'json'] as const) ?? 'text';
      if (v.quiet && v.verbose) throw usage(command, '--quiet', 'cannot be combined with --verbose');
      return {
        name: command,
        flags: {
          ...common,
          verbose: common.verbose || logLevel === 'debug',
          skip,
          only,
          syncFolders,
          concurrency,
          renderer,
          logFile: text('log-file'),
          summaryJson: text('summary-json'),
          dryRun: v['dry-run'] === true,
          forceIndex: v['force-index'] === true,
          waitForIndex: v['wait-for-index'] === true,
          maxRuntimeMs: duration(command, 'max-runtime', text('max-runtime')),
          onFailure: text('on-failure'),
          pingUrl: url(command, 'ping-url', text('ping-url')),
          maxEpisodesPerFeed: maxEpisodes === undefined ? undefined : Number(maxEpisodes),
          index,
          quiet: v.quiet === true,
          logLevel: v.quiet && !text('log-level') ? 'warn' : logLevel,
          logFormat,
          minFreeBytes: size(command, 'min-free', text('min-free')) ?? 2 * 1024 ** 3,
        },
      };
    }
    case 'schedule': {
      const action = positionals[0];
      if (action !== 'install' && action !== 'status' && action !== 'remove') {
        throw new UsageError(`schedule: needs install, status or remove${action ? ` (got "${action}"${suggest(action, ['install', 'status', 'remove'])})` : ''}`);
      }
      const at = text('at') ?? '02:30';
      if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(at)) throw usage(command, '--at', `must be HH:MM, 24-hour local time (got "${at}")`);
      const kind = oneOf(command, 'kind', text('kind'), ['auto', 'systemd', 'launchd', 'cron'] as const) ?? 'auto';
      return { name: command, flags: { ...common, action, at, kind, maxRuntimeMs: duration(command, 'max-runtime', text('max-runtime')) ?? 8 * 3_600_000 } };
    }
    case 'verify':
      return { name: command, flags: { ...common, syncFolders } };
    case 'status':
      return { name: command, flags: common };
    case 'consistency':
      return { name: command, flags: { ...common, syncFolders } };
    case 'feed': {
      const source = positionals[0];
      if (!source) throw new UsageError('feed: needs one URL or file');
      const at = text('at') === undefined ? undefined : Number(text('at'));
      if (at !== undefined && (!Number.isInteger(at) || at < 0 || String(at).length !== 13)) {
        throw usage(command, '--at', `must be epoch milliseconds (13 digits), got "${text('at')}"`);
      }
      return { name: command, flags: { ...common, source, at } };
    }
    case 'sites':
    case 'validate':
    case 'check-access':
      return { name: command, flags: common };
    default:
      return unreachable(command);
  }
}

/** One of `allowed`, with a suggestion for a near miss. */
function oneOf<T extends string>(command: CommandName, flag: FlagName, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw usage(command, `--${flag}`, `must be ${allowed.join(', ')} (got "${value}")${suggest(value, allowed)}`);
}

/** "90m", "6h", "1h30m", "45s" or a number of seconds, in ms. */
export function parseDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

function duration(command: CommandName, flag: FlagName, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (!ms) throw usage(command, `--${flag}`, `must be a duration such as 90m, 6h or 1h30m (got "${value}")`);
  return ms;
}

function url(command: CommandName, flag: FlagName, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^https?:\/\/[^\s/]+/.test(value)) throw usage(command, `--${flag}`, `must be an http(s) URL (got "${value}")`);
  return value.replace(/\/+$/, '');
}

/** "2GB", "500MB", "0" or a number of bytes. */
function size(command: CommandName, flag: FlagName, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?$/i.exec(value);
  if (!m) throw usage(command, `--${flag}`, `must be a size such as 2GB or 500MB (got "${value}")`);
  const unit = (m[2] ?? 'B').toUpperCase();
  return Math.round(Number(m[1]) * 1024 ** ['B', 'KB', 'MB', 'GB', 'TB'].indexOf(unit));
}
