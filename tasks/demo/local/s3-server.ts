// Starts scripts/s3-server.ts as a child process on a free loopback port: the embedded S3
// for the demo and the tests. Credentials are s3rver's fixed S3RVER/S3RVER.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { stopChild } from './child.ts';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface RecordedRequest {
  method: string;
  url: string;
}

export interface LocalS3Server {
  endpoint: string;
  port: number;
  /** Every request seen (only with recordRequests). */
  requests: RecordedRequest[];
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startLocalS3(options: { dir: string; buckets?: string[]; port?: number; recordRequests?: boolean }): Promise<LocalS3Server> {
  const args = [
    '--openssl-legacy-provider',
    '--import',
    'tsx',
    path.join(PROJECT_ROOT, 'scripts/s3-server.ts'),
    '--dir',
    options.dir,
    '--port',
    String(options.port ?? 0),
    ...(options.buckets ?? []).flatMap((b) => ['--bucket', b]),
    ...(options.recordRequests ? ['--log-requests'] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const requests: RecordedRequest[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let resolved = false;
    lines.on('line', (line) => {
      let parsed: { port?: number; method?: string; url?: string };
      try {
        parsed = JSON.parse(line);
      } catch {
        return;
      }
      if (parsed.port !== undefined && !resolved) {
        resolved = true;
        resolve(parsed.port);
      } else if (parsed.method && parsed.url) {
        requests.push({ method: parsed.method, url: parsed.url });
      }
    });
    child.once('exit', (code) => {
      if (!resolved) reject(new Error(`local S3 server exited with ${code} before listening: ${stderr.trim()}`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    process: child,
    stop: () => stopChild(child),
  };
}
