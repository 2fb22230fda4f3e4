// Work for one site: what an engine needs beyond the platform's Work (tasks/platform/work.ts):
// the site's configuration, its AWS clients, and where and what the run syncs.
import type { SiteClients } from '../aws/clients.ts';
import type { Work } from '../platform/work.ts';
import type { SiteConfig } from '../site/site-config.ts';

export interface SiteWork extends Work {
  site: SiteConfig;
  clients: SiteClients;
  /** `--local-root`: the site folders live in `<localRoot>/sites/`; caches, backups and conflicts beside. */
  localRoot: string;
  /** The synced top-level folders (`--sync-folders`). */
  syncFolders: readonly string[];
}
