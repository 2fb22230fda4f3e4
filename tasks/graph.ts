// The task graph: a listr2 tree with one subtree per site. Sites run concurrently, the steps
// of a site in order. Deciding (skip, run, record) happens in runSiteStep; listr2 only
// declares and renders. In plain mode the silent renderer is used and the logger prints.
import chalk from 'chalk';
import { Listr, ListrDefaultRendererLogLevels, ListrTaskEventType, ListrTaskState, Spinner, figures, type ListrTask } from 'listr2';
import type { Limits, PlannedAction, RunOptions, StepContext } from './context.ts';
import { newSiteState } from './context.ts';
import type { Logger, LogSink } from './log.ts';
import type { SiteConfig, ConfigProblem } from './site-config.ts';
import type { StepDefinition } from './steps.ts';
import { createSiteClients } from './aws/clients.ts';
import { describeCounts, siteRecord } from './summary.ts';
import { errorMessage, type SiteRecord, type StepName, type StepRecord } from './types.ts';

export interface GraphInput {
  sites: SiteConfig[];
  problems: ConfigProblem[];
  pipeline: StepDefinition[];
  /** Why a step is left out by --skip/--only, or undefined when it runs. */
  excluded: (step: StepName) => string | undefined;
  options: RunOptions;
  concurrency: number;
  renderer: 'tree' | 'plain';
  logger: Logger;
  /** Lets the tree renderer show a step's activity in place. */
  activityRouter: ActivityRouter;
  limits: Limits;
  signal: AbortSignal;
}

/** Redraws the tree four times a second instead of ten: readable, and cheap over SSH. */
class CalmSpinner extends Spinner {
  override start(callback?: () => void): void {
    super.start(callback, 250);
  }
}

/** Routes 'activity' log events of a running step to its listr2 task output. */
export class ActivityRouter {
  private readonly outputs = new Map<string, (text: string) => void>();
  attach(site: string, step: string, output: (text: string) => void): void {
    this.outputs.set(`${site}/${step}`, output);
  }
  detach(site: string, step: string): void {
    this.outputs.delete(`${site}/${step}`);
  }
  readonly sink: LogSink = (event) => {
    if (!event.site || !event.step) return;
    if (event.level === 'debug') return;
    this.outputs.get(`${event.site}/${event.step}`)?.(event.message);
  };
}

