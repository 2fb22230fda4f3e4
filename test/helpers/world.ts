// A small, complete world for whole-run tests (crash trials, the fault matrix): a few sites,
// each with one podcast whose feed and tone MP3s are served on loopback, one s3rver (one
// bucket per site) behind a recording fault proxy, each site's indexing function (the real
// indexer) behind the local Lambda endpoint with a gate in front of it, and the test Whisper
// model. Everything the runner does is observable from here, with times: the S3 requests it
// sent (the indexer talks to s3rver directly, so the proxy sees the runner only), the audio
// GETs and how much of each body went out, the invocations, the CLI's output.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3Server } from '../../tasks/demo/local/s3-server.ts';
import { startLocalLambda, type LambdaHandler, type LocalLambda } from '../../tasks/demo/local/lambda-server.ts';
import { createIndexerHandler } from '../../tasks/engines/indexer/indexer.ts';
import { runCli, startCli, type CliResult, type RunningCli } from './cli.ts';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions, type ProxiedRequest } from './fault-proxy.ts';
import { rssXml } from './rss-rig.ts';
import { writeSite } from './sites.ts';
import { tempDir } from './temp.ts';
import { makeToneAudio, testModel, testWhisperCli } from './whisper.ts';

// ---- Audio ------------------------------------------------------------------------------------

/** Distinct tone MP3s of `seconds` each, made once per process into `dir` (content differs per index). */
export async function toneClips(dir: string, count: number, seconds: number): Promise<Buffer[]> {
  await mkdir(dir, { recursive: true });
  const clips: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `tone-${seconds}s-${i}.mp3`);
    if (!existsSync(file)) makeToneAudio(file, seconds, { periodSeconds: 2 + (i % 5) * 0.7, silenceSeconds: 0.3 + (i % 3) * 0.2 });
    clips.push(await readFile(file));
  }
  return clips;
}

// ---- The audio host ---------------------------------------------------------------------------

export interface AudioGet {
  path: string;
  status: number;
  /** Bytes of body the server meant to send (the full file or the range). */
  length: number;
  sent: number;
  /** Every byte of the body went out (the response finished). */
  complete: boolean;
  range?: string;
  at: number;
}

export interface FeedHost {
  origin: string;
  /** Every GET of audio, with how far its body got. */
  audioGets: AudioGet[];
  /** Feed requests (path, time). */
  feedGets: { path: string; at: number }[];
  /** Send audio bodies slowly: `chunkBytes` every `intervalMs` (undefined: at once). */
  trickle?: { chunkBytes: number; intervalMs: number };
  /** Called as an audio body's sent bytes pass half its length (full-body GETs only). */
  onHalfSent?: (get: AudioGet) => void;
  /** Per path: answer with this instead (a feed that times out, an HTML page...). */
  override: Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
  set(path: string, body: Buffer, contentType: string): void;
  stop(): Promise<void>;
}

const etagOf = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;

