// An HTTP proxy in front of a real S3 server (s3rver) that makes its answers look like those
// of a bucket with server-side encryption: object writes (PutObject, CompleteMultipartUpload)
// get the encryption headers S3 sends (`x-amz-server-side-encryption: aws:kms`, ...) and an
// ETag that is not the content's MD5, as real S3 gives for SSE-KMS and SSE-C objects. Every
// later view of such an object (listings, HEAD, GET) shows the same ETag, so a sync run sees
// one consistent bucket. Requests pass through unchanged and are recorded with their headers.
// (The fault proxy, test/helpers/fault-proxy.ts, breaks transport; this one rewrites answers.)
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SseProxyOptions {
  /** The real server, e.g. http://127.0.0.1:4568 */
  target: string;
  /** Headers added to the answer of every object write. */
  headers: Record<string, string>;
  /**
   * The ETag shown for an object the server stored with ETag `real` (no quotes); `parts` is
   * the number of parts of a multipart upload, undefined for a PutObject.
   */
  etag?: (real: string, parts: number | undefined) => string;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface SseProxy {
  endpoint: string;
  requests: RecordedRequest[];
  /** real ETag -> the ETag shown for it, for every object written through the proxy. */
  etags: Map<string, string>;
  stop(): Promise<void>;
}

/** Like S3 with SSE-KMS: 32 hex digits (plus "-<parts>" for multipart) that are not the MD5. */
export function kmsStyleEtag(real: string, parts: number | undefined): string {
  const opaque = createHash('md5').update(`kms:${real}`).digest('hex');
  return parts === undefined ? opaque : `${opaque}-${parts}`;
}

const quoted = (etag: string) => `"${etag}"`;
const unquote = (etag: string) => etag.replace(/"|&quot;/g, '');

export async function startSseProxy(options: SseProxyOptions): Promise<SseProxy> {
  const target = new URL(options.target);
  const etagFor = options.etag ?? kmsStyleEtag;
  const requests: RecordedRequest[] = [];
  const etags = new Map<string, string>();
  /** uploadId -> part numbers sent */
  const parts = new Map<string, Set<string>>();
  const sockets = new Set<Socket>();
  const agent = new http.Agent({ keepAlive: true });

  /** Rewrite the <ETag> elements of an XML body (listings, CompleteMultipartUploadResult). */
  const rewriteXml = (xml: string, map: (real: string) => string | undefined) =>
    xml.replace(/<ETag>([^<]*)<\/ETag>/g, (whole, inner: string) => {
      const shown = map(unquote(inner));
      return shown === undefined ? whole : `<ETag>&quot;${shown}&quot;</ETag>`;
    });

  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://proxy');
    const uploadId = url.searchParams.get('uploadId');
    const partNumber = url.searchParams.get('partNumber');
    const isPut = req.method === 'PUT' && !uploadId && !req.headers['x-amz-copy-source'];
    const isComplete = req.method === 'POST' && uploadId !== null;
    if (req.method === 'PUT' && uploadId && partNumber) {
      if (!parts.has(uploadId)) parts.set(uploadId, new Set());
      parts.get(uploadId)!.add(partNumber);
    }
    const upstream = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent });
    upstream.on('error', () => res.destroy());
    upstream.on('response', (response) => {
      const status = response.statusCode ?? 502;
      const headers = { ...response.headers };
      const ok = status === 200;
      // Only XML answers are rewritten whole; object bodies stream through.
      const xml = (headers['content-type'] ?? '').includes('xml');
      if (!xml) {
        if (ok && isPut && typeof headers.etag === 'string') {
          const real = unquote(headers.etag);
          const shown = etagFor(real, undefined);
          etags.set(real, shown);
          Object.assign(headers, options.headers, { etag: quoted(shown) });
        } else if (ok && typeof headers.etag === 'string' && etags.has(unquote(headers.etag))) {
          headers.etag = quoted(etags.get(unquote(headers.etag))!);
        }
        res.writeHead(status, headers);
        response.pipe(res);
        return;
      }
      const body: Buffer[] = [];
      response.on('data', (chunk: Buffer) => body.push(chunk));
      response.on('end', () => {
        let text = Buffer.concat(body).toString('utf8');
        if (ok && isComplete && text.includes('<CompleteMultipartUploadResult')) {
          const count = parts.get(uploadId!)?.size;
          text = rewriteXml(text, (real) => {
            const shown = etagFor(real, count);
            etags.set(real, shown);
            return shown;
          });
          Object.assign(headers, options.headers);
        } else if (ok) {
          text = rewriteXml(text, (real) => etags.get(real));
        }
        const out = Buffer.from(text, 'utf8');
        delete headers['transfer-encoding'];
        headers['content-length'] = String(out.length);
        res.writeHead(status, headers);
        res.end(out);
      });
    });
    req.pipe(upstream);
  });

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    etags,
    async stop() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