/** Run every site's pipeline; returns one record per site, config failures included. */
export async function runGraph(input: GraphInput): Promise<SiteRecord[]> {
  const records = new Map<string, SiteRecord>();
  for (const problem of input.problems) {
    records.set(problem.site, { site: problem.site, status: 'failed', steps: [] });
    input.logger.child({ site: problem.site, step: 'config' }).error(problem.message);
  }
  const view = new SiteListView(input.sites.length, input.problems.map((p) => p.site));

  const siteTasks: ListrTask[] = input.sites.map((site) => ({
    // An empty title renders nothing: only running and finished sites take a line.
    title: '',
    task: (_ctx, siteTask) => {
      siteTask.title = site.id;
      const state = newSiteState();
      const clients = createSiteClients(site, input.options.runId);
      const steps: StepRecord[] = [];
      records.set(site.id, siteRecord(site.id, steps));
      view.started();
      // Steps never throw (a thrown error would keep the site expanded), so listr2 calls the
      // site completed when its steps are; a failed site must still get its ✖.
      siteTask.task.on(ListrTaskEventType.STATE, (taskState) => {
        if (taskState === ListrTaskState.COMPLETED && records.get(site.id)?.status === 'failed') siteTask.task.state$ = ListrTaskState.FAILED;
      });
      const stepTasks: ListrTask[] = input.pipeline.map((definition, position) => ({
        // Only the running step takes a line (with its activity); finished ones move into the site's title.
        title: '',
        task: async (_c, stepTask) => {
          stepTask.title = definition.name;
          const log = input.logger.child({ site: site.id, step: definition.name });
          // The step's line shows its latest activity (one line per running site step).
          input.activityRouter.attach(site.id, definition.name, (text) => {
            stepTask.title = `${definition.name} ${chalk.dim(`› ${text}`)}`;
          });
          try {
            const ctx: StepContext = {
              site,
              options: input.options,
              signal: input.signal,
              log,
              limits: input.limits,
              state,
              clients,
              effect: gate(input.options.dryRun, log),
            };
            const record = await runSiteStep(definition, ctx, input.excluded(definition.name));
            steps.push(record);
            const site$ = siteRecord(site.id, steps);
            records.set(site.id, site$);
            stepTask.title = '';
            siteTask.title = runningSiteTitle(site.id, steps);
            if (position === input.pipeline.length - 1) {
              // The site is done: its line becomes its result, and old lines make room.
              siteTask.title = siteTitle(site$);
              view.finished(site$, siteTask);
            }
          } finally {
            input.activityRouter.detach(site.id, definition.name);
          }
        },
      }));
      return siteTask.newListr(stepTasks, { concurrent: false, exitOnError: false });
    },
  }));

  const list = new Listr(
    [
      {
        title: view.header(),
        task: (_ctx, group) => {
          view.attachHeader(group);
          return group.newListr(siteTasks, { concurrent: input.concurrency, exitOnError: false });
        },
      },
    ],
    {
      exitOnError: false,
      // The runner owns signals and exit codes (130 on interrupt, summary first).
      registerSignalListeners: false,
      renderer: input.renderer === 'tree' ? 'default' : 'silent',
      rendererOptions: {
        collapseSubtasks: true,
        collapseErrors: false,
        showErrorMessage: false,
        formatOutput: 'truncate',
        spinner: new CalmSpinner(),
        // A failed site (a task with steps under it) gets the cross, not listr2's pointer.
        icon: { [ListrDefaultRendererLogLevels.FAILED_WITH_FAILED_SUBTASKS]: figures.cross },
      },
      collectErrors: false,
    } as ConstructorParameters<typeof Listr>[1],
  );
  try {
    await list.run();
  } catch {
    // Failures are recorded per step; listr2 only reports them again here.
  }
  return [...records.values()];
}

const MARK: Record<StepRecord['status'], string> = {
  ok: chalk.green('✔'),
  'up-to-date': chalk.cyan('≡'),
  skipped: chalk.gray('↓'),
  failed: chalk.red('✖'),
};

/** "alpha  ✔ pre-sync ≡ consistency ✔ rss" while the site runs. */
function runningSiteTitle(id: string, steps: StepRecord[]): string {
  return `${id}  ${steps.map((s) => `${MARK[s.status]} ${s.step}`).join(' ')}`;
}

function siteTitle(site: SiteRecord): string {
  const counts = site.steps.map((s) => describeCounts(s.counts)).filter(Boolean).join(', ');
  const failed = site.steps.filter((s) => s.status === 'failed').map((s) => s.step);
  const errors = site.steps.reduce((n, s) => n + s.errors.length, 0);
  if (failed.length > 0) return chalk.red(`${site.site}: failed in ${failed.join(', ')} (${errors} error${errors === 1 ? '' : 's'})${counts ? ` · ${counts}` : ''}`);
  return `${site.site}: ${site.status}${counts ? ` · ${counts}` : ''}`;
}

/**
 * Keeps the live tree within the terminal: a header counts the sites, and once finished sites
 * would overflow the screen the oldest successful ones are hidden (they stay in the header's
 * counts and in the summary).
 */
class SiteListView {
  private running = 0;
  private readonly done: { record: SiteRecord; task: ListrTaskWrapperLike }[] = [];
  private headerTask: ListrTaskWrapperLike | undefined;

  constructor(
    private readonly total: number,
    private readonly configFailures: string[],
  ) {}

  header(): string {
    const failed = [...this.configFailures, ...this.done.filter((d) => d.record.status === 'failed').map((d) => d.record.site)];
    const waiting = this.total - this.running - this.done.length;
    return (
      `${this.done.length}/${this.total} sites done, ${this.running} running, ${waiting} waiting` +
      (failed.length > 0 ? chalk.red(` · failed: ${failed.join(', ')}`) : '')
    );
  }

