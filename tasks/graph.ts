// The task graph: a listr2 tree with one subtree per site. Sites run concurrently, the steps
// of a site in order. Deciding (skip, run, record) happens in runSiteStep; listr2 only
// declares and renders. In plain mode the silent renderer is used and the logger prints.
import { Listr, type ListrTask } from 'listr2';
import type { Limits, PlannedAction, RunOptions, StepContext } from './context.ts';
import { newSiteState } from './context.ts';
import type { Logger, LogSink } from './log.ts';
import type { SiteConfig, ConfigProblem } from './site-config.ts';
import type { StepDefinition } from './steps.ts';
import { createSiteClients } from './aws/clients.ts';
import { describeCounts, formatDuration, siteRecord } from './summary.ts';
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
    records.set(problem.site, {
      site: problem.site,
      status: 'failed',
      steps: [],
    });
    input.logger.child({ site: problem.site, step: 'config' }).error(problem.message);
  }

  const siteTasks: ListrTask[] = input.sites.map((site) => ({
    title: site.id,
    task: (_ctx, siteTask) => {
      const state = newSiteState();
      const clients = createSiteClients(site, input.options.runId);
      const steps: StepRecord[] = [];
      records.set(site.id, siteRecord(site.id, steps));
      const stepTasks: ListrTask[] = input.pipeline.map((definition) => ({
        title: definition.name,
        task: async (_c, stepTask) => {
          const log = input.logger.child({ site: site.id, step: definition.name });
          input.activityRouter.attach(site.id, definition.name, (text) => {
            stepTask.output = text;
          });
          try {
            const record = await runSiteStep(definition, {
              site,
              options: input.options,
              signal: input.signal,
              log,
              limits: input.limits,
              state,
              clients,
              effect: gate(input.options.dryRun, log),
            }, input.excluded(definition.name));
            steps.push(record);
            records.set(site.id, siteRecord(site.id, steps));
            const detail = [record.message, describeCounts(record.counts)].filter(Boolean).join(' · ');
            stepTask.title = `${definition.name}: ${record.status}${detail ? ` (${detail})` : ''} ${formatDuration(record.durationMs)}`;
            if (record.status === 'skipped') stepTask.skip(`${definition.name}: skipped (${record.message})`);
            if (record.status === 'failed') throw new Error(`${definition.name}: ${record.message}`);
          } finally {
            input.activityRouter.detach(site.id, definition.name);
          }
        },
      }));
      return siteTask.newListr(stepTasks, {
        concurrent: false,
        exitOnError: false,
        rendererOptions: { collapseSubtasks: true },
      });
    },
  }));

  const list = new Listr(siteTasks, {
    concurrent: input.concurrency,
    exitOnError: false,
    // The runner owns signals and exit codes (130 on interrupt, summary first).
    registerSignalListeners: false,
    renderer: input.renderer === 'tree' ? 'default' : 'silent',
    rendererOptions: {
      collapseSubtasks: true,
      collapseErrors: false,
      showErrorMessage: false,
      formatOutput: 'truncate',
    },
    collectErrors: false,
  } as ConstructorParameters<typeof Listr>[1]);
  try {
    await list.run();
  } catch {
    // Failures are recorded per step; listr2 only reports them again here.
  }

  // Keep the order of discovery: config problems first, then sites alphabetically.
  return [...records.values()];
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
