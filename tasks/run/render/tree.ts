// The live tree in a terminal, drawn by listr2 (through its public API only) from the run's
// events: a header counting the sites, one line per running site with its steps so far and,
// under it, what its current step is doing; a finished site collapses to its result (✖ when it
// failed, ↓ when it never started), and once finished sites would overflow the screen the oldest
// successful ones are hidden. Warnings (and, with --verbose, every line) are kept and printed
// above the summary table at the end. Output stream and terminal size are injected.
import chalk from 'chalk';
import { Listr, ListrDefaultRendererLogLevels, ListrLogger, ProcessOutput, Spinner, figures, type ListrTaskWrapper } from 'listr2';
import { formatPlainLine, type LogEvent } from '../../platform/log.ts';
import { redact } from '../../platform/secrets.ts';
import type { SiteRecord, StepRecord } from '../../platform/types.ts';
import { unreachable } from '../../platform/errors.ts';
import type { Renderer, RunEvent } from '../events.ts';
import { formatSummaryTable } from '../summary.ts';
import { siteTitle } from './site-line.ts';

export interface TreeRendererOptions {
  stream: NodeJS.WriteStream;
  columns: number;
  rows: number;
  verbose: boolean;
}

/** Redraws four times a second instead of ten: readable, and cheap over SSH. */
class CalmSpinner extends Spinner {
  override start(callback?: () => void): void {
    super.start(callback, 250);
  }
}

const MARK: Record<StepRecord['status'], string> = {
  ok: chalk.green('✔'),
  'up-to-date': chalk.cyan('≡'),
  skipped: chalk.gray('↓'),
  failed: chalk.red('✖'),
};

/** The most warnings shown above the terminal summary (all of them go to --log-file). */
const MAX_SHOWN = 20;

interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

interface SiteView {
  started: Resolvers<void>;
  finished: Resolvers<SiteRecord>;
  steps: StepRecord[];
  current?: string;
  /** What the current step is doing now (its latest activity line). */
  activity?: string;
  wrapper?: ListrTaskWrapper<unknown, typeof import('listr2').DefaultRenderer, typeof import('listr2').SimpleRenderer>;
  record?: SiteRecord;
  /** Whether the site started (it may finish without: a configuration error, an interrupt while queued). */
  running: boolean;
  hidden: boolean;
}

function resolvers<T>(): Resolvers<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

