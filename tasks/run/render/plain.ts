// Plain timestamped lines (under cron, with --renderer=plain, and the --log-file): one line per
// log event, activity throttled so logs stay short, and the summary as one line per site and
// step, then the errors, then the closing line. The output goes to an injected writer.
import { formatPlainLine, type LogEvent } from '../../platform/log.ts';
import { redact } from '../../platform/secrets.ts';
import { unreachable } from '../../platform/errors.ts';
import type { Renderer, RunEvent } from '../events.ts';
import { summaryLines } from '../summary.ts';

export interface PlainRendererOptions {
  write: (text: string) => void;
  verbose: boolean;
  /** Minimum ms between two activity lines of the same site and step. */
  activityIntervalMs?: number;
}

export function plainRenderer({ write, verbose, activityIntervalMs = 10_000 }: PlainRendererOptions): Renderer {
  const lastActivity = new Map<string, number>();
  // Loggers redact already; a renderer is the last place a secret could slip out.
  const line = (event: LogEvent) => write(redact(formatPlainLine(event)) + '\n');
  return {
    handle(event: RunEvent) {
      switch (event.type) {
        case 'log': {
          const e = event.event;
          if (e.level === 'debug' && !verbose) return;
          if (e.kind === 'activity') {
            const key = `${e.site}/${e.step}`;
            const now = e.time.getTime();
            const last = lastActivity.get(key);
            if (last !== undefined && now - last < activityIntervalMs) return;
            lastActivity.set(key, now);
          }
          line(e);
          return;
        }
        case 'run-finished':
          for (const s of summaryLines(event.summary)) {
            line({ time: event.time, level: s.level, kind: 'log', site: s.site, step: s.step === 'summary' ? 'summary' : `summary:${s.step}`, message: s.text });
          }
          return;
        case 'run-started':
        case 'site-queued':
        case 'site-started':
        case 'step-started':
        case 'step-finished':
        case 'site-finished':
          // Each step logs its own status line; the rest shows in the summary.
          return;
        default:
          return unreachable(event);
      }
    },
    async finish() {},
  };
}
