// Telling the operator without being asked: health pings in the style of healthchecks.io
// (`<url>/start` when a run starts, `<url>` when it ends clean, `<url>/<exit code>` otherwise,
// the summary as the body) and `--on-failure=<command>`, run with the summary JSON's path.
// Neither ever changes the run's exit code: a failure is a warning line.
import { spawn } from 'node:child_process';
import type { Logger } from '../platform/log.ts';
import { redact } from '../platform/secrets.ts';

const PING_TIMEOUT_MS = 10_000;
const ON_FAILURE_TIMEOUT_MS = 60_000;
/** healthchecks.io keeps the first 100 KB of a body. */
const MAX_BODY_BYTES = 100_000;

/** The ping URL for an event: `start`, or the exit code (0 is the bare URL). */
export function pingUrlFor(base: string, event: 'start' | number): string {
  if (event === 'start') return `${base}/start`;
  return event === 0 ? base : `${base}/${event}`;
}

export async function ping(base: string, event: 'start' | number, body: string | undefined, log: Logger): Promise<void> {
  const url = pingUrlFor(base, event);
  try {
    const response = await fetch(url, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined ? {} : { body: redact(body).slice(0, MAX_BODY_BYTES), headers: { 'content-type': 'text/plain; charset=utf-8' } }),
      signal: AbortSignal.timeout(PING_TIMEOUT_MS),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) log.warn(`health ping ${redactUrl(url)} answered HTTP ${response.status}`);
  } catch (error) {
    log.warn(`health ping ${redactUrl(url)} failed: ${(error as Error).message}${(error as { cause?: Error }).cause ? ` (${(error as { cause: Error }).cause.message})` : ''}`);
  }
}

/** Ping URLs carry a secret check id: only the host is printed. */
function redactUrl(url: string): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Run the operator's command with the summary JSON's path as its argument ($1). Through
 * /bin/sh -c (an operator writes a command line, with redirections), which reads no rc file.
 */
export async function runOnFailure(command: string, summaryPath: string, log: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    const child = spawn('/bin/sh', ['-c', `${command} "$1"`, 'on-failure', summaryPath], { stdio: ['ignore', 'pipe', 'pipe'], timeout: ON_FAILURE_TIMEOUT_MS });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-2000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => {
      log.warn(`--on-failure command could not start: ${error.message}`);
      resolve();
    });
    child.on('close', (code, signal) => {
      if (code === 0) log.info('--on-failure command done');
      else log.warn(`--on-failure command ${signal ? `was stopped (${signal})` : `exited ${code}`}${output.trim() ? `: ${output.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      resolve();
    });
  });
}
