// `validate`: offline checks of the automation configuration, as a table; exit 1 on any problem.
import type { CommonFlags } from './command-line.ts';
import { discoverSites, selectSites } from '../site/site-config.ts';
import { loadAutomationEnv } from '../aws/env.ts';
import { validateAutomation } from '../aws/validate.ts';
import { redact } from '../platform/secrets.ts';
import { EXIT } from '../platform/types.ts';
import { formatTable } from './sites.ts';

export async function validateCommand(flags: CommonFlags): Promise<number> {
  const env = loadAutomationEnv();
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  const report = validateAutomation({ sites, problems, env });
  const write = (text: string) => process.stdout.write(redact(text));

  if (flags.json) {
    write(JSON.stringify(report, null, 2) + '\n');
    return report.ok ? EXIT.ok : EXIT.failed;
  }
  write(
    formatTable([
      ['site', 'account', 'role', 'bucket', 'indexing function', 'result'],
      ...report.sites.map((r) => [r.site, r.account, r.role, r.bucket, r.indexingFunction, r.problems.length === 0 ? 'ok' : `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`]),
    ]),
  );
  const lines: string[] = [];
  for (const r of report.sites) {
    for (const p of r.problems) lines.push(`problem: ${r.site}: ${p}`);
    for (const n of r.notes) lines.push(`note: ${r.site}: ${n}`);
  }
  const e = report.env;
  for (const p of e.problems) lines.push(`problem: .env.automation: ${p}`);
  for (const w of e.warnings) lines.push(`warning: .env.automation: ${w}`);
  for (const n of e.notes) lines.push(`note: .env.automation: ${n}`);
  if (e.problems.length === 0) lines.push(`.env.automation: ${e.file}: ok`);
  lines.push(report.ok ? 'validate: ok' : 'validate: problems found');
  write('\n' + lines.join('\n') + '\n');
  return report.ok ? EXIT.ok : EXIT.failed;
}
