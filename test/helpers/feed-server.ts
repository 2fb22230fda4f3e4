// A real local HTTP server with scripted responses, for feed and audio tests: redirects,
// throttling (429/503 + Retry-After), bodies dropped mid-way, lying Content-Length,
// ETag / Last-Modified with 304, Range requests, gzip, trickled bodies. Every request is
// recorded so tests can assert on what the runner asked for (and that it asked nothing).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import type { TestContext } from 'node:test';

export interface Route {
  status?: number;
  body?: Buffer | string;
  headers?: Record<string, string>;
  /** Answer conditional requests with 304 when they match. */
  etag?: string;
  lastModified?: string;
  /** Honour Range (with If-Range against etag / lastModified). */
  range?: boolean;
  gzip?: boolean;
  redirect?: { status: 301 | 302 | 307 | 308; location: string };
  /** The first `count` requests get `status` (with Retry-After when given). */
  failFirst?: { count: number; status: number; retryAfter?: string };
  /** Announce the full length, send this many bytes of the (ranged) body, then drop the connection. */
  dropAfterBytes?: number;
  /** Only for the first N requests (default: all). */
  dropTimes?: number;
  /** Announce this Content-Length whatever the body's real length, then close. */
  lieContentLength?: number;
  /** Send the body slowly. */
  trickle?: { chunkBytes: number; intervalMs: number };
  /** Full control. */
  handler?: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface FeedServer {
  origin: string;
  url(path: string): string;
  set(path: string, route: Route): void;
  requests: RecordedRequest[];
  requestsTo(path: string): RecordedRequest[];
  close(): Promise<void>;
}

export async function startFeedServer(t?: TestContext): Promise<FeedServer> {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    const count = (hits.get(path) ?? 0) + 1;
    hits.set(path, count);
    const route = routes.get(path);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (route.handler) return route.handler(req, res);
    if (route.redirect) {
      res.writeHead(route.redirect.status, { location: route.redirect.location }).end();
      return;
    }
    if (route.failFirst && count <= route.failFirst.count) {
      res.writeHead(route.failFirst.status, route.failFirst.retryAfter ? { 'retry-after': route.failFirst.retryAfter } : {}).end('busy');
      return;
    }
    const headers: Record<string, string> = { ...route.headers };
    if (route.etag) headers.etag = route.etag;
    if (route.lastModified) headers['last-modified'] = route.lastModified;
    const notModified =
      (route.etag !== undefined && req.headers['if-none-match'] === route.etag) ||
      (route.etag === undefined && route.lastModified !== undefined && req.headers['if-modified-since'] === route.lastModified);
    if (notModified) {
      res.writeHead(304, headers).end();
      return;
    }
    let body = Buffer.from(route.body ?? '');
    let status = route.status ?? 200;
    const full = body.length;
    const rangeHeader = req.headers.range;
    const ifRange = req.headers['if-range'];
    const validatorMatches = ifRange === undefined || ifRange === route.etag || ifRange === route.lastModified;
    if (route.range) headers['accept-ranges'] = 'bytes';
    if (route.range && rangeHeader && validatorMatches) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(rangeHeader);
      const start = m ? Number(m[1]) : NaN;
      if (!m || start >= full) {
        res.writeHead(416, { 'content-range': `bytes */${full}` }).end();
        return;
      }
      const end = m[2] ? Math.min(Number(m[2]), full - 1) : full - 1;
      body = body.subarray(start, end + 1);
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${full}`;
    }
    if (route.gzip) {
      body = zlib.gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    const drop = route.dropAfterBytes !== undefined && (route.dropTimes === undefined || count <= route.dropTimes);
    headers['content-length'] = String(route.lieContentLength ?? body.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    if (drop) {
      res.write(body.subarray(0, route.dropAfterBytes), () => setTimeout(() => res.socket?.end(), 20));
      return;
    }
    if (route.lieContentLength !== undefined) {
      res.write(body, () => setTimeout(() => res.socket?.end(), 20));
      return;
    }
    if (route.trickle) {
      const { chunkBytes, intervalMs } = route.trickle;
      let offset = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(body.subarray(offset, offset + chunkBytes));
        offset += chunkBytes;
        if (offset >= body.length) {
          clearInterval(timer);
          res.end();
        }
      }, intervalMs);
      res.on('close', () => clearInterval(timer));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const feedServer: FeedServer = {
    origin,
    url: (path) => origin + path,
    set: (path, route) => {
      routes.set(path, route);
      hits.delete(path);
    },
    requests,
    requestsTo: (path) => requests.filter((r) => r.path.split('?')[0] === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  t?.after(() => feedServer.close());
  return feedServer;
}
