// A local Lambda-compatible endpoint: the Invoke API (`POST /2015-03-31/functions/<name>/invocations`)
// on loopback, running registered in-process handlers. The demo points its site's
// `lambdaEndpoint` here so the indexer runs after an upload; tests assert on `invocations`.
// Wire format as the SDK expects it (ENVIRONMENT.md): RequestResponse 200 with the JSON result,
// Event 202, DryRun 204; a handler error is a 200 with X-Amz-Function-Error: Unhandled; an
// unknown function is a 404 with x-amzn-ErrorType: ResourceNotFoundException.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type LambdaHandler = (event: unknown) => Promise<unknown>;
export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';

export interface RecordedInvocation {
  functionName: string;
  invocationType: InvocationType;
  /** The parsed JSON payload (undefined for an empty body; the raw text when it is not JSON). */
  payload: unknown;
  receivedAt: Date;
  /** pending while an Event invocation still runs; DryRun and unknown functions run nothing. */
  outcome: 'pending' | 'ok' | 'error' | 'not-run';
  result?: unknown;
  error?: { errorType: string; errorMessage: string };
}

export interface LocalLambda {
  endpoint: string;
  port: number;
  invocations: RecordedInvocation[];
  /** Resolves when every accepted Event invocation has finished. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export async function startLocalLambda(options: { functions: Record<string, LambdaHandler>; port?: number }): Promise<LocalLambda> {
  const invocations: RecordedInvocation[] = [];
  const running = new Set<Promise<void>>();

  const execute = async (record: RecordedInvocation, handler: LambdaHandler): Promise<void> => {
    try {
      record.result = await handler(record.payload);
      record.outcome = 'ok';
    } catch (error) {
      record.outcome = 'error';
      record.error = {
        errorType: error instanceof Error ? error.name : 'Error',
        errorMessage: error instanceof Error ? error.message : String(error),
      };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void respond(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });

  const respond = async (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = INVOKE_PATH.exec(url.pathname);
    if (req.method !== 'POST' || !match) {
      return sendError(res, 404, 'UnknownOperationException', `unsupported request ${req.method} ${url.pathname}`);
    }
    // ARNs are accepted as names: the function name is the last ':'-separated part before any qualifier.
    const requested = decodeURIComponent(match[1]!);
    const functionName = requested.startsWith('arn:') ? (requested.split(':')[6] ?? requested) : requested;
    const header = req.headers['x-amz-invocation-type'];
    const invocationType = (typeof header === 'string' ? header : 'RequestResponse') as InvocationType;
    if (!['RequestResponse', 'Event', 'DryRun'].includes(invocationType)) {
      return sendError(res, 400, 'InvalidParameterValueException', `invalid invocation type "${invocationType}"`);
    }
    const record: RecordedInvocation = {
      functionName,
      invocationType,
      payload: parsePayload(body),
      receivedAt: new Date(),
      outcome: 'not-run',
    };
    invocations.push(record);
    const handler = options.functions[functionName];
    if (!handler) {
      return sendError(res, 404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:local:000000000000:function:${functionName}`);
    }
    switch (invocationType) {
      case 'DryRun':
        res.writeHead(204).end();
        return;
      case 'Event': {
        // Accepted before it runs, as Lambda does; idle() lets a caller wait for the result.
        record.outcome = 'pending';
        const done = execute(record, handler).finally(() => running.delete(done));
        running.add(done);
        res.writeHead(202, { 'Content-Length': '0' }).end();
        return;
      }
      case 'RequestResponse': {
        await execute(record, handler);
        const payload = record.outcome === 'error' ? JSON.stringify({ ...record.error, stackTrace: [] }) : JSON.stringify(record.result ?? null);
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'X-Amz-Executed-Version': '$LATEST',
          ...(record.outcome === 'error' ? { 'X-Amz-Function-Error': 'Unhandled' } : {}),
        });
        res.end(payload);
        return;
      }
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const idle = async () => {
    while (running.size > 0) await Promise.allSettled([...running]);
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    invocations,
    idle,
    async stop() {
      await idle();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function parsePayload(body: string): unknown {
  if (body === '') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function sendError(res: http.ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': type });
  res.end(JSON.stringify({ Type: 'User', message }));
}
