// The command line's contract: each command takes only the flags it reads, in every form
// parseArgs took; anything else is a one-line usage error (exit 2) naming command and flag.
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { COMMANDS, FLAGS, HELP, defaultConcurrency, parseCommandLine, type Command, type RunFlags } from '../tasks/commands/command-line.ts';
import { SYNC_FOLDERS } from '../tasks/platform/types.ts';
import { runCli, type CliResult } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { UsageError } from '../tasks/platform/errors.ts';

const ALL_FOLDERS = [...SYNC_FOLDERS];
const COMMON = { sitesRoot: 'sites', localRoot: 'aws-local-dev/s3', sites: undefined, json: false, verbose: false };
const RUN_DEFAULTS: RunFlags = {
  ...COMMON,
  skip: [],
  only: undefined,
  syncFolders: ALL_FOLDERS,
  concurrency: defaultConcurrency(),
  renderer: 'auto',
  logFile: undefined,
  summaryJson: undefined,
  dryRun: false,
  forceIndex: false,
  waitForIndex: false,
  maxRuntimeMs: undefined,
  onFailure: undefined,
  pingUrl: undefined,
  maxEpisodesPerFeed: undefined,
  index: undefined,
  quiet: false,
  logLevel: 'info',
  logFormat: 'text',
  minFreeBytes: 2 * 1024 ** 3,
};

test('each command takes exactly the flags it reads (the table --help is generated from)', () => {
  const pipeline = [
    'sites', 'skip', 'only', 'sync-folders', 'concurrency', 'renderer', 'log-file', 'summary-json', 'dry-run', 'force-index',
    'max-runtime', 'on-failure', 'ping-url', 'max-episodes-per-feed', 'index', 'quiet', 'log-level', 'log-format', 'min-free',
  ];
  assert.deepEqual(
    Object.fromEntries(Object.entries(COMMANDS).map(([name, spec]) => [name, [...spec.flags].sort()])),
    Object.fromEntries(
      Object.entries({
        run: [...pipeline, 'wait-for-index', 'verbose', 'sites-root', 'local-root'],
        demo: [...pipeline, 'verbose'],
        sites: ['json', 'sites-root', 'local-root'],
        consistency: ['sites', 'sync-folders', 'json', 'verbose', 'sites-root', 'local-root'],
        feed: ['json', 'at'],
        validate: ['sites', 'json', 'sites-root', 'local-root'],
        'check-access': ['sites', 'json', 'sites-root', 'local-root'],
        verify: ['sites', 'sync-folders', 'json', 'sites-root', 'local-root'],
        status: ['sites', 'json', 'sites-root', 'local-root'],
        schedule: ['at', 'kind', 'max-runtime', 'sites-root', 'local-root'],
        help: [],
        version: [],
      }).map(([name, flags]) => [name, flags.sort()]),
    ),
  );
});

test('every flag parses on the commands that list it and is refused, naming it and the command, on the others', () => {
  const sample: Record<string, string> = {
    sites: 'a', skip: 'rss', only: 'rss', 'sync-folders': 'audio', concurrency: '2', renderer: 'plain', 'log-file': 'f', 'summary-json': 'f', at: '1700000000000',
    'sites-root': 'd', 'local-root': 'd', 'max-runtime': '6h', 'on-failure': 'true', 'ping-url': 'https://hc.example/x', 'max-episodes-per-feed': '3', index: 'local',
    'log-level': 'warn', 'log-format': 'json', 'min-free': '1GB', kind: 'cron',
  };
  for (const command of Object.keys(COMMANDS) as (keyof typeof COMMANDS)[]) {
    for (const flag of Object.keys(FLAGS)) {
      if (flag === 'help' || flag === 'version') continue;
      const value = command === 'schedule' && flag === 'at' ? '02:30' : sample[flag];
      const args = [command, ...(command === 'feed' ? ['feed.xml'] : command === 'schedule' ? ['install'] : []), value ? `--${flag}=${value}` : `--${flag}`];
      if ((COMMANDS[command].flags as readonly string[]).includes(flag)) {
        assert.doesNotThrow(() => parseCommandLine(args), args.join(' '));
      } else {
        assert.throws(() => parseCommandLine(args), { name: 'UsageError', message: new RegExp(`^${command} --${flag}: not a flag of "${command}" \\(it is for `) }, args.join(' '));
      }
    }
  }
});

