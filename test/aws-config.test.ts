// Offline automation configuration: `validate`, `.env.automation` loading, and the per-role
// credential cache refreshing before expiry (against a small real STS-speaking HTTP server).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chmod, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { writeSite } from './helpers/sites.ts';
import { clearCredentialCache, roleCredentialsProvider, REFRESH_MARGIN_MS } from '../tasks/aws/credentials.ts';
import { loadAutomationEnv } from '../tasks/aws/env.ts';

const CENTRAL = { id: 'AKIAIOSFODNN7EXAMPLE', secret: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const NO_ENV = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: undefined, AWS_SESSION_TOKEN: undefined, AWS_PROFILE: undefined };

async function workdir(t: TestContext, env: string | undefined, mode = 0o600) {
  const cwd = await tempDir(t);
  if (env !== undefined) {
    await writeFile(path.join(cwd, '.env.automation'), env);
    await chmod(path.join(cwd, '.env.automation'), mode);
  }
  const validate = (...args: string[]) => runCli(['validate', `--sites-root=${path.join(cwd, 'sites')}`, ...args], { cwd, env: NO_ENV });
  return { cwd, sitesRoot: path.join(cwd, 'sites'), validate };
}
const completeEnv = `AWS_ACCESS_KEY_ID=${CENTRAL.id}\nAWS_SECRET_ACCESS_KEY=${CENTRAL.secret}\nAWS_REGION=us-east-1\n`;

test('validate: a sound configuration prints the resolved table and exits 0', async (t) => {
  const { sitesRoot, validate } = await workdir(t, completeEnv);
  await writeSite(sitesRoot, { id: 'hardfork', includedPodcasts: [], automation: { accountId: '123456789012' } });
  await writeSite(sitesRoot, { id: 'pickle', includedPodcasts: [], automation: { accountId: '123456789012', bucket: 'pickle-bucket' } });
  await writeSite(sitesRoot, { id: 'local', includedPodcasts: [], automation: { endpoint: 'http://127.0.0.1:9000' } });
  const r = await validate();
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^site\s+account\s+role\s+bucket\s+indexing function\s+result$/m);
  assert.match(r.stdout, /^hardfork\s+123456789012\s+arn:aws:iam::123456789012:role\/browse-dot-show-automation-role\s+hardfork-browse-dot-show\s+srt-indexing-hardfork\s+ok$/m);
  assert.match(r.stdout, /^pickle\s+123456789012\s+\S+\s+pickle-bucket\s+srt-indexing-pickle\s+ok$/m);
  assert.match(r.stdout, /note: local: assumes no role/);
  assert.match(r.stdout, /validate: ok/);
  assert.ok(!(r.stdout + r.stderr).includes(CENTRAL.secret) && !(r.stdout + r.stderr).includes(CENTRAL.id), 'no credential printed');
});

test('validate: sites sharing an account with different roles, a shared bucket, no role, a bad name: exit 1 naming each', async (t) => {
  const { sitesRoot, validate } = await workdir(t, completeEnv);
  await writeSite(sitesRoot, { id: 'one', includedPodcasts: [], automation: { roleArn: 'arn:aws:iam::123456789012:role/role-a' } });
  await writeSite(sitesRoot, { id: 'two', includedPodcasts: [], automation: { roleArn: 'arn:aws:iam::123456789012:role/role-b', bucket: 'shared-bucket' } });
  await writeSite(sitesRoot, { id: 'three', includedPodcasts: [], automation: { accountId: '210987654321', bucket: 'shared-bucket' } });
  await writeSite(sitesRoot, { id: 'four', includedPodcasts: [] });
  await writeSite(sitesRoot, { id: 'five', includedPodcasts: [], automation: { accountId: '111111111111', roleArn: 'arn:aws:iam::222222222222:role/x', indexingFunction: 'bad name!' } });
  await writeSite(sitesRoot, { id: 'six', includedPodcasts: [], automation: { accountId: 'not-an-account' } });
  const r = await validate();
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /problem: one: account 123456789012 is shared with other sites that use a different role \(one: arn:aws:iam::123456789012:role\/role-a, two: arn:aws:iam::123456789012:role\/role-b\)/);
  assert.match(r.stdout, /problem: two: account 123456789012 is shared/);
  assert.match(r.stdout, /problem: two: bucket shared-bucket is also used by three/);
  assert.match(r.stdout, /problem: three: bucket shared-bucket is also used by two/);
  assert.match(r.stdout, /problem: four: no automation\.accountId or automation\.roleArn/);
  assert.match(r.stdout, /problem: five: automation\.accountId 111111111111 does not match the account of roleArn/);
  assert.match(r.stdout, /problem: five: automation\.indexingFunction "bad name!" is not a valid Lambda function name/);
  assert.match(r.stdout, /problem: six: .*field "automation\.accountId" must be a 12-digit AWS account id/);
  assert.match(r.stdout, /^four\s.*\s1 problem$/m);
  assert.match(r.stdout, /validate: problems found/);

  const json = await validate('--json', '--sites=one,four');
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.sites.map((s: { site: string }) => s.site), ['four', 'one']);
  assert.equal(report.ok, false);
});

