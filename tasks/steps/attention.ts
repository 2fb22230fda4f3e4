// Episodes that keep failing (a download, a transcription): after N runs in a row they need the
// operator, and every run says so (ARCHITECTURE.md "Durable state").
import type { StepContext } from './contract.ts';
import { attentionAfter, backoffRuns, type FailingKind, type SiteState } from '../site/site-state.ts';

/** One warning per episode that failed too many runs in a row: it needs the operator, not more retries. */
export function reportAttention(ctx: StepContext, state: SiteState, kind: FailingKind): void {
  for (const [key, f] of Object.entries(state.failing)) {
    if (f.kind !== kind || f.failures < attentionAfter()) continue;
    ctx.log.warn(`${key}: needs attention: its ${kind} failed ${f.failures} runs in a row since ${f.firstFailedAt} (last: ${f.lastError}); retried every ${backoffRuns(f.failures + 1) + 1} runs from now`);
  }
}
