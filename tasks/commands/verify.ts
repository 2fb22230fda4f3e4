// `verify`: an episode-level audit of each site, in the spirit of `rclone check`. Loads the local
// manifest, walks the site folder, lists the bucket once and compares it with the local scan,
// then hands everything to the pure check (tasks/engines/verify/verify-site.ts) and prints a
// table per site (or every finding with --json). Writes nothing, not even the hash cache.
// Exit 0 clean, 1 on any finding (a bucket that cannot be listed included), 2 for an unknown --sites id.
import type { CommonFlags } from './command-line.ts';
import { createSiteClients } from '../aws/clients.ts';
import { loadAutomationEnv } from '../aws/env.ts';
import { describeError, errorCode } from '../aws/errors.ts';
import { Logger, type LogSink } from '../platform/log.ts';
import { EXIT } from '../platform/types.ts';
import { discoverSites, selectSites, type SiteConfig } from '../site/site-config.ts';
import { manifestPath, readManifest } from '../site/manifest.ts';
import { compareWithListing } from '../engines/sync/compare.ts';
import { HashCache, hashCachePath } from '../engines/sync/hash-cache.ts';
import { listBucket } from '../engines/sync/listing.ts';
import { siteTree } from '../engines/verify/site-tree.ts';
import { verifySite, type BucketSide, type Finding, type Note } from '../engines/verify/verify-site.ts';
import { formatTable } from './sites.ts';

type Flags = CommonFlags & { syncFolders: string[] };

interface SiteReport {
  site: string;
  bucket?: string;
  localDir?: string;
  episodes: number;
  /** AWS's code when the bucket could not be listed; 'config' for a broken site.config.json. */
  code?: string;
  findings: Finding[];
  notes: Note[];
}

/** Subjects shown per row of the table; --json has them all. */
const FIRST = 3;

export async function verifyCommand(flags: Flags): Promise<number> {
  for (const warning of loadAutomationEnv().warnings) process.stderr.write(`warning: ${warning}\n`);
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  const reports: SiteReport[] = problems.map((p) => ({
    site: p.site,
    episodes: 0,
    code: 'config',
    findings: [{ kind: 'config-invalid', subject: p.configPath, detail: p.message }],
    notes: [],
  }));
  // Sites are independent: check them concurrently.
  reports.push(...(await Promise.all(sites.map((site) => verifyOne(site, flags)))));
  reports.sort((a, b) => a.site.localeCompare(b.site));

  if (flags.json) process.stdout.write(JSON.stringify(toJson(reports), null, 2) + '\n');
  else {
    process.stdout.write(render(reports));
    for (const r of reports) {
      const failure = r.findings.find((f) => f.kind === 'bucket-check-failed' || f.kind === 'config-invalid');
      if (failure) process.stderr.write(`error: site "${r.site}": ${failure.detail}\n`);
    }
  }
  return reports.some((r) => r.findings.length > 0) ? EXIT.failed : EXIT.ok;
}

async function verifyOne(site: SiteConfig, flags: Flags): Promise<SiteReport> {
  const { bucket } = site.automation;
  const sink: LogSink = (event) => {
    if (event.level === 'warn' || event.level === 'error') process.stderr.write(`${event.level}: site "${site.id}": ${event.message}\n`);
  };
  const log = new Logger([sink], { site: site.id, step: 'verify' });
  const signal = new AbortController().signal;
  // Local first: these checks run whatever the bucket does.
  const [tree, manifest] = await Promise.all([siteTree(site.localDir), readManifest(manifestPath(site.localDir))]);
  let side: BucketSide;
  try {
    const clients = createSiteClients(site, `verify-${process.pid}`);
    const listing = await listBucket({ s3: clients.s3(), bucket, folders: flags.syncFolders, signal, log });
    // Loaded as the steps load it, never saved: verify changes nothing on disk.
    const cache = await HashCache.load(hashCachePath(flags.localRoot, site.id));
    try {
      const { diff } = await compareWithListing({ localDir: site.localDir, folders: flags.syncFolders, listing, cache, signal, log });
      side = { kind: 'listed', bucket, diff };
    } catch (error) {
      side = { kind: 'failed', bucket, code: errorCode(error), message: `cannot compare the local folder with the listing: ${describeError(error)}` };
    }
  } catch (error) {
    side = { kind: 'failed', bucket, code: errorCode(error), message: `cannot list bucket ${bucket}: ${describeError(error)}` };
  }
  const verdict = verifySite({ podcasts: site.podcasts, manifest, tree, bucket: side });
  return {
    site: site.id,
    bucket,
    localDir: site.localDir,
    episodes: verdict.episodes,
    ...(side.kind === 'failed' ? { code: side.code ?? 'unknown' } : {}),
    findings: verdict.findings,
    notes: verdict.notes,
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function render(reports: SiteReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    const where = r.bucket ? ` (bucket ${r.bucket}, ${plural(r.episodes, 'episode')})` : '';
    const verdict = r.findings.length === 0 ? 'clean' : plural(r.findings.length, 'finding');
    out.push(`${r.site}${where}: ${verdict}${r.notes.length > 0 ? `, ${plural(r.notes.length, 'note')}` : ''}`);
    const rows = [['kind', 'count', 'first subjects']];
    for (const [kind, items] of groups(r.findings)) rows.push([kind, String(items.length), firstOf(items)]);
    for (const [kind, items] of groups(r.notes)) rows.push([`info: ${kind}`, String(items.length), firstOf(items)]);
    if (rows.length > 1) out.push(formatTable(rows).replace(/^/gm, '  ').trimEnd());
    out.push('');
  }
  const failing = reports.filter((r) => r.findings.length > 0);
  const total = failing.reduce((n, r) => n + r.findings.length, 0);
  out.push(
    failing.length === 0
      ? `verify: ${plural(reports.length, 'site')} checked, all clean`
      : `verify: ${plural(total, 'finding')} in ${failing.length} of ${plural(reports.length, 'site')} (${failing.map((r) => r.site).join(', ')})`,
  );
  return out.join('\n') + '\n';
}

/** Items by kind, in the order the check reported them (kinds are already sorted). */
function groups<T extends { kind: string }>(items: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(item.kind, [...(map.get(item.kind) ?? []), item]);
  return map;
}

function firstOf(items: { subject: string }[]): string {
  const shown = items.slice(0, FIRST).map((i) => i.subject).join(', ');
  return items.length > FIRST ? `${shown}, … +${items.length - FIRST} more` : shown;
}

function toJson(reports: SiteReport[]) {
  return {
    schema: 'podcast-ingest/verify@1',
    sites: reports.map((r) => ({
      site: r.site,
      status: r.code ? 'failed' : r.findings.length > 0 ? 'findings' : 'clean',
      ...(r.code ? { code: r.code } : {}),
      ...(r.bucket ? { bucket: r.bucket, localDir: r.localDir } : {}),
      episodes: r.episodes,
      findings: r.findings.length,
      notes: r.notes.length,
    })),
    findings: reports.flatMap((r) => r.findings.map((f) => ({ site: r.site, kind: f.kind, subject: f.subject, detail: f.detail }))),
    notes: reports.flatMap((r) => r.notes.map((n) => ({ site: r.site, kind: n.kind, subject: n.subject, detail: n.detail }))),
  };
}
