// The run as one stream of typed events (ARCHITECTURE.md "Events and renderers"). The
// scheduler and the steps' loggers emit; the renderers (live tree, plain lines, log file,
// summary) only observe. Nothing a renderer does changes what the run does.
import type { LogEvent } from '../platform/log.ts';
import type { RunSummary, SiteRecord, StepName, StepRecord } from '../platform/types.ts';

export type RunEvent =
  | { type: 'run-started'; time: Date; runId: string; sites: string[]; steps: StepName[]; dryRun: boolean }
  /** A site is waiting for one of the --concurrency slots. */
  | { type: 'site-queued'; time: Date; site: string }
  | { type: 'site-started'; time: Date; site: string }
  | { type: 'step-started'; time: Date; site: string; step: StepName }
  /** A log line, or a step's current activity (kind 'activity'). */
  | { type: 'log'; event: LogEvent }
  | { type: 'step-finished'; time: Date; site: string; record: StepRecord }
  | { type: 'site-finished'; time: Date; record: SiteRecord }
  | { type: 'run-finished'; time: Date; summary: RunSummary };

export type RunEventListener = (event: RunEvent) => void;

/** Fan-out to every renderer; a renderer that throws never stops the run or the others. */
export class EventStream {
  private readonly listeners: RunEventListener[] = [];

  subscribe(listener: RunEventListener): void {
    this.listeners.push(listener);
  }

  readonly emit = (event: RunEvent): void => {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // A broken renderer must not take the run down; the others still get the event.
        if (process.env.INGEST_DEBUG_RENDERERS) process.stderr.write(`renderer failed on ${event.type}: ${(error as Error).stack}\n`);
      }
    }
  };
}

/** What every renderer implements: observe events, then finish (flush, print the summary). */
export interface Renderer {
  readonly handle: RunEventListener;
  finish(): Promise<void>;
}
