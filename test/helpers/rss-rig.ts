// A site whose feeds and audio live on a local feed server, and a hand-built StepContext to
// run the rss step on it directly (no bucket needed).
import path from 'node:path';
import type { StepContext } from '../../tasks/steps/contract.ts';
import { hostLimiters, Limiter } from '../../tasks/platform/limiter.ts';
import { Logger, type LogEvent } from '../../tasks/platform/log.ts';
import { loadSite, type SiteConfig } from '../../tasks/site/site-config.ts';
import { createSiteClients } from '../../tasks/aws/clients.ts';
import { writeSite, siteConfig } from './sites.ts';

export interface Episode {
  title: string;
  guid?: string;
  pubDate: string;
  url: string;
  type?: string;
  duration?: string;
}

export function rssXml(title: string, episodes: Episode[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const items = episodes
    .map(
      (e) =>
        `<item><title>${esc(e.title)}</title>${e.guid ? `<guid isPermaLink="false">${esc(e.guid)}</guid>` : ''}<pubDate>${e.pubDate}</pubDate>` +
        `${e.duration ? `<itunes:duration>${e.duration}</itunes:duration>` : ''}<enclosure url="${esc(e.url)}" length="0" type="${e.type ?? 'audio/mpeg'}"/></item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>${esc(title)}</title>\n${items}\n</channel></rss>\n`;
}

export interface PodcastSpec {
  id: string;
  url: string;
  status?: 'active' | 'inactive';
}

export async function makeSite(root: string, id: string, podcasts: PodcastSpec[]): Promise<{ sitesRoot: string; localRoot: string; site: SiteConfig }> {
  const sitesRoot = path.join(root, 'sites');
  const localRoot = path.join(root, 'local');
  const folder = await writeSite(
    sitesRoot,
    siteConfig(id, {
      podcasts: podcasts.map((p) => ({ id: p.id, title: p.id, url: p.url, rssFeedFile: `${p.id}.xml`, status: p.status ?? 'active' })),
    }),
  );
  const site = await loadSite(folder, localRoot);
  if ('message' in site) throw new Error(site.message);
  return { sitesRoot, localRoot, site };
}

export interface StepRig {
  ctx: StepContext;
  events: LogEvent[];
  planned: string[];
}

export function stepContext(site: SiteConfig, localRoot: string, options: { dryRun?: boolean } = {}): StepRig {
  const events: LogEvent[] = [];
  const planned: string[] = [];
  const dryRun = options.dryRun ?? false;
  const log = new Logger([(e) => events.push(e)], { site: site.id, step: 'rss' });
  const ctx: StepContext = {
    site,
    localRoot,
    syncFolders: [],
    dryRun,
    options: { runId: 'test', dryRun, verbose: true, syncFolders: [], localRoot, forceIndex: false, waitForIndex: false },
    signal: new AbortController().signal,
    log,
    limits: { cpu: new Limiter('cpu', 2), network: new Limiter('network', 8), perHost: hostLimiters(2) },
    clients: createSiteClients(site, 'test'),
    async effect(action, fn) {
      planned.push(`${action.kind} ${action.target}`);
      return dryRun ? undefined : fn();
    },
  };
  return { ctx, events, planned };
}