test('accepted command lines: every flag of every command, in each form parseArgs took', () => {
  const cases: [string[], Command][] = [
    [[], { name: 'run', flags: RUN_DEFAULTS }],
    [['--only=rss'], { name: 'run', flags: { ...RUN_DEFAULTS, only: ['rss'] } }],
    [
      ['run', '--sites=a, b', '--skip=rss,index', '--sync-folders=audio,rss', '--concurrency=8', '--renderer=plain', '--log-file=l.log', '--summary-json=s.json', '--dry-run', '--force-index', '--wait-for-index', '--verbose', '--sites-root=S', '--local-root=L'],
      { name: 'run', flags: { ...RUN_DEFAULTS, sites: ['a', 'b'], skip: ['rss', 'index'], syncFolders: ['audio', 'rss'], concurrency: 8, renderer: 'plain', logFile: 'l.log', summaryJson: 's.json', dryRun: true, forceIndex: true, waitForIndex: true, verbose: true, logLevel: 'debug', sitesRoot: 'S', localRoot: 'L' } },
    ],
    // `--flag value`, bundled short switches, the last of a repeated flag wins.
    [
      ['run', '--sites-root', 'S', '--only', 'pre-sync,upload', '-nv', '--concurrency', '1', '--concurrency=3', '--log-file', '-'],
      { name: 'run', flags: { ...RUN_DEFAULTS, sitesRoot: 'S', only: ['pre-sync', 'upload'], dryRun: true, verbose: true, logLevel: 'debug', concurrency: 3, logFile: '-' } },
    ],
    [
      ['demo', '--renderer=plain', '--summary-json=first.json', '--sites=demo', '--only=rss', '--sync-folders=audio', '--concurrency=2', '--log-file=d.log', '-n', '--force-index', '-v'],
      { name: 'demo', flags: { ...RUN_DEFAULTS, renderer: 'plain', summaryJson: 'first.json', sites: ['demo'], only: ['rss'], syncFolders: ['audio'], concurrency: 2, logFile: 'd.log', dryRun: true, forceIndex: true, verbose: true, logLevel: 'debug' } },
    ],
    [['demo', '--skip', 'transcribe'], { name: 'demo', flags: { ...RUN_DEFAULTS, skip: ['transcribe'] } }],
    [['sites', '--json', '--sites-root=S', '--local-root', 'L'], { name: 'sites', flags: { ...COMMON, json: true, sitesRoot: 'S', localRoot: 'L' } }],
    [['consistency'], { name: 'consistency', flags: { ...COMMON, syncFolders: ALL_FOLDERS } }],
    [
      ['consistency', '--sites=a,b', '--sync-folders', 'transcripts', '--json', '--verbose', '--sites-root=S', '--local-root=L'],
      { name: 'consistency', flags: { ...COMMON, sites: ['a', 'b'], syncFolders: ['transcripts'], json: true, verbose: true, sitesRoot: 'S', localRoot: 'L' } },
    ],
    [['feed', 'feed.xml', '--json', '--at=1721921400000'], { name: 'feed', flags: { ...COMMON, source: 'feed.xml', json: true, at: 1721921400000 } }],
    [['feed', '--at', '1721921400000', 'https://x/f'], { name: 'feed', flags: { ...COMMON, source: 'https://x/f', at: 1721921400000 } }],
    [['feed', '--', '-odd.xml'], { name: 'feed', flags: { ...COMMON, source: '-odd.xml', at: undefined } }],
    [['validate', '--sites=one,four', '--json', '--sites-root=S', '--local-root=L'], { name: 'validate', flags: { ...COMMON, sites: ['one', 'four'], json: true, sitesRoot: 'S', localRoot: 'L' } }],
    [['check-access', '--sites=a', '--json', '--sites-root=S', '--local-root=L'], { name: 'check-access', flags: { ...COMMON, sites: ['a'], json: true, sitesRoot: 'S', localRoot: 'L' } }],
    [['help'], { name: 'help', topic: undefined }],
    [['help', 'run'], { name: 'help', topic: 'run' }],
    [['--help'], { name: 'help', topic: 'run' }],
    [['feed', '-h'], { name: 'help', topic: 'feed' }],
    [['sites', '--help'], { name: 'help', topic: 'sites' }],
    [['--version'], { name: 'version' }],
    [['version'], { name: 'version' }],
    [['check-access', '--version'], { name: 'version' }],
  ];
  for (const [argv, expected] of cases) assert.deepEqual(parseCommandLine(argv), expected, argv.join(' '));
});

