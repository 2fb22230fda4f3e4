// `check-access`: live checks of each site's role, bucket and indexing function, as a
// pass/fail table with AWS's reason for each failure; exit 1 on any failure.
import type { CommonFlags } from './command-line.ts';
import { discoverSites, selectSites } from '../site/site-config.ts';
import { automationEnvProblem, loadAutomationEnv } from '../aws/env.ts';
import { checkSiteAccess, type CheckRow } from '../aws/check-access.ts';
import { redact } from '../platform/secrets.ts';
import { EXIT } from '../platform/types.ts';
import { formatTable } from './sites.ts';

export async function checkAccessCommand(flags: CommonFlags): Promise<number> {
  const env = loadAutomationEnv();
  for (const warning of env.warnings) process.stderr.write(`warning: ${warning}\n`);
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  const envProblem = automationEnvProblem(env, sites.filter((s) => s.automation.roleArn).length);
  if (envProblem) process.stderr.write(`error: ${envProblem}\n`);

  const runId = `check-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${process.pid}`;
  const rows: CheckRow[] = problems.map((p) => ({ site: p.site, check: 'assume-role', outcome: 'fail', detail: `configuration: ${p.message}` }) as CheckRow);
  // Sites are independent: check them concurrently, print in order.
  for (const siteRows of await Promise.all(sites.map((site) => checkSiteAccess(site, runId)))) rows.push(...siteRows);
  const failures = rows.filter((r) => r.outcome === 'fail');
  const write = (text: string) => process.stdout.write(redact(text));

  if (flags.json) {
    write(JSON.stringify({ runId, ok: failures.length === 0, checks: rows }, null, 2) + '\n');
  } else {
    write(formatTable([['site', 'check', 'result', 'detail'], ...rows.map((r) => [r.site, r.check, r.outcome === 'fail' ? 'FAIL' : r.outcome, r.detail])]));
    write(failures.length === 0 ? `check-access: all checks passed (${sites.length} sites)\n` : `check-access: ${failures.length} checks failed\n`);
  }
  return failures.length === 0 ? EXIT.ok : EXIT.failed;
}