export function treeRenderer(options: TreeRendererOptions): Renderer {
  const views = new Map<string, SiteView>();
  const kept: LogEvent[] = [];
  let total = 0;
  let running = 0;
  const done: string[] = [];
  let header: { title: string } | undefined;
  let drawing: Promise<void> = Promise.resolve();
  let summary: string | undefined;
  const fit = (text: string, indent: number) => truncate(text, Math.max(20, options.columns - indent - 4));

  const headerTitle = () => {
    const failed = [...views].filter(([, v]) => v.record?.status === 'failed').map(([id]) => id);
    const waiting = total - running - done.length;
    return fit(`${done.length}/${total} sites done, ${running} running, ${waiting} waiting` + (failed.length > 0 ? chalk.red(` · failed: ${failed.join(', ')}`) : ''), 0);
  };
  const refreshHeader = () => {
    if (header) header.title = headerTitle();
  };

  const start = (sites: string[]) => {
    total = sites.length;
    for (const site of sites) views.set(site, { started: resolvers(), finished: resolvers(), steps: [], running: false, hidden: false });
    const siteTasks = sites.map((site) => ({
      // An empty title renders nothing: only running and finished sites take a line.
      title: '',
      task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, never, never>) => {
        const view = views.get(site)!;
        view.wrapper = task as unknown as SiteView['wrapper'];
        await view.started.promise;
        task.title = runningTitle(site, view, fit);
        const record = await view.finished.promise;
        task.title = view.hidden ? '' : fit(siteTitle(record), 2);
        if (record.status === 'failed') throw new Error(record.site);
        if (record.status === 'skipped' && record.steps.every((s) => s.status === 'skipped')) task.skip(fit(siteTitle(record), 2));
      },
    }));
    const list = new Listr(
      [
        {
          title: headerTitle(),
          task: (_ctx: unknown, group: ListrTaskWrapper<unknown, never, never>) => {
            header = group;
            refreshHeader();
            return group.newListr(siteTasks as never, { concurrent: true, exitOnError: false });
          },
        },
      ],
      {
        exitOnError: false,
        // The runner owns signals and exit codes (130 on interrupt, summary first).
        registerSignalListeners: false,
        renderer: 'default',
        rendererOptions: {
          // Finished sites stay on screen (their lines are their results) until there is no room.
          collapseSubtasks: false,
          collapseErrors: true,
          showErrorMessage: false,
          formatOutput: 'truncate',
          spinner: new CalmSpinner(),
          logger: new ListrLogger({ useIcons: true, processOutput: new ProcessOutput(options.stream, options.stream) }),
          // A failed site gets the cross, not listr2's pointer.
          icon: { [ListrDefaultRendererLogLevels.FAILED_WITH_FAILED_SUBTASKS]: figures.cross },
        },
        collectErrors: false,
      } as ConstructorParameters<typeof Listr>[1],
    );
    drawing = list.run().then(
      () => undefined,
      // Failed sites are recorded by the scheduler; listr2 only reports them again here.
      () => undefined,
    );
  };

  /** Room for finished sites: the rows minus the header, the running sites (2 lines each) and a margin. */
  const makeRoom = () => {
    const budget = Math.max(3, options.rows - 3 - running * 2);
    const visible = done.map((id) => views.get(id)!).filter((v) => !v.hidden);
    for (const view of visible) {
      if (visible.filter((v) => !v.hidden).length <= budget) break;
      if (view.record?.status !== 'failed' && view.wrapper) {
        view.hidden = true;
        view.wrapper.title = '';
      }
    }
  };

  return {
    handle(event: RunEvent) {
      switch (event.type) {
        case 'run-started':
          start(event.sites);
          return;
        case 'site-queued':
          return;
        case 'site-started': {
          const view = views.get(event.site);
          if (!view) return;
          running++;
          view.running = true;
          view.started.resolve();
          refreshHeader();
          return;
        }
        case 'step-started': {
          const view = views.get(event.site);
          if (!view) return;
          view.current = event.step;
          view.activity = undefined;
          if (view.wrapper) view.wrapper.title = runningTitle(event.site, view, fit);
          return;
        }
        case 'log': {
          const e = event.event;
          if (e.level === 'warn' || (e.level === 'error' && e.site === 'all') || options.verbose) kept.push(e);
          const view = e.site ? views.get(e.site) : undefined;
          if (!view?.wrapper || !view.current || e.step !== view.current) return;
          if (e.level === 'debug' && !options.verbose) return;
          if (e.kind === 'activity' || options.verbose) {
            view.activity = e.message;
            view.wrapper.title = runningTitle(e.site!, view, fit);
          }
          return;
        }
        case 'step-finished': {
          const view = views.get(event.site);
          if (!view) return;
          view.steps.push(event.record);
          view.current = undefined;
          view.activity = undefined;
          if (view.wrapper) view.wrapper.title = runningTitle(event.site, view, fit);
          return;
        }
        case 'site-finished': {
          const view = views.get(event.record.site);
          if (!view) return;
          if (view.running) running--;
          // A site that never started (a broken config, interrupted while queued) still gets its line.
          else view.started.resolve();
          view.running = false;
          view.record = event.record;
          done.push(event.record.site);
          makeRoom();
          refreshHeader();
          view.finished.resolve(event.record);
          return;
        }
        case 'run-finished':
          summary = formatSummaryTable(event.summary, { full: options.verbose, columns: options.columns });
          return;
        default:
          return unreachable(event);
      }
    },
    async finish() {
      await drawing;
      for (const e of kept.slice(0, MAX_SHOWN)) options.stream.write(`${redact(describeKept(e))}\n`);
      if (kept.length > MAX_SHOWN) options.stream.write(`… ${kept.length - MAX_SHOWN} more (all of them with --log-file)\n`);
      if (summary !== undefined) options.stream.write(redact(summary));
    },
  };
}

function describeKept(e: LogEvent): string {
  if (e.level === 'warn') return `warning: [${e.site}] [${e.step}] ${e.message}`;
  if (e.level === 'error') return `error: [${e.site}] [${e.step}] ${e.message}`;
  return formatPlainLine(e);
}

/**
 * "alpha  ✔ pre-sync ≡ consistency ▸ rss" while the site runs and, on a second line under it,
 * what the current step is doing: both fitted to the terminal, the site's steps first.
 */
function runningTitle(id: string, view: SiteView, fit: (text: string, indent: number) => string): string {
  const done = view.steps.map((s) => `${MARK[s.status]} ${s.step}`);
  if (view.current) done.push(`${chalk.yellow('▸')} ${view.current}`);
  const head = fit(`${id}  ${done.join(' ')}`, 2);
  return view.current && view.activity ? `${head}\n${fit(chalk.dim(`› ${view.activity}`), 4)}` : head;
}

/** Cut a line to `width` visible characters (ANSI colour codes do not count). */
function truncate(text: string, width: number): string {
  // eslint-disable-next-line no-control-regex
  const visible = text.replace(/\x1b\[[0-9;]*m/g, '');
  if (visible.length <= width) return text;
  return visible.slice(0, Math.max(1, width - 1)) + '…';
}
