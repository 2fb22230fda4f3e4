// What any piece of work below the steps receives: the run's cancellation signal, a logger
// bound to its site and step, the shared limiters and the gate every side effect passes.
import type { Limits } from './limiter.ts';
import type { Logger } from './log.ts';
import type { Gate } from './plan.ts';

export interface Work {
  signal: AbortSignal;
  log: Logger;
  limits: Limits;
  /** The one gate in front of every side effect (tasks/platform/plan.ts). */
  effect: Gate;
  dryRun: boolean;
}
