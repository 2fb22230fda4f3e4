// A local S3-compatible server (s3rver) for the demo and the tests, run as its own process
// because s3rver needs `--openssl-legacy-provider` (multi-page listings fail without it).
//   node --openssl-legacy-provider --import tsx scripts/s3-server.ts --dir D [--port P] [--bucket B]... [--log-requests]
// Prints one JSON line {"port":N} when listening; with --log-requests, one JSON line per request.
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import S3rver from 's3rver';

interface KoaContext {
  method: string;
  path: string;
  querystring: string;
  status: number;
  type: string;
  body: unknown;
  req: import('node:http').IncomingMessage;
  get(header: string): string;
}
interface KoaLike {
  middleware: ((ctx: KoaContext, next: () => Promise<void>) => Promise<void>)[];
  store: { getMetadata(bucket: string, key: string): Promise<{ etag: string }> };
}

/**
 * Conditional writes as AWS S3 has them (PutObject with If-Match / If-None-Match: *), which
 * s3rver lacks: a PUT whose condition fails gets 412 PreconditionFailed. PUTs of one key are
 * serialised so the check and the write are one step, as in S3.
 */
function conditionalWrites(app: KoaLike): void {
  const queues = new Map<string, Promise<void>>();
  const unquote = (etag: string) => etag.trim().replace(/^W\//, '').replace(/"/g, '');
  app.middleware.unshift(async (ctx, next) => {
    const segments = ctx.path.split('/').filter(Boolean);
    // Object PUTs only (path-style /bucket/key); not bucket creation or multipart parts.
    if (ctx.method !== 'PUT' || segments.length < 2 || /(^|&)(partNumber|uploadId)=/.test(ctx.querystring)) return next();
    const bucket = decodeURIComponent(segments[0]!);
    const key = segments.slice(1).map(decodeURIComponent).join('/');
    const id = `${bucket}/${key}`;
    const before = queues.get(id) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = before.then(() => mine);
    queues.set(id, chained);
    await before;
    try {
      const ifMatch = ctx.get('if-match');
      const ifNoneMatch = ctx.get('if-none-match');
      if (ifMatch || ifNoneMatch) {
        const current = await app.store.getMetadata(bucket, key).then(
          (meta) => unquote(meta.etag),
          () => undefined,
        );
        const refused =
          (ifNoneMatch === '*' && current !== undefined) ||
          (ifMatch !== '' && (current === undefined || (ifMatch !== '*' && unquote(ifMatch) !== current)));
        if (refused) {
          ctx.req.resume();
          ctx.status = 412;
          ctx.type = 'application/xml';
          ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>${ifMatch ? 'If-Match' : 'If-None-Match'}</Condition></Error>`;
          return;
        }
      }
      await next();
    } finally {
      release();
      if (queues.get(id) === chained) queues.delete(id);
    }
  });
}

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string', default: '0' },
    bucket: { type: 'string', multiple: true, default: [] },
    'log-requests': { type: 'boolean', default: false },
  },
});
if (!values.dir) throw new Error('--dir is required');
mkdirSync(values.dir, { recursive: true });

const server = new S3rver({
  address: '127.0.0.1',
  port: Number(values.port),
  directory: values.dir,
  silent: true,
  configureBuckets: values.bucket.map((name) => ({ name, configs: [] })),
});
conditionalWrites(server as unknown as KoaLike);
const address = (await server.run()) as { port: number };
const httpServer = (server as unknown as { httpServer: import('node:http').Server }).httpServer;
if (values['log-requests']) {
  httpServer.on('request', (req) => {
    process.stdout.write(JSON.stringify({ method: req.method, url: req.url }) + '\n');
  });
}
process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
const stop = () => {
  server.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the parent (stdin closes when the parent dies, even on SIGKILL).
process.stdin.on('end', stop);
process.stdin.resume();
