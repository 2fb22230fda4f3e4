// What the operator reads (issue 12), each message quoted: a silent S3 endpoint is named while
// it is waited on; errors are one line; nothing checked is not a pass; a skipped step says
// why in the words of what happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from './helpers/cli.ts';
import { siteConfig, writeSite } from './helpers/sites.ts';
import { syncRig } from './helpers/sync-rig.ts';
import { tempDir } from './helpers/temp.ts';

test('an S3 endpoint that accepts requests and never answers: a line saying what is awaited within 30 s (plain mode)', { timeout: 120_000 }, async (t) => {
  const rig = await syncRig(t, { siteId: 'silent', proxy: { kinds: ['stall'], faultRate: 1 }, env: { INGEST_STALL_TIMEOUT_MS: '120000' } });
  const started = Date.now();
  const r = await rig.run(['--max-runtime=34s']);
  assert.equal(r.code, 130, r.stdout);
  const waiting = r.stdout.split('\n').find((l) => /still waiting on list /.test(l));
  assert.ok(waiting, `no waiting line in:\n${r.stdout}`);
  assert.match(waiting, /INFO {2}\[silent\] \[pre-sync\] still waiting on list (audio|transcripts|search-entries|search-index|episode-manifest|rss)\/ after 3\d s \(attempt 1\)/);
  const at = Date.parse(waiting.slice(0, 29));
  assert.ok(at - started < 33_000, `the first waiting line came ${at - started} ms after the start`);
});

test('a wrong STS endpoint: every error is one line, no SDK message spread over several', async (t) => {
  const server = http.createServer((_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n</body>\n</html>\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const root = await tempDir(t, 'sts-lines-');
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, { id: 'roled', includedPodcasts: [], automation: { bucket: 'roled-bucket', region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/ingest', stsEndpoint: endpoint, endpoint } });
  const env = { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', AWS_REGION: 'us-east-1', INGEST_ENV_FILE: path.join(root, 'none') };
  const r = await runCli(['run', '--only=pre-sync', `--sites-root=${sitesRoot}`, `--local-root=${path.join(root, 'local')}`, '--renderer=plain'], { env, timeoutMs: 120_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  for (const line of r.stdout.trimEnd().split('\n')) assert.match(line, /^\d{4}-\d{2}-\d{2}T\S+ (INFO |WARN |ERROR|DEBUG) \[/, `a line that is not an event: ${JSON.stringify(line)}`);
  assert.match(r.stdout, /ERROR \[roled\] \[pre-sync\] failed: cannot list bucket roled-bucket: cannot assume role arn:aws:iam::123456789012:role\/ingest: /);
  assert.doesNotMatch(r.stdout, /<html>|wJalrXUtnFEMI/);
});

test('validate, check-access and verify with no sites: exit 2, not a pass', async (t) => {
  const root = await tempDir(t, 'no-sites-');
  await mkdir(path.join(root, 'sites'));
  for (const command of ['validate', 'check-access', 'verify', 'status', 'run']) {
    const r = await runCli([command, `--sites-root=${path.join(root, 'sites')}`, `--local-root=${path.join(root, 'local')}`]);
    assert.equal(r.code, 2, `${command}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^error: no sites found under .*\/sites \(expected <id>\/site\.config\.json, origin-sites\/<id>\/ or my-sites\/<id>\/; pass --sites-root=DIR\)$/m, command);
    assert.doesNotMatch(r.stdout, /ok|passed/, command);
  }
});

test('a step whose need was skipped says "which was skipped", not "which failed"', async (t) => {
  const root = await tempDir(t, 'skipped-need-');
  await writeSite(path.join(root, 'sites'), siteConfig('lone', { endpoint: 'http://127.0.0.1:9' }));
  const r = await runCli(['run', '--only=pre-sync,upload,index', `--sites-root=${path.join(root, 'sites')}`, `--local-root=${path.join(root, 'local')}`, '--renderer=plain', '--verbose', '--summary-json=s.json'], { cwd: root, timeoutMs: 120_000 });
  assert.match(r.stdout, /\[lone\] \[summary:index\] skipped \S+ needs upload, which was skipped/);
});

test('site config: a typo in a required field is named with its suggestion; a missing one is required; JSON errors give line and column, the path once', async (t) => {
  const root = await tempDir(t, 'config-msgs-');
  const sitesRoot = path.join(root, 'sites');
  await writeSite(sitesRoot, { id: 'typo', includedPodcast: [], automation: {} } as never);
  await writeSite(sitesRoot, { id: 'missing', automation: {}, theme: 'dark' } as never);
  await mkdir(path.join(sitesRoot, 'broken'), { recursive: true });
  await writeFile(path.join(sitesRoot, 'broken', 'site.config.json'), '{\n  "id": "broken",\n  "includedPodcasts": [ }\n}\n');
  const r = await runCli(['validate', `--sites-root=${sitesRoot}`]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /typo\/site\.config\.json: unknown field "includedPodcast" \(did you mean includedPodcasts\?\)/);
  assert.match(r.stdout, /missing\/site\.config\.json: field "includedPodcasts" is required/);
  const broken = r.stdout.split('\n').find((l) => l.includes('broken/site.config.json'))!;
  assert.match(broken, /broken\/site\.config\.json: not valid JSON at line 3, column 25: unexpected "}" where a value belongs/);
  assert.equal(broken.split('site.config.json').length - 1, 1, `the path once: ${broken}`);
  const sites = await runCli(['sites', `--sites-root=${sitesRoot}`]);
  assert.doesNotMatch(sites.stdout, /typo\s+0/, 'a typo is not "0 podcasts"');
});

test('--log-format=json: one JSON object per line; --quiet: only warnings, errors and the closing line; --log-level=warn likewise', async (t) => {
  const root = await tempDir(t, 'log-format-');
  await writeSite(path.join(root, 'sites'), siteConfig('fmt', { endpoint: 'http://127.0.0.1:9' }));
  const base = ['run', '--only=index', '--force-index', `--sites-root=${path.join(root, 'sites')}`, `--local-root=${path.join(root, 'local')}`, '--renderer=plain'];
  const json = await runCli([...base, '--log-format=json'], { timeoutMs: 120_000 });
  const lines = json.stdout.trimEnd().split('\n');
  assert.ok(lines.length >= 3, json.stdout);
  for (const line of lines) {
    const event = JSON.parse(line) as Record<string, unknown>;
    assert.deepEqual(Object.keys(event).filter((k) => k !== 'kind'), ['time', 'level', 'site', 'step', 'message'], line);
    assert.match(String(event.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  }
  for (const flag of ['--quiet', '--log-level=warn']) {
    const quiet = await runCli([...base, flag], { timeoutMs: 120_000 });
    const shown = quiet.stdout.trimEnd().split('\n');
    assert.ok(shown.length >= 1, quiet.stdout);
    for (const line of shown) assert.match(line, / (WARN |ERROR) \[|\[all\] \[summary\] run /, `${flag}: ${line}`);
    assert.ok(shown.some((l) => /\[all\] \[summary\] run .* exit \d+$/.test(l)), `${flag}: the closing line is always there`);
  }
});