test('rejections: exactly one line naming the command and the flag, with a suggestion for a near miss', () => {
  const cases: [string[], string][] = [
    // A flag the command does not read.
    [['sites', '--sync-folders=zzz'], 'sites --sync-folders: not a flag of "sites" (it is for run, demo, consistency, verify)'],
    [['run', '--json'], 'run --json: not a flag of "run" (it is for sites, consistency, feed, validate, check-access, verify, status)'],
    [['demo', '--sites-root=S'], 'demo --sites-root: not a flag of "demo" (it is for run, sites, consistency, validate, check-access, verify, status, schedule)'],
    [['demo', '--wait-for-index'], 'demo --wait-for-index: not a flag of "demo" (it is for run)'],
    [['feed', 'f.xml', '--verbose'], 'feed --verbose: not a flag of "feed" (it is for run, demo, consistency)'],
    [['sites', '-v'], 'sites -v: not a flag of "sites" (it is for run, demo, consistency)'],
    [['validate', '-n'], 'validate -n: not a flag of "validate" (it is for run, demo)'],
    [['version', '--json'], 'version --json: not a flag of "version" (it is for sites, consistency, feed, validate, check-access, verify, status)'],
    // Unknown flags: near misses get the right name, from the command's own flags.
    [['run', '--sync-folder=audio'], 'run --sync-folder: unknown flag (did you mean --sync-folders?)'],
    [['run', '--dryrun'], 'run --dryrun: unknown flag (did you mean --dry-run?)'],
    [['--dryrun'], 'run --dryrun: unknown flag (did you mean --dry-run?)'],
    [['consistency', '--jsno'], 'consistency --jsno: unknown flag (did you mean --json?)'],
    [['run', '--frobnicate'], 'run --frobnicate: unknown flag'],
    [['run', '--constructor'], 'run --constructor: unknown flag'],
    [['feed', 'f.xml', '--x'], 'feed --x: unknown flag'],
    [['run', '-nx'], 'run -x: unknown flag'],
    // Empty or missing values.
    [['run', '--log-file='], 'run --log-file: needs a value'],
    [['--log-file='], 'run --log-file: needs a value'],
    [['run', '--log-file'], 'run --log-file: needs a value'],
    [['run', '--log-file', '--dry-run'], 'run --log-file: needs a value'],
    [['run', '--sites-root', ''], 'run --sites-root: needs a value'],
    [['consistency', '--sites='], 'consistency --sites: needs a value'],
    [['run', '--sites=,'], 'run --sites: needs a comma-separated list'],
    [['feed', 'f.xml', '--at='], 'feed --at: needs a value'],
    [['run', '--dry-run=yes'], 'run --dry-run: takes no value'],
    // Folders outside SYNC_FOLDERS.
    [['run', '--sync-folders=audoi'], 'run --sync-folders: unknown folder "audoi" (did you mean audio?)'],
    [['run', '--sync-folders=audio,bogus'], `run --sync-folders: unknown folder "bogus" (folders: ${SYNC_FOLDERS.join(', ')})`],
    [['consistency', '--sync-folders=transcript'], 'consistency --sync-folders: unknown folder "transcript" (did you mean transcripts?)'],
    [['demo', '--sync-folders=zzz'], `demo --sync-folders: unknown folder "zzz" (folders: ${SYNC_FOLDERS.join(', ')})`],
    // Bad values that were refused before, still refused.
    [['run', '--skip=download'], 'run --skip: unknown step "download" (steps: pre-sync, consistency, rss, transcribe, upload, index)'],
    [['run', '--only=trancribe'], 'run --only: unknown step "trancribe" (did you mean transcribe?)'],
    [['run', '--skip=rss', '--only=index'], 'run --skip: cannot be combined with --only'],
    [['run', '--concurrency=0'], 'run --concurrency: must be an integer from 1 to 64 (got "0")'],
    [['run', '--renderer=fancy'], 'run --renderer: must be auto, tree or plain (got "fancy")'],
    [['feed', 'f.xml', '--at=17'], 'feed --at: must be epoch milliseconds (13 digits), got "17"'],
    [['feed'], 'feed: needs one URL or file'],
    [['feed', 'a.xml', 'b.xml'], 'feed: unexpected argument "b.xml"'],
    [['sites', 'extra'], 'sites: unexpected argument "extra"'],
    [['explode'], 'unknown command "explode" (commands: run, demo, sites, consistency, feed, validate, check-access, verify, status, schedule, help, version)'],
    [['sties'], 'unknown command "sties" (did you mean sites?)'],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseCommandLine(argv), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${argv.join(' ')}: ${String(error)}`);
      assert.equal(error.message, message, argv.join(' '));
      return true;
    });
  }
});

test('--help is generated from the table: every command with its flags, every flag, exit code 70 with the others', () => {
  for (const [name, spec] of Object.entries(COMMANDS)) {
    assert.match(HELP, new RegExp(`^  ${name} .*${spec.help.replace(/[()]/g, '\\$&')}$`, 'm'), name);
    const listed = HELP.split(`${spec.help}\n`)[1]!.split(/\n  \S/)[0]!;
    assert.deepEqual(listed.match(/--[a-z-]+/g) ?? [], spec.flags.map((f) => `--${f}`), `flags listed under ${name}`);
  }
  for (const [name, spec] of Object.entries(FLAGS)) assert.match(HELP, new RegExp(`--${name}\\b.* ${spec.help.replace(/[()|]/g, '\\$&')}$`, 'm'), name);
  assert.match(HELP, /--sites=a,b/);
  assert.match(HELP, /^Exit codes: 0 clean, 1 a step failed, 2 usage or configuration error, 3 another run holds the lock,\n {12}70 internal error \(a bug in the runner\), 130 interrupted\.$/m);
});

// Through the operator's command (scripts/ingest.mjs): exit 2, the message on one line, no stack.
function assertUsageExit(r: CliResult, message: string): void {
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stderr.split('\n')[0], `error: ${message}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.equal(r.stdout, '');
}

test('CLI: sites --sync-folders=zzz exits 2 naming the flag and the command', async () => {
  assertUsageExit(await runCli(['sites', '--sync-folders=zzz']), 'sites --sync-folders: not a flag of "sites" (it is for run, demo, consistency, verify)');
});

test('CLI: run --sync-folders=audoi exits 2 suggesting audio', async (t) => {
  // An empty sites root: had the folder been accepted, the run would have exited 2 for "no sites found" instead.
  const sitesRoot = await tempDir(t);
  assertUsageExit(await runCli(['run', '--sync-folders=audoi', `--sites-root=${sitesRoot}`]), 'run --sync-folders: unknown folder "audoi" (did you mean audio?)');
});

test('--version prints the version package.json has', async () => {
  const { VERSION } = await import('../tasks/platform/version.ts');
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
  assert.equal(parseCommandLine(['--version']).name, 'version');
});
