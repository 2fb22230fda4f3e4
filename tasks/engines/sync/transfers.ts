// The bounded transfer pool shared by pre-sync and upload: every transfer holds one slot of
// the shared network limiter, passes the dry-run gate, reports progress, and fails alone
// (one StepError per file; the others go on). Only the run's abort stops the pool.
import type { SiteWork } from '../site-work.ts';
import { mapPool } from '../../platform/limiter.ts';
import type { StepError, TransferCount } from '../../platform/types.ts';
import type { Direction, PlannedTransfer } from './diff.ts';
import { describeError, errorCode } from '../../aws/errors.ts';
import { topFolder } from './ignore.ts';
import { formatTransfer } from '../../platform/format.ts';

export interface TransferOutcome {
  /** Transfers that completed (none in a dry run). */
  done: PlannedTransfer[];
  errors: StepError[];
  /** Per top-level folder: files and bytes moved. */
  counts: Record<string, TransferCount>;
  bytes: number;
}

const VERB: Record<Direction, string> = { download: 'downloading', upload: 'uploading' };

export async function runTransfers(
  ctx: SiteWork,
  direction: Direction,
  planned: readonly PlannedTransfer[],
  /** The network part of one transfer; it may return the local finishing work (fsync, rename) to run outside the slot. */
  perform: (transfer: PlannedTransfer, onProgress: (bytes: number) => void) => Promise<void | (() => Promise<void>)>,
): Promise<TransferOutcome> {
  const outcome: TransferOutcome = { done: [], errors: [], counts: {}, bytes: 0 };
  const bucket = ctx.site.automation.bucket;
  const totalBytes = planned.reduce((sum, t) => sum + t.size, 0);
  const inFlight = new Map<string, number>();
  let finished = 0;
  let lastActivity = 0;
  const startedAt = Date.now();
  const report = (force = false) => {
    const now = Date.now();
    if (!force && now - lastActivity < 1000) return;
    lastActivity = now;
    const moving = [...inFlight.values()].reduce((a, b) => a + b, 0);
    ctx.log.activity(formatTransfer({ verb: `${VERB[direction]} s3://${bucket}`, done: finished, total: planned.length, noun: 'files', bytes: outcome.bytes + moving, totalBytes, startedAt, now }));
  };
  if (planned.length > 0) report(true);

  // Largest first: long transfers start early and small ones fill the gaps. Twice as many
  // workers as network slots, so the disk work after a transfer never leaves a slot idle.
  const ordered = [...planned].sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : 1));
  await mapPool(ordered, ctx.limits.network.capacity * 2, async (transfer) => {
    const target = `s3://${bucket}/${transfer.key}`;
    try {
      await ctx.effect({ kind: direction, target, reason: transfer.reason }, async () => {
        ctx.log.debug(`${direction} ${transfer.key}: ${transfer.reason}`);
        const finish = await ctx.limits.network.use(
          () =>
            perform(transfer, (bytes) => {
              inFlight.set(transfer.key, bytes);
              report();
            }),
          { signal: ctx.signal },
        );
        if (finish) await finish();
        outcome.done.push(transfer);
        outcome.bytes += transfer.size;
        const folder = (outcome.counts[topFolder(transfer.key)] ??= { files: 0, bytes: 0 });
        folder.files++;
        folder.bytes += transfer.size;
      });
    } catch (error) {
      // The run's abort ends the step (the graph records "interrupted").
      if (ctx.signal.aborted) throw error;
      const message = `${direction} failed: ${describeError(error)}`;
      ctx.log.error(`${transfer.key}: ${message}`);
      outcome.errors.push({ site: ctx.site.id, step: direction === 'download' ? 'pre-sync' : 'upload', subject: transfer.key, message, code: errorCode(error) });
    } finally {
      inFlight.delete(transfer.key);
      finished++;
      report(finished === planned.length);
    }
  });
  return outcome;
}