  attachHeader(task: ListrTaskWrapperLike): void {
    this.headerTask = task;
    task.title = this.header();
  }

  started(): void {
    this.running++;
    this.refresh();
  }

  finished(record: SiteRecord, task: ListrTaskWrapperLike): void {
    this.running--;
    this.done.push({ record, task });
    // Room: terminal rows minus the header, the running sites (3 lines each: site, step, activity) and a margin.
    const rows = process.stdout.rows ?? 40;
    const budget = Math.max(3, rows - 3 - this.running * 3);
    const visible = this.done.filter((d) => isVisible(d.task));
    for (const entry of visible.filter((d) => d.record.status !== 'failed')) {
      if (visible.filter((d) => isVisible(d.task)).length <= budget) break;
      hide(entry.task);
    }
    this.refresh();
  }

  private refresh(): void {
    if (this.headerTask) this.headerTask.title = this.header();
  }
}

type ListrTaskWrapperLike = { title: string; task: unknown };

// listr2 9 renders only enabled tasks; `enabled` is settable at run time but not typed as public.
function isVisible(wrapper: ListrTaskWrapperLike): boolean {
  return (wrapper.task as { enabled?: boolean }).enabled !== false;
}
function hide(wrapper: ListrTaskWrapperLike): void {
  (wrapper.task as { enabled?: boolean }).enabled = false;
}

/** Decide whether a step runs, run it, and record its outcome. Never throws. */
export async function runSiteStep(
  definition: StepDefinition,
  ctx: StepContext,
  exclusion: string | undefined,
): Promise<StepRecord> {
  const started = Date.now();
  const record = (partial: Omit<StepRecord, 'step' | 'durationMs'>): StepRecord => ({
    step: definition.name,
    durationMs: Date.now() - started,
    ...partial,
  });
  const skipped = (message: string) => record({ status: 'skipped', message, counts: {}, errors: [] });

  if (exclusion) return skipped(exclusion);
  if (ctx.signal.aborted) return skipped('interrupted');
  const blocker = definition.needs.find((need) => ctx.state.unavailable.has(need));
  if (blocker) {
    ctx.state.unavailable.add(definition.name);
    return skipped(`needs ${blocker}, which failed`);
  }
  if (definition.run === 'not-implemented') return skipped('not implemented');

  ctx.log.debug('started');
  try {
    const result = await definition.run(ctx);
    ctx.state.results[definition.name] = result;
    if (result.status === 'failed' && result.fatal) ctx.state.unavailable.add(definition.name);
    const logLine = `${result.status}: ${result.message}`;
    if (result.status === 'failed') ctx.log.error(logLine);
    else ctx.log.info(logLine);
    return record({ status: result.status, message: result.message, counts: result.counts, errors: result.errors });
  } catch (error) {
    // A step throws only on interruption or a bug in our code: record it as fatal.
    const interrupted = ctx.signal.aborted;
    const message = interrupted ? 'interrupted' : `unexpected error: ${errorMessage(error)}`;
    ctx.state.results[definition.name] = { status: 'failed', message, counts: {}, errors: [], fatal: true };
    ctx.state.unavailable.add(definition.name);
    ctx.log.error(message);
    if (!interrupted && error instanceof Error && error.stack) ctx.log.debug(error.stack);
    return record({
      status: 'failed',
      message,
      counts: {},
      errors: [{ site: ctx.site.id, step: definition.name, message }],
    });
  }
}

/** The dry-run gate: one place that knows whether side effects happen. */
function gate(dryRun: boolean, log: Logger): StepContext['effect'] {
  return async <T>(action: PlannedAction, effect: () => Promise<T>): Promise<T | undefined> => {
    if (dryRun) {
      log.info(`would ${action.kind} ${action.target} (${action.reason})`);
      return undefined;
    }
    return effect();
  };
}
