// An HTTP proxy between an S3 client and a real S3 server that misbehaves on purpose:
// a fraction of requests gets a 500, a 503 (SlowDown), a connection reset, a stall (no
// answer, ever), or a response cut off half-way. It can also throttle bodies both ways,
// which gives the kill tests a wide window in the middle of a transfer. Every request is
// recorded (method, url, the fault it got) and the requests in flight are visible.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { seededRandom } from './random.ts';

/**
 * `empty-put`: the server receives the PUT's headers but no body and stores an empty object
 * (as a server frozen mid-upload did), and the client gets a 500. Only chosen on purpose.
 */
export type FaultKind = 'http500' | 'http503' | 'reset' | 'stall' | 'cut-body' | 'empty-put';
export const ALL_FAULTS: FaultKind[] = ['http500', 'http503', 'reset', 'stall', 'cut-body'];
const EVERY_FAULT: FaultKind[] = [...ALL_FAULTS, 'empty-put'];

export interface ProxiedRequest {
  method: string;
  url: string;
  fault?: FaultKind;
}

export interface FaultProxyOptions {
  /** The real server, e.g. http://127.0.0.1:4568 */
  target: string;
  /** Share of eligible requests that get a fault (0..1). */
  faultRate?: number;
  kinds?: FaultKind[];
  /** Seed of the fault dice, so a failing run can be replayed. */
  seed?: number;
  /** Body throughput limit in each direction (bytes per second); 0 = unlimited. */
  bytesPerSecond?: number;
  /** Which requests may get a fault (default: all). */
  eligible?: (request: ProxiedRequest) => boolean;
  /** Hold a request (before any fault or forwarding) until the returned promise settles. */
  hold?: (request: ProxiedRequest) => Promise<void> | undefined;
  /** Faults given, in order, to the first eligible requests (so every kind is sure to occur). */
  firstFaults?: FaultKind[];
}

export interface FaultProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  /** Requests whose response has not finished. */
  active: Set<ProxiedRequest>;
  faults: Record<FaultKind, number>;
  /** Change the fault rate or the throttle while running. */
  configure(options: { faultRate?: number; bytesPerSecond?: number }): void;
  stop(): Promise<void>;
}

/** Passes bytes on no faster than `rate()` bytes per second (re-read per slice). */
function throttle(rate: () => number): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const push = async () => {
        let offset = 0;
        while (offset < chunk.length) {
          const bps = rate();
          if (!bps) {
            this.push(chunk.subarray(offset));
            break;
          }
          const slice = Math.max(1024, Math.floor(bps / 20));
          const piece = chunk.subarray(offset, offset + slice);
          this.push(piece);
          offset += piece.length;
          await new Promise((resolve) => setTimeout(resolve, (piece.length / bps) * 1000));
        }
      };
      push().then(() => callback(), callback);
    },
  });
}

function s3Error(res: http.ServerResponse, status: number, code: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const dice = seededRandom(options.seed ?? 1);
  const kinds = options.kinds ?? ALL_FAULTS;
  let faultRate = options.faultRate ?? 0;
  let bytesPerSecond = options.bytesPerSecond ?? 0;
  const requests: ProxiedRequest[] = [];
  const active = new Set<ProxiedRequest>();
  const faults = Object.fromEntries(EVERY_FAULT.map((k) => [k, 0])) as Record<FaultKind, number>;
  const sockets = new Set<Socket>();
  const forced = [...(options.firstFaults ?? [])];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const server = http.createServer((req, res) => {
    const held = options.hold?.({ method: req.method ?? 'GET', url: req.url ?? '/' });
    if (held) {
      req.pause();
      void held.then(() => handle(req, res));
      return;
    }
    handle(req, res);
  });

  function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const record: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/' };
    requests.push(record);
    active.add(record);
    res.on('close', () => active.delete(record));
    const eligible = options.eligible?.(record) ?? true;
    if (eligible && forced.length > 0) {
      record.fault = forced.shift();
    } else if (eligible && faultRate > 0 && dice() < faultRate) {
      record.fault = kinds[Math.floor(dice() * kinds.length)]!;
    }
    if (record.fault) faults[record.fault]++;
    switch (record.fault) {
      case 'http500':
        req.resume();
        req.on('end', () => s3Error(res, 500, 'InternalError'));
        return;
      case 'http503':
        req.resume();
        req.on('end', () => s3Error(res, 503, 'SlowDown'));
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'stall':
        // Read the request, never answer: only the client's own timeout ends this.
        req.resume();
        return;
      case 'empty-put': {
        req.resume();
        const headers: http.OutgoingHttpHeaders = { ...req.headers, 'content-length': '0' };
        delete headers['content-md5'];
        const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent });
        upstream.on('error', () => s3Error(res, 500, 'InternalError'));
        upstream.on('response', (response) => {
          response.resume();
          s3Error(res, 500, 'InternalError');
        });
        upstream.end();
        return;
      }
      default:
        forward(req, res, record.fault === 'cut-body');
    }
  }

  function forward(req: http.IncomingMessage, res: http.ServerResponse, cut: boolean): void {
    const upstream = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    });
    upstream.on('error', () => res.destroy());
    req.on('close', () => {
      if (!req.complete) upstream.destroy();
    });
    upstream.on('response', (response) => {
      res.writeHead(response.statusCode ?? 502, response.headers);
      const length = Number(response.headers['content-length'] ?? 0);
      let passed = 0;
      const body = throttle(() => bytesPerSecond);
      if (cut) {
        // Half the body (or nothing when there is none), then the connection dies.
        const limit = Math.floor(length / 2);
        body.on('data', (chunk: Buffer) => {
          passed += chunk.length;
          if (passed >= limit) res.socket?.destroy();
        });
        if (limit === 0) {
          response.resume();
          res.socket?.destroy();
          return;
        }
      }
      response.pipe(body).pipe(res);
    });
    req.pipe(throttle(() => bytesPerSecond)).pipe(upstream);
  }

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    active,
    faults,
    configure(update) {
      if (update.faultRate !== undefined) faultRate = update.faultRate;
      if (update.bytesPerSecond !== undefined) bytesPerSecond = update.bytesPerSecond;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
