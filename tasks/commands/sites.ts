// `sites`: the discovered sites as a table or JSON; config problems are listed and exit 2.
import { discoverSites } from '../site/site-config.ts';
import type { CommonFlags } from './command-line.ts';
import { EXIT } from '../platform/types.ts';

export async function sitesCommand(flags: CommonFlags): Promise<number> {
  const { sites, problems } = await discoverSites(flags.sitesRoot, flags.localRoot);
  const rows = sites.map((site) => ({
    id: site.id,
    podcasts: site.podcasts.length,
    activePodcasts: site.podcasts.filter((p) => p.status === 'active').length,
    bucket: site.automation.bucket,
    region: site.automation.region,
    role: site.automation.roleArn ?? '(none: environment credentials)',
    indexingFunction: site.automation.indexingFunction,
    endpoint: site.automation.endpoint ?? null,
    localFolder: site.localDir,
  }));
  if (flags.json) {
    process.stdout.write(JSON.stringify({ sites: rows, problems }, null, 2) + '\n');
  } else {
    const table = [
      ['id', 'podcasts', 'bucket', 'region', 'role', 'indexing function', 'local folder'],
      ...rows.map((r) => [r.id, `${r.activePodcasts}/${r.podcasts}`, r.bucket, r.region, r.role, r.indexingFunction, r.localFolder]),
    ];
    process.stdout.write(formatTable(table));
    for (const problem of problems) process.stderr.write(`error: site "${problem.site}": ${problem.message}\n`);
    if (rows.length === 0 && problems.length === 0) process.stderr.write(`no sites under ${flags.sitesRoot}\n`);
  }
  return problems.length > 0 ? EXIT.usage : EXIT.ok;
}

/** Left-aligned columns separated by two spaces. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((r) => r.map((cell, col) => cell.padEnd(widths[col]!)).join('  ').trimEnd()).join('\n') + '\n';
}
