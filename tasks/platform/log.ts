// Logging: steps get a Logger bound to their site and step; sinks decide where lines go
// (plain lines on stdout, the log file, the live tree). No module calls console directly.
import { redact } from './secrets.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/** `activity` is the current progress of a step (the tree shows it in place; plain mode throttles it). */
export type LogKind = 'log' | 'activity';

export interface LogEvent {
  time: Date;
  level: LogLevel;
  kind: LogKind;
  site?: string;
  step?: string;
  message: string;
}

export type LogSink = (event: LogEvent) => void;

export interface LogScope {
  site?: string;
  step?: string;
}

export class Logger {
  constructor(
    private readonly sinks: LogSink[],
    private readonly scope: LogScope = {},
  ) {}

  child(scope: LogScope): Logger {
    return new Logger(this.sinks, { ...this.scope, ...scope });
  }

  debug(message: string): void {
    this.emit('debug', 'log', message);
  }
  info(message: string): void {
    this.emit('info', 'log', message);
  }
  warn(message: string): void {
    this.emit('warn', 'log', message);
  }
  error(message: string): void {
    this.emit('error', 'log', message);
  }
  /** Current activity ("downloading 3/10 episodes, 45%"). */
  activity(message: string): void {
    this.emit('info', 'activity', message);
  }

  private emit(level: LogLevel, kind: LogKind, message: string): void {
    const event: LogEvent = { time: new Date(), level, kind, ...this.scope, message: redact(message) };
    for (const sink of this.sinks) sink(event);
  }
}

/** A logger that drops everything (library use, tests of pure steps). */
export const silentLogger = new Logger([]);

/** ISO-8601 local time with offset: 2026-11-30T15:41:18.123+00:00. */
export function isoWithOffset(date: Date): string {
  const offsetMin = -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offsetMin * 60_000);
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${local.toISOString().slice(0, 23)}${sign}${hh}:${mm}`;
}

/** The plain line format used under cron and in log files. */
export function formatPlainLine(event: LogEvent): string {
  const level = event.level.toUpperCase().padEnd(5);
  const site = event.site ?? '-';
  const step = event.step ?? '-';
  return `${isoWithOffset(event.time)} ${level} [${site}] [${step}] ${event.message}`;
}
