// Plain timestamped lines (under cron, with --renderer=plain, and the --log-file): one line per
// log event, activity throttled so logs stay short, and the summary as one line per site and
// step, then the errors, then the closing line. The output goes to an injected writer.
import { formatPlainLine, type LogEvent, type LogLevel } from '../../platform/log.ts';
import { redact } from '../../platform/secrets.ts';
import { unreachable } from '../../platform/errors.ts';
import type { Renderer, RunEvent } from '../events.ts';
import { summaryLines } from '../summary.ts';

export interface PlainRendererOptions {
  write: (text: string) => void;
  verbose: boolean;
  /** The least severe level printed (default: debug with verbose, else info). */
  level?: LogLevel;
  /** `json`: one JSON object per line (time, level, site, step, message) for log shippers. */
  format?: 'text' | 'json';
  /** Minimum ms between two activity lines of the same site and step. */
  activityIntervalMs?: number;
  /** `compact`: the summary as one line per site (steps only for failed sites); `full` (files, --verbose): every step. */
  summary?: 'full' | 'compact';
}

const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** One log event as a JSON line. */
export function formatJsonLine(event: LogEvent): string {
  return JSON.stringify({ time: event.time.toISOString(), level: event.level, site: event.site ?? null, step: event.step ?? null, ...(event.kind === 'activity' ? { kind: 'activity' } : {}), message: event.message });
}

export function plainRenderer({ write, verbose, level, format = 'text', activityIntervalMs = 10_000, summary = 'full' }: PlainRendererOptions): Renderer {
  const lastActivity = new Map<string, number>();
  const least = SEVERITY[level ?? (verbose ? 'debug' : 'info')];
  const formatLine = format === 'json' ? formatJsonLine : formatPlainLine;
  // Loggers redact already; a renderer is the last place a secret could slip out.
  const line = (event: LogEvent) => write(redact(formatLine(event)) + '\n');
  return {
    handle(event: RunEvent) {
      switch (event.type) {
        case 'log': {
          const e = event.event;
          if (SEVERITY[e.level] < least) return;
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
          // The summary always closes the log, whatever the level: it is what cron mails.
          for (const s of summaryLines(event.summary, { full: summary === 'full' })) {
            if (SEVERITY[s.level] < least && !(s.site === 'all' && s.step === 'summary')) continue;
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
