// Runs the real CLI with a working directory outside the project (where `.env.automation`
// is read from). `--import tsx` would resolve tsx from that directory, so the loader is
// passed by absolute URL.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT, type CliResult } from './cli.ts';

const TSX_LOADER = import.meta.resolve('tsx');

export function runCliIn(cwd: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'Taskfile.ts'), ...args], {
    cwd,
    env: { ...process.env, FORCE_COLOR: '0', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
