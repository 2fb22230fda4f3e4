// The S3 servers the benchmarks run against, behind one interface: the embedded s3rver
// (tasks/demo/local/s3-server.ts, every request recorded through its --log-requests) and
// Ceph's RADOS Gateway (test/helpers/radosgw.ts: a production S3 implementation on a
// single-node memstore cluster), whose requests are counted on the server side by its own
// performance counters (`perf dump` on its admin socket: every request, object GETs and HEADs,
// object PUTs), which cost the gateway nothing per request.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type RecordedRequest } from '../../tasks/demo/local/s3-server.ts';
import { radosgwUnavailable, startRadosgw } from '../../test/helpers/radosgw.ts';
import { SeedClient } from './s3-put.ts';

const run = promisify(execFile);

export const SERVER_KINDS = ['s3rver', 'radosgw'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

/** Requests a server saw between two marks. `list` and `other` are one figure on RGW (its counters do not separate them). */
export interface RequestCounts {
  total: number;
  /** GetObject and HeadObject. */
  getObject: number;
  putObject: number;
  /** ListObjects(V2) (s3rver); on RGW every request that is neither an object GET/HEAD nor a PUT. */
  list: number;
  other: number;
}

export interface BenchServer {
  kind: ServerKind;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** For a line of the report. */
  description: string;
  /** A keep-alive PutObject client for seeding (bench/support/s3-put.ts). */
  seed: SeedClient;
  createBuckets(names: readonly string[]): Promise<void>;
  /** A point in the server's request history. */
  mark(): Promise<unknown>;
  /** Requests since `mark` (give the server's last log lines time to arrive first). */
  since(mark: unknown): Promise<RequestCounts>;
  /** s3rver only: the requests themselves since `mark`. */
  requestsSince?(mark: unknown): RecordedRequest[];
  /** The server's process ids (for CPU accounting). */
  pids(): number[];
  stop(): Promise<void>;
}

export function serverUnavailable(kind: ServerKind): string | undefined {
  return kind === 'radosgw' ? radosgwUnavailable() : undefined;
}

/** Classify s3rver's recorded requests (path-style: /bucket or /bucket/key). */
export function countRequests(requests: readonly RecordedRequest[]): RequestCounts {
  const counts: RequestCounts = { total: requests.length, getObject: 0, putObject: 0, list: 0, other: 0 };
  for (const r of requests) {
    const [pathname, query = ''] = r.url.split('?');
    const objectLevel = pathname!.split('/').filter(Boolean).length >= 2;
    if ((r.method === 'GET' || r.method === 'HEAD') && objectLevel) counts.getObject++;
    else if (r.method === 'PUT' && objectLevel && !/(^|&)(partNumber|uploadId)=/.test(query)) counts.putObject++;
    else if (r.method === 'GET' && !objectLevel && /(^|&)(list-type|prefix|delimiter|max-keys|continuation-token)=/.test(query)) counts.list++;
    else counts.other++;
  }
  return counts;
}

export async function startServer(kind: ServerKind, dir: string, seedConcurrency = 64): Promise<BenchServer> {
  if (kind === 's3rver') {
    const s3 = await startLocalS3({ dir, recordRequests: true });
    const seed = new SeedClient({ endpoint: s3.endpoint, ...LOCAL_S3_CREDENTIALS }, seedConcurrency);
    return {
      kind,
      endpoint: s3.endpoint,
      credentials: { ...LOCAL_S3_CREDENTIALS },
      description: `s3rver (embedded, tasks/demo/local/s3-server.ts) at ${s3.endpoint}`,
      seed,
      async createBuckets(names) {
        for (const name of names) await seed.createBucket(name);
      },
      mark: async () => s3.requests.length,
      async since(mark) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return countRequests(s3.requests.slice(mark as number));
      },
      requestsSince: (mark) => s3.requests.slice(mark as number),
      pids: () => [s3.process.pid!],
      async stop() {
        seed.close();
        await s3.stop();
      },
    };
  }
  const rgw = await startRadosgw();
  try {
    const user = await rgw.createUser({ uid: 'bench', tenant: '' });
    const credentials = { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey };
    const seed = new SeedClient({ endpoint: rgw.endpoint, ...credentials }, seedConcurrency);
    const socket = path.join(rgw.dir, 'run', 'client.rgw.asok');
    const perf = async () => {
      const { stdout } = await run('ceph', ['--admin-daemon', socket, 'perf', 'dump', 'rgw'], { timeout: 30_000 });
      const counters = (JSON.parse(stdout) as { rgw: { req: number; get: number; put: number } }).rgw;
      return { req: counters.req, get: counters.get, put: counters.put };
    };
    const pidsOf = async (name: string) => (await run('pgrep', ['-f', `${name} -c ${path.join(rgw.dir, 'ceph.conf')}`]).catch(() => ({ stdout: '' }))).stdout.trim().split('\n').filter(Boolean).map(Number);
    const pids = [...(await pidsOf('radosgw')), ...(await pidsOf('ceph-osd')), ...(await pidsOf('ceph-mon'))];
    return {
      kind,
      endpoint: rgw.endpoint,
      credentials,
      seed,
      description: `Ceph RADOS Gateway ${(await run('radosgw', ['--version'])).stdout.trim().split(' ').slice(2, 3).join('')} (memstore OSD, test/helpers/radosgw.ts) at ${rgw.endpoint}`,
      async createBuckets(names) {
        for (const name of names) await seed.createBucket(name);
      },
      mark: perf,
      async since(mark) {
        const before = mark as Awaited<ReturnType<typeof perf>>;
        const after = await perf();
        const total = after.req - before.req;
        const getObject = after.get - before.get;
        const putObject = after.put - before.put;
        return { total, getObject, putObject, list: total - getObject - putObject, other: 0 };
      },
      pids: () => pids,
      async stop() {
        seed.close();
        await rgw.stop();
      },
    };
  } catch (error) {
    await rgw.stop();
    throw error;
  }
}

export function describeCounts(c: RequestCounts, kind: ServerKind): string {
  const parts = kind === 'radosgw' ? [`${c.list} other (listings)`] : [`${c.list} LIST`, ...(c.other ? [`${c.other} other`] : [])];
  return `${c.total} requests: ${c.getObject} GET/HEAD object, ${c.putObject} PUT object, ${parts.join(', ')}`;
}
