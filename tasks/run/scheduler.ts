// The one scheduler (ARCHITECTURE.md "Steps"): sites run concurrently, at most `concurrency` at
// once; each site's steps run in the pipeline's order, each given the outputs of the steps
// before it. A step is skipped when it is left out (--skip/--only), when the run was
// interrupted, or when a step it needs failed fatally or was skipped for that reason. Every
// decision is an event; renderers draw them, nothing here draws.
import type { SiteClients } from '../aws/clients.ts';
import { errorMessage } from '../platform/errors.ts';
import { Limiter, type Limits } from '../platform/limiter.ts';
import type { Logger } from '../platform/log.ts';
import { createGate, type PlannedAction } from '../platform/plan.ts';
import type { SiteRecord, StepName, StepRecord, StepStatus } from '../platform/types.ts';
import type { SiteConfig } from '../site/site-config.ts';
import type { Done, RunOptions, StepContext, StepDefinition, StepOutputs } from '../steps/contract.ts';
import type { RunEvent } from './events.ts';

export interface SchedulerInput {
  sites: SiteConfig[];
  pipeline: StepDefinition[];
  /** Why a step is left out by --skip/--only, or undefined when it runs. */
  excluded: (step: StepName) => string | undefined;
  options: RunOptions;
  /** Sites processed at once. */
  concurrency: number;
  limits: Limits;
  signal: AbortSignal;
  /** The run's logger; each step gets a child bound to its site and step. */
  logger: Logger;
  clientsFor: (site: SiteConfig) => SiteClients;
  /** Called as a site starts (the durable per-site run counter); a failure is logged, the site goes on. */
  onSiteStart?: (site: SiteConfig) => Promise<void>;
  emit: (event: RunEvent) => void;
}

/** Worst status of a site's steps: failed > ok > up-to-date > skipped. */
export function siteStatus(steps: readonly StepRecord[]): StepStatus {
  if (steps.some((s) => s.status === 'failed')) return 'failed';
  if (steps.some((s) => s.status === 'ok')) return 'ok';
  if (steps.some((s) => s.status === 'up-to-date')) return 'up-to-date';
  return 'skipped';
}

/** Run every site's pipeline; one record per site, in the order given. */
export async function runSites(input: SchedulerInput): Promise<SiteRecord[]> {
  const slots = new Limiter('sites', Math.max(1, input.concurrency));
  return Promise.all(
    input.sites.map(async (site) => {
      input.emit({ type: 'site-queued', time: new Date(), site: site.id });
      try {
        return await slots.use(() => runSite(input, site), { signal: input.signal });
      } catch (error) {
        // Interrupted while waiting for a slot: the site never started.
        if (!input.signal.aborted) throw error;
        const steps = input.pipeline.map((d): StepRecord => skippedRecord(d.name, 'interrupted before this site started'));
        const record: SiteRecord = { site: site.id, status: 'skipped', steps };
        input.emit({ type: 'site-finished', time: new Date(), record });
        return record;
      }
    }),
  );
}

function skippedRecord(step: StepName, message: string): StepRecord {
  return { step, status: 'skipped', message, durationMs: 0, counts: {}, errors: [], actions: [] };
}

async function runSite(input: SchedulerInput, site: SiteConfig): Promise<SiteRecord> {
  input.emit({ type: 'site-started', time: new Date(), site: site.id });
  await input.onSiteStart?.(site).catch((error: unknown) => input.logger.child({ site: site.id, step: 'run' }).warn(`cannot update the site's state: ${errorMessage(error)}`));
  const clients = input.clientsFor(site);
  const outputs: Partial<Record<StepName, unknown>> = {};
  // Steps that failed fatally, or were skipped because of one: what needs them is skipped too.
  const unavailable = new Set<StepName>();
  const steps: StepRecord[] = [];
  for (const definition of input.pipeline) {
    const finish = (record: StepRecord) => {
      steps.push(record);
      input.emit({ type: 'step-finished', time: new Date(), site: site.id, record });
    };
    const exclusion = input.excluded(definition.name);
    if (exclusion) {
      finish(skippedRecord(definition.name, exclusion));
      continue;
    }
    if (input.signal.aborted) {
      finish(skippedRecord(definition.name, 'interrupted'));
      continue;
    }
    const blocker = definition.needs.find((need) => unavailable.has(need));
    if (blocker) {
      unavailable.add(definition.name);
      const why = steps.find((s) => s.step === blocker)?.status === 'skipped' ? 'was skipped' : 'failed';
      finish(skippedRecord(definition.name, `needs ${blocker}, which ${why}`));
      continue;
    }
    input.emit({ type: 'step-started', time: new Date(), site: site.id, step: definition.name });
    const record = await runStep(input, site, clients, definition, outputs as Done);
    if (record.output !== undefined) outputs[definition.name] = record.output;
    if (record.fatal) unavailable.add(definition.name);
    finish(record.record);
  }
  const record: SiteRecord = { site: site.id, status: siteStatus(steps), steps };
  input.emit({ type: 'site-finished', time: new Date(), record });
  return record;
}

/** Run one step and record its outcome. Never throws. */
async function runStep(
  input: SchedulerInput,
  site: SiteConfig,
  clients: SiteClients,
  definition: StepDefinition,
  done: Done,
): Promise<{ record: StepRecord; output?: StepOutputs[StepName]; fatal: boolean }> {
  const started = Date.now();
  const log = input.logger.child({ site: site.id, step: definition.name });
  const actions: PlannedAction[] = [];
  const effect = createGate(input.options.dryRun, actions, (action) => log.info(`would ${action.kind} ${action.target} (${action.reason})`));
  const ctx: StepContext = {
    site,
    clients,
    options: input.options,
    localRoot: input.options.localRoot,
    syncFolders: input.options.syncFolders,
    dryRun: input.options.dryRun,
    signal: input.signal,
    log,
    limits: input.limits,
    effect,
  };
  log.debug('started');
  try {
    const result = await definition.run(ctx, done);
    const line = `${result.status}: ${result.message}`;
    if (result.status === 'failed') log.error(line);
    else log.info(line);
    const fatal = result.status === 'failed' && result.fatal;
    const record: StepRecord = {
      step: definition.name,
      status: result.status,
      message: result.message,
      durationMs: Date.now() - started,
      counts: result.counts,
      errors: result.errors,
      actions,
    };
    return { record, output: result.output, fatal };
  } catch (error) {
    // A step throws only on interruption or a bug in our code: record it as fatal.
    const interrupted = input.signal.aborted;
    const message = interrupted ? 'interrupted' : `unexpected error: ${errorMessage(error)}`;
    log.error(message);
    if (!interrupted && error instanceof Error && error.stack) log.debug(error.stack);
    const record: StepRecord = {
      step: definition.name,
      status: 'failed',
      message,
      durationMs: Date.now() - started,
      counts: {},
      errors: [{ site: site.id, step: definition.name, message }],
      actions,
    };
    return { record, fatal: true };
  }
}
