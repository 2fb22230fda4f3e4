// A small HTTP server for the demo feed and its audio: serves fixed routes from memory or
// disk on a free loopback port, with Content-Length and Range support like a real host.
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

export interface Route {
  contentType: string;
  /** Body bytes, or a file path read on each request. */
  body: Buffer | { file: string };
}

export interface StaticServer {
  baseUrl: string;
  /** Requests served, as "METHOD path". */
  requests: string[];
  setRoute(path: string, route: Route): void;
  stop(): Promise<void>;
}

export async function startStaticServer(routes: Record<string, Route> = {}, port = 0): Promise<StaticServer> {
  const table = new Map(Object.entries(routes));
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${url.pathname}`);
    const route = table.get(url.pathname);
    if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const body = Buffer.isBuffer(route.body) ? route.body : await readFile(route.body.file);
    // Validators like a real host's, so conditional requests get a 304.
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1;
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-type': route.contentType,
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${body.length}`,
        'accept-ranges': 'bytes',
      });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { 'content-type': route.contentType, 'content-length': body.length, 'accept-ranges': 'bytes', etag });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    requests,
    setRoute(path, route) {
      table.set(path, route);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