test('validate: .env.automation missing, incomplete, or readable by others', async (t) => {
  const site = { id: 'hardfork', includedPodcasts: [], automation: { accountId: '123456789012' } };
  const missing = await workdir(t, undefined);
  await writeSite(missing.sitesRoot, site);
  let r = await missing.validate();
  assert.equal(r.code, 1);
  assert.match(r.stdout, /problem: \.env\.automation: .*\.env\.automation not found \(it must set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; needed to assume the sites' roles\)/);

  const partial = await workdir(t, `AWS_ACCESS_KEY_ID=${CENTRAL.id}\n`);
  await writeSite(partial.sitesRoot, site);
  r = await partial.validate();
  assert.equal(r.code, 1);
  assert.match(r.stdout, /\.env\.automation does not set AWS_SECRET_ACCESS_KEY, AWS_REGION/);

  const open = await workdir(t, completeEnv, 0o644);
  await writeSite(open.sitesRoot, site);
  r = await open.validate();
  assert.equal(r.code, 0, 'a permission warning is not a failure');
  assert.match(r.stdout, /warning: \.env\.automation: .*readable by group or others \(mode 644\); run: chmod 600/);
  assert.ok(!r.stdout.includes(CENTRAL.secret));
});

test('loadAutomationEnv: variables already in the environment win over the file', async (t) => {
  const { cwd } = await workdir(t, completeEnv);
  const saved = { ...process.env };
  t.after(() => {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  process.env.AWS_REGION = 'eu-west-1';
  const env = loadAutomationEnv(path.join(cwd, '.env.automation'));
  assert.equal(env.loaded, true);
  assert.deepEqual(env.missing, []);
  assert.equal(process.env.AWS_REGION, 'eu-west-1');
  assert.equal(process.env.AWS_ACCESS_KEY_ID, CENTRAL.id);
});

/** An STS endpoint answering AssumeRole with credentials that expire after `lifetimeMs`. */
async function fakeSts(t: TestContext, lifetimeMs: () => number) {
  const requests: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const params = new URLSearchParams(body);
      requests.push(params);
      const n = requests.length;
      const expiration = new Date(Date.now() + lifetimeMs()).toISOString();
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      res.end(`<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>
<AccessKeyId>ASIATESTTESTTEST000${n}</AccessKeyId><SecretAccessKey>secret-number-${n}-xxxxxxxx</SecretAccessKey>
<SessionToken>token-${n}</SessionToken><Expiration>${expiration}</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>X:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>r${n}</RequestId></ResponseMetadata></AssumeRoleResponse>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

test('credentials: cached per role, assumed again when they come within the refresh margin of expiry', async (t) => {
  process.env.AWS_ACCESS_KEY_ID ??= CENTRAL.id;
  process.env.AWS_SECRET_ACCESS_KEY ??= CENTRAL.secret;
  clearCredentialCache();
  let lifetime = 3_600_000;
  const sts = await fakeSts(t, () => lifetime);
  const provider = (site: string, roleArn = 'arn:aws:iam::123456789012:role/r') =>
    roleCredentialsProvider({ roleArn, siteId: site, runId: '20261130T120000-42', stsEndpoint: sts.endpoint, region: 'us-east-1' });

  const a = await provider('a')();
  const b = await provider('b')();
  assert.equal(a.accessKeyId, b.accessKeyId, 'two sites with one role share credentials');
  assert.equal(sts.requests.length, 1);
  assert.equal(sts.requests[0]!.get('RoleSessionName'), 'ingest-20261130T120000-42');
  assert.equal(sts.requests[0]!.get('Action'), 'AssumeRole');

  await provider('c', 'arn:aws:iam::123456789012:role/other')();
  assert.equal(sts.requests.length, 2, 'another role is assumed separately');

  // Credentials that expire within the margin are replaced on the next call.
  clearCredentialCache();
  lifetime = REFRESH_MARGIN_MS - 60_000;
  const short = await provider('a')();
  const next = await provider('a')();
  assert.notEqual(short.accessKeyId, next.accessKeyId);
  assert.equal(sts.requests.length, 4);
});
