// `consistency`: the read-only gap report, local folder vs bucket, per site and folder.
// Lists each bucket (one listing per synced folder, no per-object requests), scans the
// local tree, hashes only same-size pairs the hash cache does not know, and prints counts
// (file lists with --verbose; everything with --json). Transfers nothing. Exit 1 when a
// site cannot be listed or its config is broken; 2 for an unknown --sites id.
import type { CommonFlags } from './command-line.ts';
import { createSiteClients } from '../aws/clients.ts';
import { loadAutomationEnv } from '../aws/env.ts';
import { Logger, type LogSink } from '../platform/log.ts';
import { discoverSites, selectSites, type SiteConfig } from '../site/site-config.ts';
import { EXIT } from '../platform/types.ts';
import { compareWithListing } from '../engines/sync/compare.ts';
import { countByFolder, type FolderDiff, type SyncDiff } from '../engines/sync/diff.ts';
import { describeError, errorCode } from '../aws/errors.ts';
import { HashCache, hashCachePath } from '../engines/sync/hash-cache.ts';
import { listBucket } from '../engines/sync/listing.ts';
import { formatTable } from './sites.ts';
import { formatBytes } from '../platform/format.ts';

type SiteReport =
  | { site: string; status: 'compared'; bucket: string; localDir: string; folders: Record<string, FolderDiff>; diff: SyncDiff }
  | { site: string; status: 'failed'; bucket?: string; error: string; code?: string };

export async function consistencyCommand(flags: CommonFlags & { syncFolders: string[] }): Promise<number> {
  for (const warning of loadAutomationEnv().warnings) process.stderr.write(`warning: ${warning}\n`);
  const { sites, problems } = selectSites(await discoverSites(flags.sitesRoot, flags.localRoot), flags.sites, flags.sitesRoot);
  const reports: SiteReport[] = problems.map((p) => ({ site: p.site, status: 'failed', error: `${p.configPath}: ${p.message}`, code: 'config' }));
  // Sites are independent: compare them concurrently.
  reports.push(...(await Promise.all(sites.map((site) => compareSite(site, flags)))));
  reports.sort((a, b) => a.site.localeCompare(b.site));

  if (flags.json) {
    process.stdout.write(JSON.stringify({ schema: 'podcast-ingest/consistency@1', sites: reports.map(toJson) }, null, 2) + '\n');
  } else {
    process.stdout.write(renderTable(reports, flags.syncFolders));
    if (flags.verbose) process.stdout.write(renderLists(reports));
    for (const r of reports) if (r.status === 'failed') process.stderr.write(`error: site "${r.site}": ${r.error}\n`);
  }
  return reports.some((r) => r.status === 'failed') ? EXIT.failed : EXIT.ok;
}

async function compareSite(site: SiteConfig, flags: CommonFlags & { syncFolders: string[] }): Promise<SiteReport> {
  const { bucket } = site.automation;
  // Warnings (unsafe bucket keys) go to stderr; progress is not shown.
  const sink: LogSink = (event) => {
    if (event.level === 'warn' || event.level === 'error') process.stderr.write(`${event.level}: site "${site.id}": ${event.message}\n`);
  };
  const log = new Logger([sink], { site: site.id, step: 'consistency' });
  const signal = new AbortController().signal;
  try {
    const clients = createSiteClients(site, `consistency-${process.pid}`);
    const listing = await listBucket({ s3: clients.s3(), bucket, folders: flags.syncFolders, signal, log });
    const cache = await HashCache.load(hashCachePath(flags.localRoot, site.id));
    const { diff } = await compareWithListing({ localDir: site.localDir, folders: flags.syncFolders, listing, cache, signal, log });
    // Only the hash cache is written (atomically): hashing again next time is all it saves.
    await cache.save().catch(() => undefined);
    return { site: site.id, status: 'compared', bucket, localDir: site.localDir, folders: countByFolder(diff, flags.syncFolders), diff };
  } catch (error) {
    return { site: site.id, status: 'failed', bucket, error: `cannot list bucket ${bucket}: ${describeError(error)}`, code: errorCode(error) };
  }
}

function renderTable(reports: SiteReport[], folders: string[]): string {
  const rows = [['site', 'folder', 'local-only', 's3-only', 'consistent', 'conflicts']];
  for (const r of reports) {
    if (r.status === 'failed') {
      rows.push([r.site, '(failed)', '-', '-', '-', '-']);
      continue;
    }
    for (const folder of folders) {
      const c = r.folders[folder]!;
      rows.push([r.site, folder, String(c.localOnly), String(c.s3Only), String(c.consistent), String(c.conflicts)]);
    }
  }
  return formatTable(rows);
}

function renderLists(reports: SiteReport[]): string {
  const lines: string[] = [];
  for (const r of reports) {
    if (r.status !== 'compared') continue;
    for (const f of r.diff.localOnly) lines.push(`${r.site}  local-only  ${f.key}  (${formatBytes(f.size)})`);
    for (const f of r.diff.s3Only) lines.push(`${r.site}  s3-only     ${f.key}  (${formatBytes(f.size)})`);
    for (const c of r.diff.conflicts) lines.push(`${r.site}  conflict    ${c.key}  (${c.detail})`);
  }
  return lines.length > 0 ? '\n' + lines.join('\n') + '\n' : '';
}

function toJson(r: SiteReport) {
  if (r.status === 'failed') return r;
  const file = (f: { key: string; size: number; modified: Date; md5?: string }) => ({
    key: f.key,
    size: f.size,
    modified: f.modified.toISOString(),
    ...(f.md5 ? { md5: f.md5 } : {}),
  });
  return {
    site: r.site,
    status: r.status,
    bucket: r.bucket,
    localDir: r.localDir,
    folders: r.folders,
    localOnly: r.diff.localOnly.map(file),
    s3Only: r.diff.s3Only.map(file),
    consistent: r.diff.consistent.map((c) => c.local.key),
    conflicts: r.diff.conflicts.map((c) => ({
      key: c.key,
      reason: c.reason,
      newer: c.newer,
      detail: c.detail,
      local: file(c.local),
      bucket: file(c.remote),
    })),
  };
}
