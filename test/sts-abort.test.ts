// The run's abort reaches STS: a role whose STS call hangs or keeps failing slowly must not
// hold an interrupted run through every retry. Against a real local HTTP server that takes
// the AssumeRole POST and then never answers (or answers 503 late).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { createSiteClients, sendCancellable } from '../tasks/aws/clients.ts';
import { clearCredentialCache, roleCredentialsProvider } from '../tasks/aws/credentials.ts';
import { resolveAutomation, type SiteConfig } from '../tasks/site/site-config.ts';
import type { SiteId } from '../tasks/platform/types.ts';

const ROLE = 'arn:aws:iam::123456789012:role/slow';
const ABORT_AFTER_MS = 200;
/** How long after the abort the credentials may take to fail (the retries alone take longer). */
const PROMPT_MS = 1_000;

type Mode = 'silent' | 'slow-503' | 'answer';

/** An STS endpoint that reads the request, then answers per `mode` (read at each request). */
async function stsServer(t: TestContext, initial: Mode) {
  let mode = initial;
  let requests = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      if (mode === 'silent') return; // never answers: only the client can end this
      const delay = mode === 'slow-503' ? 400 : 0;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (mode === 'slow-503') {
          res.writeHead(503, { 'Content-Type': 'text/xml' });
          res.end('<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>slow down</Message></Error></ErrorResponse>');
          return;
        }
        const expiration = new Date(Date.now() + 3_600_000).toISOString();
        res.writeHead(200, { 'Content-Type': 'text/xml' });
        res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIATESTTESTTESTAAAA</AccessKeyId><SecretAccessKey>secret-xxxxxxxx</SecretAccessKey>
<SessionToken>token</SessionToken><Expiration>${expiration}</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/slow/s</Arn><AssumedRoleId>X:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>`);
      }, delay);
      timers.add(timer);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const timer of timers) clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    setMode: (next: Mode) => (mode = next),
  };
}

/** The central user's keys in the environment, as .env.automation sets them; restored after. */
function centralEnv(t: TestContext) {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, region: process.env.AWS_REGION };
  process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  process.env.AWS_REGION = 'us-east-1';
  t.after(() => {
    for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_REGION', saved.region]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

/** Abort `controller` after ABORT_AFTER_MS and report how `promise` settled, giving up PROMPT_MS after the abort. */
async function abortAndWatch(controller: AbortController, promise: Promise<unknown>) {
  const started = Date.now();
  const timer = setTimeout(() => controller.abort(), ABORT_AFTER_MS);
  let deadline: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => ({ settled: 'resolved' as const, error: undefined }),
      (error: unknown) => ({ settled: 'rejected' as const, error: error as Error }),
    ),
    new Promise<{ settled: 'pending'; error: undefined }>((resolve) => {
      deadline = setTimeout(() => resolve({ settled: 'pending', error: undefined }), ABORT_AFTER_MS + PROMPT_MS);
    }),
  ]);
  clearTimeout(timer);
  clearTimeout(deadline);
  // Whatever happens later (the unfixed code retries on), it must not be an unhandled rejection.
  promise.catch(() => undefined);
  return { ...outcome, elapsedMs: Date.now() - started };
}

test('an STS call that never answers: aborting the run\'s signal rejects the credentials at once, and nothing is cached', async (t) => {
  centralEnv(t);
  clearCredentialCache();
  const sts = await stsServer(t, 'silent');
  const controller = new AbortController();
  const provider = roleCredentialsProvider({ roleArn: ROLE, siteId: 'alpha', runId: 'run-1', stsEndpoint: sts.endpoint, region: 'us-east-1', signal: controller.signal });
  const outcome = await abortAndWatch(controller, provider());
  assert.equal(outcome.settled, 'rejected', `credentials still ${outcome.settled} ${outcome.elapsedMs}ms after start (abort at ${ABORT_AFTER_MS}ms)`);
  assert.equal(outcome.error!.name, 'AbortError', `an abort, not a role failure: ${outcome.error!.name}: ${outcome.error!.message}`);
  assert.ok(outcome.elapsedMs < ABORT_AFTER_MS + PROMPT_MS, `${outcome.elapsedMs}ms`);
  assert.equal(sts.requests(), 1, 'no retry after the abort');

  // The next run (its own signal) asks STS again: the interrupted attempt left nothing cached.
  sts.setMode('answer');
  const next = roleCredentialsProvider({ roleArn: ROLE, siteId: 'alpha', runId: 'run-2', stsEndpoint: sts.endpoint, region: 'us-east-1', signal: new AbortController().signal });
  assert.equal((await next()).accessKeyId, 'ASIATESTTESTTESTAAAA');
  assert.equal(sts.requests(), 2);
});

test('STS answering 503 slowly: the abort ends the attempt in flight and no retry follows', async (t) => {
  centralEnv(t);
  clearCredentialCache();
  const sts = await stsServer(t, 'slow-503');
  const controller = new AbortController();
  const provider = roleCredentialsProvider({ roleArn: ROLE, siteId: 'alpha', runId: 'run-3', stsEndpoint: sts.endpoint, region: 'us-east-1', signal: controller.signal });
  const outcome = await abortAndWatch(controller, provider());
  assert.equal(outcome.settled, 'rejected', `credentials still ${outcome.settled} ${outcome.elapsedMs}ms after start (abort at ${ABORT_AFTER_MS}ms)`);
  assert.equal(outcome.error!.name, 'AbortError', `${outcome.error!.name}: ${outcome.error!.message}`);
  assert.ok(outcome.elapsedMs < ABORT_AFTER_MS + PROMPT_MS, `${outcome.elapsedMs}ms`);
  // Give a retry (whose first backoff is at most 300 ms) the time to show up: there is none.
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal(sts.requests(), 1);
});

test('site clients: an S3 call waiting for its role\'s credentials ends when its signal aborts (the runner\'s path)', async (t) => {
  centralEnv(t);
  clearCredentialCache();
  const sts = await stsServer(t, 'silent');
  const site: SiteConfig = {
    id: 'alpha' as SiteId,
    configPath: '',
    configDir: '',
    podcasts: [],
    // The S3 endpoint is never reached: the request waits for credentials first.
    automation: resolveAutomation('alpha', { roleArn: ROLE, stsEndpoint: sts.endpoint, endpoint: sts.endpoint, region: 'us-east-1' }),
    localDir: '',
  };
  const clients = createSiteClients(site, 'run-4');
  t.after(() => clients.s3().destroy());
  const controller = new AbortController();
  const s3 = clients.s3();
  const call = sendCancellable(s3, controller.signal, new ListObjectsV2Command({ Bucket: site.automation.bucket }), (command, options) => s3.send(command, options));
  const outcome = await abortAndWatch(controller, call);
  assert.equal(outcome.settled, 'rejected', `the S3 call still ${outcome.settled} ${outcome.elapsedMs}ms after start (abort at ${ABORT_AFTER_MS}ms)`);
  assert.equal(outcome.error!.name, 'AbortError', `${outcome.error!.name}: ${outcome.error!.message}`);
  assert.equal(sts.requests(), 1);
});

test('site clients: aborting a call closes its HTTP request, not only its promise (the signal reaches the request handler)', async (t) => {
  centralEnv(t);
  // An S3 endpoint that takes requests and never answers; it notes when the client hangs up.
  const closed: number[] = [];
  let received = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((req) => {
    received++;
    req.resume();
    req.socket.on('close', () => closed.push(Date.now()));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const site: SiteConfig = { id: 'alpha' as SiteId, configPath: '', configDir: '', podcasts: [], automation: resolveAutomation('alpha', { endpoint, region: 'us-east-1' }), localDir: '' };
  const clients = createSiteClients(site, 'run-5');
  t.after(() => clients.s3().destroy());
  const s3 = clients.s3();
  // Two calls in flight on one client, each with its own signal: only the aborted one's request ends.
  const kept = new AbortController();
  const other = sendCancellable(s3, kept.signal, new ListObjectsV2Command({ Bucket: 'b', Prefix: 'kept/' }), (command, options) => s3.send(command, options));
  other.catch(() => undefined);
  // Each kind of call the runner makes (GetObject and PutObject pass through middleware that
  // replaces their input, which once lost the signal on the way).
  const calls = [
    new ListObjectsV2Command({ Bucket: 'b', Prefix: 'aborted/' }),
    new GetObjectCommand({ Bucket: 'b', Key: 'audio/a.mp3' }),
    new PutObjectCommand({ Bucket: 'b', Key: 'audio/a.mp3', Body: Buffer.from('x'), ContentMD5: 'LZ4q0o3FYm1OZwPb8fZAEw==' }),
  ];
  for (const [i, command] of calls.entries()) {
    const controller = new AbortController();
    const call = sendCancellable(s3, controller.signal, command as ListObjectsV2Command, (c, options) => s3.send(c, options));
    const outcome = await abortAndWatch(controller, call);
    const name = command.constructor.name;
    assert.equal(outcome.settled, 'rejected', name);
    assert.equal(received, i + 2, `${name} reached the server`);
    const abortedAt = Date.now();
    while (closed.length === i && Date.now() - abortedAt < PROMPT_MS) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(closed.length, i + 1, `${name}: the aborted request's connection is closed (and only that one)`);
  }
  kept.abort();
  await assert.rejects(other, { name: 'AbortError' });
});