export async function startFeedHost(): Promise<FeedHost> {
  const routes = new Map<string, { body: Buffer; type: string; etag: string }>();
  const host: FeedHost = {
    origin: '',
    audioGets: [],
    feedGets: [],
    override: new Map(),
    set: (p, body, type) => void routes.set(p, { body, type, etag: etagOf(body) }),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const p = (req.url ?? '/').split('?')[0]!;
    const override = host.override.get(p);
    if (override) return override(req, res);
    const route = routes.get(p);
    if (!route) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    if (!p.startsWith('/audio/')) {
      host.feedGets.push({ path: p, at: Date.now() });
      return void res.writeHead(200, { 'content-type': route.type, 'content-length': route.body.length, etag: route.etag }).end(route.body);
    }
    const full = route.body.length;
    let body = route.body;
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': route.type, etag: route.etag, 'accept-ranges': 'bytes' };
    const range = req.headers.range;
    const ifRange = req.headers['if-range'];
    if (range && (ifRange === undefined || ifRange === route.etag)) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      const start = m ? Number(m[1]) : NaN;
      if (!m || start >= full) return void res.writeHead(416, { 'content-range': `bytes */${full}` }).end();
      const end = m[2] ? Math.min(Number(m[2]), full - 1) : full - 1;
      body = body.subarray(start, end + 1);
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${full}`;
    }
    headers['content-length'] = body.length;
    const get: AudioGet = { path: p, status, length: body.length, sent: 0, complete: false, at: Date.now(), ...(range ? { range } : {}) };
    host.audioGets.push(get);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    res.on('finish', () => (get.complete = get.sent === get.length));
    const half = Math.ceil(body.length / 2);
    let offset = 0;
    const step = () => {
      if (res.destroyed) return;
      const trickle = host.trickle;
      const size = trickle ? trickle.chunkBytes : body.length;
      const piece = body.subarray(offset, offset + size);
      const before = get.sent;
      offset += piece.length;
      get.sent += piece.length;
      const last = offset >= body.length;
      if (last) res.end(piece);
      else res.write(piece);
      if (status === 200 && before < half && get.sent >= half) host.onHalfSent?.(get);
      if (!last) setTimeout(step, trickle ? trickle.intervalMs : 0);
    };
    step();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return host;
}

// ---- The indexing endpoint, gated ---------------------------------------------------------------

export interface LambdaGate {
  endpoint: string;
  /** Invocation requests that reached the gate (before it forwards them). */
  arrived: { functionName: string; at: number }[];
  /** Hold an invocation before it reaches the endpoint (undefined: forward now). */
  hold?: (functionName: string) => Promise<void> | undefined;
  /** Answer instead of forwarding (throttling, failures): return true when answered. */
  answer?: (functionName: string, res: http.ServerResponse) => boolean;
  stop(): Promise<void>;
}

/** A pass-through in front of the local Lambda endpoint that can hold or answer invocations. */
export async function startLambdaGate(target: string): Promise<LambdaGate> {
  const targetUrl = new URL(target);
  const gate: LambdaGate = {
    endpoint: '',
    arrived: [],
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(/\/functions\/([^/]+)\/invocations/.exec(req.url ?? '')?.[1] ?? '');
    gate.arrived.push({ functionName: name, at: Date.now() });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        if (req.socket.destroyed) return; // the caller died while held: the invocation never happens
        if (gate.answer?.(name, res)) return;
        const upstream = http.request(
          { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: req.headers },
          (response) => {
            res.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      const held = gate.hold?.(name);
      if (held) void held.then(forward);
      else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gate.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return gate;
}

// ---- An STS endpoint ---------------------------------------------------------------------------

export interface StsServer {
  endpoint: string;
  /** AssumeRole requests seen (their form fields). */
  calls: Record<string, string>[];
  /** false: AccessDenied (ErrorResponse XML, 403); true: temporary credentials for s3rver. */
  allow: boolean;
  stop(): Promise<void>;
}

/** STS AssumeRole as AWS answers it (a form POST; AssumeRoleResponse or ErrorResponse XML). */
export async function startStsServer(): Promise<StsServer> {
  const sts: StsServer = {
    endpoint: '',
    calls: [],
    allow: false,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      sts.calls.push(form);
      const ns = 'https://sts.amazonaws.com/doc/2011-06-15/';
      if (!sts.allow) {
        const xml = `<ErrorResponse xmlns="${ns}"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/automation is not authorized to perform: sts:AssumeRole on resource: ${form.RoleArn}</Message></Error><RequestId>4d2f8c3e-0000-4000-8000-000000000001</RequestId></ErrorResponse>`;
        res.writeHead(403, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
        return;
      }
      const expiration = new Date(Date.now() + 3600_000).toISOString();
      const xml =
        `<AssumeRoleResponse xmlns="${ns}"><AssumeRoleResult><Credentials><AccessKeyId>${LOCAL_S3_CREDENTIALS.accessKeyId}</AccessKeyId>` +
        `<SecretAccessKey>${LOCAL_S3_CREDENTIALS.secretAccessKey}</SecretAccessKey><SessionToken>FwoGZXIvYXdzEXAMPLETOKEN</SessionToken><Expiration>${expiration}</Expiration></Credentials>` +
        `<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:${form.RoleSessionName}</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/automation/${form.RoleSessionName}</Arn></AssumedRoleUser>` +
        `</AssumeRoleResult><ResponseMetadata><RequestId>4d2f8c3e-0000-4000-8000-000000000002</RequestId></ResponseMetadata></AssumeRoleResponse>`;
      res.writeHead(200, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) }).end(xml);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sts.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return sts;
}

// ---- The world ----------------------------------------------------------------------------------

export interface SiteSpec {
  id: string;
  /** Episodes of the site's one podcast (indexes into the clips). */
  episodes: number;
  /** Extra automation fields (roleArn, stsEndpoint...). */
  automation?: Record<string, unknown>;
  /** Write this text as site.config.json instead (a broken config). */
  rawConfig?: string;
  /** More podcasts (id, feed path) on the same host; their feeds are set by the test. */
  extraPodcasts?: { id: string; feedPath: string }[];
}

export interface TimedRequest extends ProxiedRequest {
  at: number;
}

export interface WorldOptions {
  sites: SiteSpec[];
  clips: Buffer[];
  /** Fault proxy options for the S3 endpoint the runner uses. */
  proxy?: Omit<FaultProxyOptions, 'target' | 'hold'>;
  env?: NodeJS.ProcessEnv;
  /** Use this S3 server (shared by several worlds) instead of starting one; each world then has its own buckets. */
  s3?: LocalS3Server;
  /** Prefix of the world's bucket names (`<prefix><id>-browse-dot-show`), for worlds sharing an S3 server. */
  bucketPrefix?: string;
  /** Replace a site's indexing function (default: the real indexer on its bucket). */
  functions?: (s3Endpoint: string, bucketOf: (id: string) => string) => Record<string, LambdaHandler>;
}

export interface World {
  root: string;
  sitesRoot: string;
  localRoot: string;
  s3: LocalS3Server;
  proxy: FaultProxy;
  /** What the runner sent to S3, with arrival times. */
  s3Requests: TimedRequest[];
  /** Hold an S3 request at the proxy (before forwarding). */
  s3Hold?: (request: ProxiedRequest) => Promise<void> | undefined;
  feeds: FeedHost;
  lambda: LocalLambda;
  gate: LambdaGate;
  client: S3Client;
  env: NodeJS.ProcessEnv;
  sites: SiteSpec[];
  bucketOf(id: string): string;
  siteDir(id: string): string;
  /** `run` with this world's roots, plain lines and a summary file; extra args appended. */
  runArgs(extra?: string[], summaryFile?: string): string[];
  start(extra?: string[], summaryFile?: string): RunningCli;
  run(extra?: string[], summaryFile?: string): Promise<CliResult>;
  cli(args: string[]): Promise<CliResult>;
  /** key -> md5 of every object of a site's bucket. */
  bucketFiles(id: string): Promise<Map<string, string>>;
  bucketObject(id: string, key: string): Promise<Buffer>;
  /** (Re)write a site's site.config.json from its spec. */
  writeSiteConfig(site: SiteSpec): Promise<void>;
  /** Serve a feed of `episodes` items named after `name` at `feedPath`, with their audio (clips from `clipOffset`). */
  serveFeed(feedPath: string, name: string, episodes: number, clipOffset: number): void;
  stop(): Promise<void>;
}

export const bucketFor = (id: string) => `${id}-browse-dot-show`;
export const feedPathOf = (siteId: string) => `/feeds/${siteId}.xml`;
export const podcastOf = (siteId: string) => `${siteId}-pod`;

/** The feed of a site: `episodes` items, one a day from 2024-03-01, each with its own clip. */
export function feedFor(origin: string, siteId: string, episodes: number, clipOffset: number): { xml: string; audio: { path: string; clip: number }[] } {
  const items = Array.from({ length: episodes }, (_, i) => ({
    title: `${siteId} episode ${i + 1}: tones & silence`,
    guid: `${siteId}-ep-${i + 1}`,
    pubDate: new Date(Date.UTC(2024, 2, 1 + i, 6)).toUTCString(),
    url: `${origin}/audio/${siteId}/ep-${i + 1}.mp3`,
  }));
  return { xml: rssXml(`${siteId} show`, items), audio: items.map((item, i) => ({ path: new URL(item.url).pathname, clip: clipOffset + i })) };
}

export async function startWorld(t: TestContext | undefined, options: WorldOptions, rootDir?: string): Promise<World> {
  const root = rootDir ?? (await tempDir(t!, 'world-'));
  const ids = options.sites.map((s) => s.id);
  const bucketOf = (id: string) => `${options.bucketPrefix ?? ''}${bucketFor(id)}`;
  const s3 = options.s3 ?? (await startLocalS3({ dir: path.join(root, 's3'), buckets: ids.map(bucketOf) }));
  if (options.s3) {
    const admin = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { ...LOCAL_S3_CREDENTIALS } });
    for (const id of ids) await admin.send(new CreateBucketCommand({ Bucket: bucketOf(id) }));
    admin.destroy();
  }
  const s3Requests: TimedRequest[] = [];
  // Assigned below; the proxy's hook reads it per request (a hold set on the world later).
  let world: World;
  const proxy = await startFaultProxy({
    ...options.proxy,
    target: s3.endpoint,
    hold: (request) => {
      s3Requests.push({ ...request, at: Date.now() });
      return world.s3Hold?.(request);
    },
  });
  const feeds = await startFeedHost();
  let clip = 0;
  for (const site of options.sites) {
    const feed = feedFor(feeds.origin, site.id, site.episodes, clip);
    clip += site.episodes;
    feeds.set(feedPathOf(site.id), Buffer.from(feed.xml), 'application/rss+xml; charset=utf-8');
    for (const a of feed.audio) feeds.set(a.path, options.clips[a.clip % options.clips.length]!, 'audio/mpeg');
  }
  const direct = { region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { ...LOCAL_S3_CREDENTIALS } };
  const functions =
    options.functions?.(s3.endpoint, bucketOf) ??
    Object.fromEntries(ids.map((id) => [`srt-indexing-${id}`, createIndexerHandler({ bucket: bucketOf(id), s3: direct })]));
  const lambda = await startLocalLambda({ functions });
  const gate = await startLambdaGate(lambda.endpoint);

  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  const writeSiteConfig = async (site: SiteSpec) => {
    if (site.rawConfig !== undefined) {
      const dir = path.join(sitesRoot, site.id);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'site.config.json'), site.rawConfig);
      return;
    }
    await writeSite(sitesRoot, {
      id: site.id,
      includedPodcasts: [
        { id: podcastOf(site.id), title: `${site.id} show`, url: feeds.origin + feedPathOf(site.id), rssFeedFile: `${podcastOf(site.id)}.xml`, status: 'active' },
        ...(site.extraPodcasts ?? []).map((p) => ({ id: p.id, title: p.id, url: feeds.origin + p.feedPath, rssFeedFile: `${p.id}.xml`, status: 'active' })),
      ],
      whisperTranscriptionPrompt: 'Tones and silence.',
      automation: { bucket: bucketOf(site.id), region: 'us-east-1', endpoint: proxy.endpoint, lambdaEndpoint: gate.endpoint, ...site.automation },
    });
  };
  for (const site of options.sites) await writeSiteConfig(site);
  const client = new S3Client({ ...direct, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    WHISPER_MODEL: await testModel(),
    WHISPER_CLI: testWhisperCli(),
    WHISPER_CHUNK_SECONDS: '5',
    // One thread per job whatever is queued: the same audio gives the same transcript in every trial.
    WHISPER_THREADS: '1',
    ...options.env,
  };
  let runs = 0;
  const runArgs = (extra: string[] = [], summaryFile = path.join(root, `summary-${++runs}.json`)) => [
    'run',
    `--sites-root=${sitesRoot}`,
    `--local-root=${localRoot}`,
    `--summary-json=${summaryFile}`,
    '--renderer=plain',
    ...extra,
  ];
  world = {
    root,
    sitesRoot,
    localRoot,
    s3,
    proxy,
    s3Requests,
    feeds,
    lambda,
    gate,
    client,
    env,
    sites: options.sites,
    bucketOf,
    siteDir: (id) => path.join(localRoot, 'sites', id),
    runArgs,
    start: (extra, summaryFile) => startCli(runArgs(extra, summaryFile), { cwd: root, env, timeoutMs: 240_000 }),
    run: (extra, summaryFile) => runCli(runArgs(extra, summaryFile), { cwd: root, env, timeoutMs: 240_000 }),
    cli: (args) => runCli([...args, `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`], { cwd: root, env, timeoutMs: 120_000 }),
    async bucketFiles(id) {
      const files = new Map<string, string>();
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucketOf(id), ContinuationToken: token }));
        for (const o of page.Contents ?? []) files.set(o.Key!, o.ETag!.replace(/"/g, ''));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return files;
    },
    writeSiteConfig,
    serveFeed(feedPath, name, episodes, clipOffset) {
      const feed = feedFor(feeds.origin, name, episodes, clipOffset);
      feeds.set(feedPath, Buffer.from(feed.xml), 'application/rss+xml; charset=utf-8');
      for (const a of feed.audio) feeds.set(a.path, options.clips[a.clip % options.clips.length]!, 'audio/mpeg');
    },
    async bucketObject(id, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucketOf(id), Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async stop() {
      client.destroy();
      await lambda.idle();
      await Promise.all([gate.stop(), lambda.stop(), feeds.stop(), proxy.stop()]);
      if (!options.s3) await s3.stop();
    },
  };
  t?.after(() => world.stop());
  return world;
}

// ---- What a world ends in -------------------------------------------------------------------------

/** A download time in a file key (`--<13 digits>`) made comparable across runs. */
export const normaliseKey = (key: string) => key.replace(/--\d{13}/g, '--<ms>');

/** Keys whose content must be identical across runs (audio, transcripts); the rest compare by key. */
const hashedFolder = (key: string) => key.startsWith('audio/') || key.startsWith('transcripts/');

export interface SiteEndState {
  /** normalised key -> md5 (audio, transcripts) or '' (other files), per side. */
  local: Record<string, string>;
  bucket: Record<string, string>;
  /** The manifest's episodes without download times, URLs made host-free. */
  manifest: unknown[];
}

/** Files under a folder, dot-files included, relative '/'-paths. */
export async function filesIn(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort();
  } catch {
    return [];
  }
}

function normaliseManifest(text: string, origin: string): unknown[] {
  const doc = JSON.parse(text) as { episodes: Record<string, unknown>[] };
  return doc.episodes
    .map((e) => {
      const { downloadedAt: _d, ...rest } = e;
      return JSON.parse(normaliseKey(JSON.stringify(rest)).replaceAll(origin, '<origin>')) as Record<string, unknown>;
    })
    .sort((a, b) => Number(a.sequentialId) - Number(b.sequentialId));
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

export async function endState(world: World, id: string): Promise<SiteEndState> {
  const dir = world.siteDir(id);
  const local: Record<string, string> = {};
  for (const key of await filesIn(dir)) local[normaliseKey(key)] = hashedFolder(key) ? md5(await readFile(path.join(dir, key))) : '';
  const bucket: Record<string, string> = {};
  for (const [key, etag] of await world.bucketFiles(id)) bucket[normaliseKey(key)] = hashedFolder(key) ? etag : '';
  const manifestFile = path.join(dir, 'episode-manifest', 'full-episode-manifest.json');
  const manifest = existsSync(manifestFile) ? normaliseManifest(await readFile(manifestFile, 'utf8'), world.feeds.origin) : [];
  return { local: sortKeys(local), bucket: sortKeys(bucket), manifest };
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/** Temporary files anywhere under the local root: dot-files ending .partial or .resume, whisper work folders. */
export async function temporaries(localRoot: string): Promise<string[]> {
  const found = (await filesIn(localRoot)).filter((f) => /(^|\/)\.[^/]*\.(partial|resume)$/.test(f) || /\.(partial|tmp|part|download)$/.test(f));
  const work = path.join(localRoot, '.work');
  for (const site of await readdir(work).catch(() => [] as string[])) {
    for (const entry of await readdir(path.join(work, site)).catch(() => [] as string[])) found.push(`.work/${site}/${entry}`);
  }
  return found;
}

/** What a site's local audio folder holds of one episode: the final file's size, the resume file's. */
export interface AudioOnDisk {
  final?: number;
  resume?: number;
}

/**
 * Per audio URL path (`/audio/<site>/ep-<n>.mp3`, as feedFor names them), the episode's bytes on
 * disk: read after a kill, it says what the next run must not fetch again.
 */
export async function audioOnDisk(world: World): Promise<Map<string, AudioOnDisk>> {
  const found = new Map<string, AudioOnDisk>();
  for (const site of world.sites) {
    const dir = path.join(world.siteDir(site.id), 'audio', podcastOf(site.id));
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const n = /_episode_(\d+)_/.exec(name)?.[1];
      if (!n) continue;
      const key = `/audio/${site.id}/ep-${n}.mp3`;
      const entry = found.get(key) ?? {};
      const size = (await stat(path.join(dir, name))).size;
      if (/^\..*\.mp3\.resume$/.test(name)) entry.resume = size;
      else if (/^[^.].*\.mp3$/.test(name)) entry.final = size;
      else continue;
      found.set(key, entry);
    }
  }
  return found;
}

/** Is `file` there (for polling)? */
export const present = (file: string) => stat(file).then(
  () => true,
  () => false,
);
