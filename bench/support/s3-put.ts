// Seeding for the benchmarks: PutObject over plain keep-alive HTTP, signed with SigV4
// (UNSIGNED-PAYLOAD, path-style), many in flight. The same request any S3 client sends, but
// about 0.1 ms of client CPU each instead of the AWS SDK's 1-1.5 ms: on a 2-core machine that
// shares its cores with the S3 server, the client's CPU is what limits a seed of 90,000
// objects. Benchmark-only: no retries beyond one, no streaming, no checksums.
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';

export interface PutTarget {
  /** http://host:port */
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
}

export interface PutItem {
  bucket: string;
  key: string;
  body: Buffer;
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();
const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');

/** RFC 3986 encoding of each '/'-separated segment, as SigV4's canonical URI wants it. */
function encodePath(bucket: string, key: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `/${enc(bucket)}/${key.split('/').map(enc).join('/')}`;
}

export class SeedClient {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly region: string;
  private signingKey: { day: string; key: Buffer } | undefined;
  requests = 0;

  constructor(
    private readonly target: PutTarget,
    private readonly concurrency = 64,
  ) {
    this.url = new URL(target.endpoint);
    this.region = target.region ?? 'us-east-1';
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  }

  private keyFor(day: string): Buffer {
    if (this.signingKey?.day !== day) {
      const k = hmac(hmac(hmac(hmac(`AWS4${this.target.secretAccessKey}`, day), this.region), 's3'), 'aws4_request');
      this.signingKey = { day, key: k };
    }
    return this.signingKey.key;
  }

  private headers(method: string, pathName: string, query: string): Record<string, string> {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const day = amzDate.slice(0, 8);
    const host = this.url.host;
    const canonical = [method, pathName, query, `host:${host}`, 'x-amz-content-sha256:UNSIGNED-PAYLOAD', `x-amz-date:${amzDate}`, '', 'host;x-amz-content-sha256;x-amz-date', 'UNSIGNED-PAYLOAD'].join('\n');
    const scope = `${day}/${this.region}/s3/aws4_request`;
    const signature = createHmac('sha256', this.keyFor(day)).update(`AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(canonical)}`).digest('hex');
    return {
      host,
      'x-amz-date': amzDate,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      authorization: `AWS4-HMAC-SHA256 Credential=${this.target.accessKeyId}/${scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
    };
  }

  private request(method: string, pathName: string, body?: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = this.headers(method, pathName, '');
      if (body) headers['content-length'] = body.length;
      const req = http.request({ host: this.url.hostname, port: this.url.port, method, path: pathName, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async createBucket(bucket: string): Promise<void> {
    const r = await this.request('PUT', `/${bucket}`);
    if (r.status !== 200 && !/BucketAlready/.test(r.text)) throw new Error(`create bucket ${bucket}: ${r.status} ${r.text.slice(0, 300)}`);
  }

  /** One PutObject; a failed one (reset connection, 5xx) is tried once more. */
  async put(item: PutItem): Promise<void> {
    const pathName = encodePath(item.bucket, item.key);
    for (let attempt = 1; ; attempt++) {
      try {
        this.requests++;
        const r = await this.request('PUT', pathName, item.body);
        if (r.status === 200) return;
        if (attempt >= 2 || r.status < 500) throw new Error(`PUT ${item.bucket}/${item.key}: ${r.status} ${r.text.slice(0, 300)}`);
      } catch (error) {
        if (attempt >= 2 || (error as Error).message.startsWith('PUT ')) throw error;
      }
    }
  }

  /**
   * Put `count` objects, `concurrency` in flight: `make(i)` gives the i-th (made just in time,
   * so a seed of 90,000 bodies is never in memory at once); `onProgress` after each.
   */
  async putAll(count: number, make: (i: number) => PutItem | Promise<PutItem>, onProgress?: (done: number) => void): Promise<void> {
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < count) {
        const item = await make(next++);
        await this.put(item);
        onProgress?.(++done);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, count) }, worker));
  }

  close(): void {
    this.agent.destroy();
  }
}
