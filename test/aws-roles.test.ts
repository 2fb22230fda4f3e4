// Cross-account access against a real STS + S3 (Ceph's RADOS Gateway, which enforces role
// trust and permission policies): each site's clients use its own assumed role; a role used
// against another site's bucket is refused; check-access and the runner report it with
// AWS's code; no credential ever reaches an output or a log file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startRadosgw, radosgwUnavailable, type Radosgw, type RgwUser, type RgwRole } from './helpers/radosgw.ts';
import { startLocalLambda, type LocalLambda } from '../tasks/demo/local/lambda-server.ts';
import { createIndexerHandler } from '../tasks/engines/indexer/indexer.ts';
import { createSiteClients } from '../tasks/aws/clients.ts';
import { clearCredentialCache, roleSessionName, stsCalls } from '../tasks/aws/credentials.ts';
import { resolveAutomation, type SiteConfig } from '../tasks/site/site-config.ts';
import type { SiteId } from '../tasks/platform/types.ts';
import { writeSite } from './helpers/sites.ts';
import { runCli } from './helpers/cli.ts';
import { FIXTURES } from './helpers/fixtures.ts';

const ACCOUNT = '111111111111';
const SPEECH = path.join(FIXTURES, 'srt/pysrt-speech-bom-utf8.srt');
const FILE_KEY = '2024-07-25_Simple_Episode_Title--1721921400000';
const unavailable = radosgwUnavailable();

