// A local S3-compatible server (s3rver) for the demo and the tests, run as its own process
// because s3rver needs `--openssl-legacy-provider` (multi-page listings fail without it).
//   node --openssl-legacy-provider --import tsx scripts/s3-server.ts --dir D [--port P] [--bucket B]... [--log-requests]
// Prints one JSON line {"port":N} when listening; with --log-requests, one JSON line per request.
import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import S3rver from 's3rver';

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