describe('assumed roles against the RADOS Gateway', { skip: unavailable }, () => {
  let rgw: Radosgw;
  let central: RgwUser;
  let owner: RgwUser;
  let roleA: RgwRole;
  let roleB: RgwRole;
  let lambda: LocalLambda;
  let ownerS3: S3Client;
  let root: string;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'aws-roles-'));
    rgw = await startRadosgw();
    // The central automation user lives in its own account; both sites' buckets and roles in another.
    central = await rgw.createUser({ uid: 'automation', tenant: '' });
    owner = await rgw.createUser({ uid: 'owner', tenant: ACCOUNT });
    ownerS3 = s3With(owner);
    for (const bucket of ['alpha-browse-dot-show', 'beta-browse-dot-show']) await ownerS3.send(new CreateBucketCommand({ Bucket: bucket }));
    roleA = await rgw.createRole({ name: 'alpha-automation', tenant: ACCOUNT, trusted: central, buckets: ['alpha-browse-dot-show'] });
    roleB = await rgw.createRole({ name: 'beta-automation', tenant: ACCOUNT, trusted: central, buckets: ['beta-browse-dot-show'] });
    // Each indexing function runs with a role of its site (in AWS: its execution role).
    const indexer = (bucket: string, role: RgwRole) =>
      createIndexerHandler({ bucket, s3: { region: 'us-east-1', endpoint: rgw.endpoint, forcePathStyle: true, credentials: () => assumeDirectly(role) } });
    lambda = await startLocalLambda({
      functions: { 'srt-indexing-alpha': indexer('alpha-browse-dot-show', roleA), 'srt-indexing-beta': indexer('beta-browse-dot-show', roleB) },
    });
  });

  after(async () => {
    ownerS3?.destroy();
    await lambda?.stop();
    await rgw?.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** Assume a role with the central user's keys passed explicitly (not through the environment). */
  async function assumeDirectly(role: RgwRole) {
    const sts = new STSClient({ region: 'us-east-1', endpoint: rgw.endpoint, credentials: keys(central) });
    try {
      const out = await sts.send(new AssumeRoleCommand({ RoleArn: role.arn, RoleSessionName: 'indexer-function', DurationSeconds: 900 }));
      const c = out.Credentials!;
      return { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken, expiration: c.Expiration };
    } finally {
      sts.destroy();
    }
  }
  const keys = (user: RgwUser) => ({ accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey });
  function s3With(user: RgwUser): S3Client {
    return new S3Client({
      region: 'us-east-1',
      endpoint: rgw.endpoint,
      forcePathStyle: true,
      credentials: keys(user),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** A site config as an operator writes it, pointing at the gateway and the local Lambda. */
  function automation(role: string, bucket: string) {
    return { bucket, region: 'us-east-1', roleArn: role, endpoint: rgw.endpoint, stsEndpoint: rgw.endpoint, lambdaEndpoint: lambda.endpoint };
  }
  function site(id: string, role: string, bucket: string): SiteConfig {
    return {
      id: id as SiteId,
      configPath: '',
      configDir: '',
      podcasts: [],
      automation: resolveAutomation(id, automation(role, bucket)),
      localDir: path.join(root, 'unused', id),
    };
  }
  /** The central user's credentials in the process environment, as .env.automation would set them. */
  function withCentralEnv<T>(fn: () => Promise<T>): Promise<T> {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: central.accessKeyId, AWS_SECRET_ACCESS_KEY: central.secretAccessKey, AWS_REGION: 'us-east-1' });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    return fn().finally(() => {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });
  }

  test('each site\'s clients use its own role: its bucket works, the other site\'s bucket is AccessDenied', () =>
    withCentralEnv(async () => {
      clearCredentialCache();
      const alpha = createSiteClients(site('alpha', roleA.arn, 'alpha-browse-dot-show'), 'run-1');
      const beta = createSiteClients(site('beta', roleB.arn, 'beta-browse-dot-show'), 'run-1');
      await alpha.s3().send(new PutObjectCommand({ Bucket: 'alpha-browse-dot-show', Key: 'rss/a.xml', Body: 'a' }));
      await beta.s3().send(new PutObjectCommand({ Bucket: 'beta-browse-dot-show', Key: 'rss/b.xml', Body: 'b' }));
      for (const [clients, bucket] of [
        [alpha, 'beta-browse-dot-show'],
        [beta, 'alpha-browse-dot-show'],
      ] as const) {
        await assert.rejects(clients.s3().send(new ListObjectsV2Command({ Bucket: bucket })), (e: Error) => e.name === 'AccessDenied');
        await assert.rejects(clients.s3().send(new GetObjectCommand({ Bucket: bucket, Key: 'rss/a.xml' })), (e: Error) => e.name === 'AccessDenied');
      }
      // The assumed credentials are temporary ones, not the central user's.
      const creds = await alpha.credentials!();
      assert.notEqual(creds.accessKeyId, central.accessKeyId);
      assert.ok(creds.sessionToken && creds.expiration);
      alpha.s3().destroy();
      beta.s3().destroy();
    }));

  test('credentials are cached per role: sites sharing a role assume it once', () =>
    withCentralEnv(async () => {
      clearCredentialCache();
      const before = stsCalls.count;
      const sites = ['one', 'two', 'three'].map((id) => createSiteClients(site(id, roleA.arn, 'alpha-browse-dot-show'), 'run-2'));
      await Promise.all(sites.map((c) => c.s3().send(new ListObjectsV2Command({ Bucket: 'alpha-browse-dot-show' }))));
      await Promise.all(sites.map((c) => c.s3().send(new ListObjectsV2Command({ Bucket: 'alpha-browse-dot-show' }))));
      assert.equal(stsCalls.count - before, 1);
      const other = createSiteClients(site('four', roleB.arn, 'beta-browse-dot-show'), 'run-2');
      await other.s3().send(new ListObjectsV2Command({ Bucket: 'beta-browse-dot-show' }));
      assert.equal(stsCalls.count - before, 2);
      for (const c of [...sites, other]) c.s3().destroy();
    }));

  test('a role that does not trust the caller, or does not exist, fails with the role and AWS\'s code', () =>
    withCentralEnv(async () => {
      clearCredentialCache();
      const intruder = await rgw.createUser({ uid: 'intruder', tenant: '' });
      process.env.AWS_ACCESS_KEY_ID = intruder.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = intruder.secretAccessKey;
      const refused = createSiteClients(site('alpha', roleA.arn, 'alpha-browse-dot-show'), 'run-3');
      await assert.rejects(refused.credentials!(), (e: Error & { code?: string }) => {
        assert.equal(e.name, 'AssumeRoleError');
        assert.match(e.message, /cannot assume role arn:aws:iam::111111111111:role\/alpha-automation: /);
        assert.ok(e.code === 'AccessDenied' || e.code === 'HTTP 403', e.code);
        return true;
      });
      process.env.AWS_ACCESS_KEY_ID = central.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = central.secretAccessKey;
      const missing = createSiteClients(site('ghost', `arn:aws:iam::${ACCOUNT}:role/no-such-role`, 'alpha-browse-dot-show'), 'run-3');
      await assert.rejects(missing.s3().send(new ListObjectsV2Command({ Bucket: 'alpha-browse-dot-show' })), /cannot assume role .*no-such-role/);
    }));

  test('role session names stay under 64 characters and name the run', () => {
    assert.equal(roleSessionName('20261130T155037-12345'), 'ingest-20261130T155037-12345');
    const long = roleSessionName('x'.repeat(100) + ' with spaces');
    assert.ok(long.length <= 64);
    assert.match(long, /^[\w+=,.@-]+$/);
  });

  /** A working folder for one CLI scenario: sites, local mirrors and .env.automation. */
  async function scenario(name: string, sites: [string, string, string][]) {
    const cwd = path.join(root, name);
    const sitesRoot = path.join(cwd, 'sites');
    await mkdir(cwd, { recursive: true });
    for (const [id, role, bucket] of sites) await writeSite(sitesRoot, { id, includedPodcasts: [], automation: automation(role, bucket) });
    const envFile = path.join(cwd, '.env.automation');
    await writeFile(envFile, `AWS_ACCESS_KEY_ID=${central.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${central.secretAccessKey}\nAWS_REGION=us-east-1\n`);
    await chmod(envFile, 0o600);
    // Nothing from the test's own environment may stand in for .env.automation.
    const env = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined, AWS_REGION: undefined, AWS_PROFILE: undefined };
    return { cwd, sitesRoot, localRoot: path.join(cwd, 'local'), env };
  }

  /** No credential of any kind in `text`: the central keys, AWS-shaped keys, session tokens. */
  function assertNoSecrets(label: string, text: string) {
    assert.ok(text.length > 0, `${label} is empty`);
    for (const secret of [central.accessKeyId, central.secretAccessKey, owner.secretAccessKey]) {
      assert.ok(!text.includes(secret), `${label} contains a credential`);
    }
    assert.doesNotMatch(text, /\b(AKIA|ASIA)[A-Z0-9]{16}\b/, `${label} contains an AWS access key id`);
    // RGW session tokens are ~344 base64 characters; nothing legitimate is that long without a space.
    assert.doesNotMatch(text, /[A-Za-z0-9+/=]{100,}/, `${label} contains something token-shaped`);
    assert.doesNotMatch(text, /X-Amz-(Security-Token|Credential|Signature)=[^*]/i, `${label} contains signing material`);
  }

  test('check-access: pass/fail table per site with AWS\'s reason; exit 1 on any failure; the test object is removed', async () => {
    const { cwd, sitesRoot, env } = await scenario('check-access', [
      ['alpha', roleA.arn, 'alpha-browse-dot-show'],
      ['beta', roleB.arn, 'beta-browse-dot-show'],
      // Misconfigured: alpha's role pointed at beta's bucket, and no indexing function.
      ['gamma', roleA.arn, 'beta-browse-dot-show'],
    ]);
    const all = await runCli(['check-access', `--sites-root=${sitesRoot}`], { cwd, env });
    assert.equal(all.code, 1, all.stdout + all.stderr);
    const row = (site: string, check: string) => all.stdout.split('\n').find((l) => new RegExp(`^${site}\\s+${check}\\s`).test(l)) ?? '';
    for (const s of ['alpha', 'beta']) {
      for (const check of ['assume-role', 'list-bucket', 'put-object', 'delete-object', 'invoke-dry-run']) assert.match(row(s, check), /\spass\s/, `${s} ${check}`);
    }
    assert.match(row('gamma', 'assume-role'), /\spass\s/);
    assert.match(row('gamma', 'list-bucket'), /\sFAIL\s+list s3:\/\/beta-browse-dot-show: .*AccessDenied/);
    assert.match(row('gamma', 'put-object'), /\sFAIL\s+put s3:\/\/beta-browse-dot-show\/automation-tests\/check-.*AccessDenied/);
    assert.match(row('gamma', 'delete-object'), /\sskip\s/);
    assert.match(row('gamma', 'invoke-dry-run'), /\sFAIL\s+invoke srt-indexing-gamma \(DryRun\): .*ResourceNotFoundException/);
    assert.match(all.stdout, /check-access: 3 checks failed/);
    assertNoSecrets('check-access stdout', all.stdout + all.stderr);

    const good = await runCli(['check-access', `--sites-root=${sitesRoot}`, '--sites=alpha,beta', '--json'], { cwd, env });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    const report = JSON.parse(good.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.checks.length, 10);
    // Nothing is left under automation-tests/, and no function ran (DryRun).
    for (const bucket of ['alpha-browse-dot-show', 'beta-browse-dot-show']) {
      const left = await ownerS3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'automation-tests/' }));
      assert.equal(left.KeyCount ?? 0, 0, `${bucket} still holds test objects`);
    }
    assert.ok(lambda.invocations.filter((i) => i.invocationType === 'DryRun').length >= 4);
    assert.ok(lambda.invocations.every((i) => i.outcome === 'not-run'));
  });

  test('run: each site syncs with its own role and is indexed; a site whose role is refused fails alone; no secrets in any output', async () => {
    const { cwd, sitesRoot, localRoot, env } = await scenario('run', [
      ['alpha', roleA.arn, 'alpha-browse-dot-show'],
      ['beta', roleB.arn, 'beta-browse-dot-show'],
      ['gamma', roleA.arn, 'beta-browse-dot-show'],
      ['delta', `arn:aws:iam::${ACCOUNT}:role/no-such-role`, 'alpha-browse-dot-show'],
    ]);
    for (const id of ['alpha', 'beta', 'gamma']) {
      const dir = path.join(localRoot, 'sites', id);
      await mkdir(path.join(dir, 'transcripts/pod'), { recursive: true });
      await mkdir(path.join(dir, 'episode-manifest'), { recursive: true });
      await writeFile(path.join(dir, `transcripts/pod/${FILE_KEY}.srt`), await readFile(SPEECH));
      const manifest = { lastUpdated: '2025-07-08T20:11:05.123Z', episodes: [{ sequentialId: 1, podcastId: 'pod', title: 'T', fileKey: FILE_KEY, publishedAt: '2024-07-25T14:54:00.000Z', downloadedAt: '2024-07-25T15:30:00.000Z' }] };
      await writeFile(path.join(dir, 'episode-manifest/full-episode-manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    }
    const logFile = path.join(cwd, 'logs', 'run.log');
    const summaryFile = path.join(cwd, 'summary.json');
    const invokedBefore = lambda.invocations.length;
    const args = ['run', `--sites-root=${sitesRoot}`, `--local-root=${localRoot}`, '--renderer=plain', '--verbose', '--only=pre-sync,upload,index', `--log-file=${logFile}`, `--summary-json=${summaryFile}`];
    const r = await runCli(args, { cwd, env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const summary = JSON.parse(await readFile(summaryFile, 'utf8'));
    const step = (s: string, name: string) => summary.sites.find((x: { site: string }) => x.site === s)?.steps.find((x: { step: string }) => x.step === name);
    for (const s of ['alpha', 'beta']) {
      assert.equal(step(s, 'upload')?.status, 'ok', `${s} upload: ${JSON.stringify(step(s, 'upload'))}`);
      assert.equal(step(s, 'index')?.status, 'ok', `${s} index`);
    }
    assert.equal(step('gamma', 'pre-sync')?.status, 'failed');
    assert.match(step('gamma', 'pre-sync').message + JSON.stringify(step('gamma', 'pre-sync').errors), /AccessDenied/);
    assert.equal(step('gamma', 'index')?.status, 'skipped');
    assert.equal(step('delta', 'pre-sync')?.status, 'failed');
    assert.match(JSON.stringify(step('delta', 'pre-sync')), /cannot assume role arn:aws:iam::111111111111:role\/no-such-role/);

    await lambda.idle();
    const invoked = lambda.invocations.slice(invokedBefore);
    assert.deepEqual(invoked.map((i) => [i.functionName, i.invocationType, i.outcome]).sort(), [
      ['srt-indexing-alpha', 'Event', 'ok'],
      ['srt-indexing-beta', 'Event', 'ok'],
    ], JSON.stringify(invoked.map((i) => i.error)));
    // The files went into each site's own bucket, and the indexer wrote its entries there.
    for (const bucket of ['alpha-browse-dot-show', 'beta-browse-dot-show']) {
      const listed = await ownerS3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'search-entries/' }));
      assert.deepEqual(listed.Contents?.map((o) => o.Key), [`search-entries/pod/${FILE_KEY}.json`]);
    }

    // A second run brings the entries down and invokes nothing for the healthy sites.
    const again = await runCli([...args.filter((a) => !a.startsWith('--summary-json')), '--sites=alpha,beta'], { cwd, env });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    await lambda.idle();
    assert.equal(lambda.invocations.length - invokedBefore, 2);

    assertNoSecrets('run stdout+stderr', r.stdout + r.stderr + again.stdout + again.stderr);
    assertNoSecrets('log file', await readFile(logFile, 'utf8'));
    assertNoSecrets('summary', await readFile(summaryFile, 'utf8'));
  });
});
