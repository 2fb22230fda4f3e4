// Site discovery and validation (ARCHITECTURE.md "Sites and credentials"). A bad site.config.json becomes a
// ConfigProblem naming the file and the field; the other sites still load.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { SiteId } from '../platform/types.ts';
import { UsageError } from '../platform/errors.ts';
import { locateJsonError } from '../platform/json-error.ts';
import { suggest } from '../platform/suggest.ts';

export const SITE_ID_PATTERN = /^[a-z0-9_-]+$/;
/** A single path segment that cannot escape its folder. */
const safeSegment = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._-]+$/, 'must contain only letters, digits, ".", "_" and "-"')
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."');

const podcastSchema = z.object({
  id: safeSegment,
  title: z.string().default(''),
  url: z.string().url(),
  rssFeedFile: safeSegment,
  status: z.enum(['active', 'inactive']),
});

const automationSchema = z
  .object({
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a valid bucket name').optional(),
    region: z.string().regex(/^[a-z0-9-]+$/).optional(),
    accountId: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    roleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'is not an IAM role ARN').optional(),
    indexingFunction: z.string().min(1).optional(),
    endpoint: z.string().url().optional(),
    lambdaEndpoint: z.string().url().optional(),
    stsEndpoint: z.string().url().optional(),
    /** Where the search index is built: the site's indexing function, or this machine. */
    indexing: z.enum(['lambda', 'local']).optional(),
    /** Invoked after a local build; null: none. */
    searchFunction: z.string().min(1).nullable().optional(),
    singleIndexMaxEntries: z.number().int().min(0).optional(),
  })
  .strict();

/** The top-level fields the runner reads (others belong to the website and are ignored). */
const KNOWN_FIELDS = ['id', 'includedPodcasts', 'whisperTranscriptionPrompt', 'automation'];

const siteSchema = z
  .object({
    id: z.string().max(32, 'must be at most 32 characters').regex(SITE_ID_PATTERN, 'must match ^[a-z0-9_-]+$'),
    includedPodcasts: z.array(podcastSchema),
    whisperTranscriptionPrompt: z.string().optional(),
    automation: automationSchema.optional(),
  })
  // Website fields (theme, header, social...) are accepted and ignored.
  .passthrough();

export interface Podcast {
  id: string;
  title: string;
  url: string;
  rssFeedFile: string;
  status: 'active' | 'inactive';
}

export interface SiteAutomation {
  bucket: string;
  region: string;
  accountId?: string;
  /** Undefined when the site assumes no role (demo, S3-compatible stores). */
  roleArn?: string;
  indexingFunction: string;
  endpoint?: string;
  lambdaEndpoint?: string;
  stsEndpoint?: string;
  /** `lambda` (default) or `local` (ARCHITECTURE.md "Search index"). */
  indexing: 'lambda' | 'local';
  /** Refreshed after a local build (`search-api-<id>`); null when the site has none. */
  searchFunction: string | null;
  /** The single-file index is written while the site has at most this many search entries. */
  singleIndexMaxEntries: number;
}

/** Below this many entries a local build also writes search-index/orama_index.msp (README "Local indexing"). */
export const DEFAULT_SINGLE_INDEX_MAX_ENTRIES = 25_000;

export interface SiteConfig {
  id: SiteId;
  configPath: string;
  /** Folder holding site.config.json (and optional spelling-corrections.json). */
  configDir: string;
  podcasts: Podcast[];
  whisperPrompt?: string;
  automation: SiteAutomation;
  /** `<localRoot>/sites/<id>`: the local mirror of the bucket. */
  localDir: string;
}

export interface ConfigProblem {
  /** The folder name, standing in for the id when the config cannot be read. */
  site: string;
  configPath: string;
  message: string;
}

export interface DiscoveredSites {
  sites: SiteConfig[];
  problems: ConfigProblem[];
}

const CONFIG_FILE = 'site.config.json';

/** Find every site folder (ARCHITECTURE.md "Sites and credentials"): my-sites replaces origin-sites when it holds any site; flat folders too. */
export async function discoverSites(sitesRoot: string, localRoot: string): Promise<DiscoveredSites> {
  const mySites = await siteFolders(path.join(sitesRoot, 'my-sites'));
  const nested = mySites.length > 0 ? mySites : await siteFolders(path.join(sitesRoot, 'origin-sites'));
  const flat = await siteFolders(sitesRoot);
  const folders = [...nested, ...flat];

  const sites: SiteConfig[] = [];
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, string>();
  for (const folder of folders) {
    const loaded = await loadSite(folder, localRoot);
    if ('message' in loaded) {
      problems.push(loaded);
      continue;
    }
    const earlier = seen.get(loaded.id);
    if (earlier) {
      problems.push({
        site: loaded.id,
        configPath: loaded.configPath,
        message: `duplicate site id "${loaded.id}" (also defined in ${earlier})`,
      });
      continue;
    }
    seen.set(loaded.id, loaded.configPath);
    sites.push(loaded);
  }
  sites.sort((a, b) => a.id.localeCompare(b.id));
  return { sites, problems };
}

/**
 * The sites `--sites` names (every one when it is absent), config failures included. An id
 * that names no discovered site is a usage error that lists the known ones.
 */
export function selectSites(discovered: DiscoveredSites, ids: readonly string[] | undefined, sitesRoot: string): DiscoveredSites {
  const known = [...discovered.sites.map((s) => s.id as string), ...discovered.problems.map((p) => p.site)];
  // Nothing checked is not a pass: every command that works on sites needs at least one.
  if (known.length === 0) {
    throw new UsageError(`no sites found under ${path.resolve(sitesRoot)} (expected <id>/site.config.json, origin-sites/<id>/ or my-sites/<id>/; pass --sites-root=DIR)`);
  }
  const unknown = (ids ?? []).filter((id) => !known.includes(id));
  if (unknown.length > 0) {
    throw new UsageError(`--sites: unknown site ${unknown.map((u) => `"${u}"`).join(', ')}; known sites: ${known.join(', ') || `(none under ${sitesRoot})`}`);
  }
  const wanted = (id: string) => !ids || ids.includes(id);
  return { sites: discovered.sites.filter((s) => wanted(s.id)), problems: discovered.problems.filter((p) => wanted(p.site)) };
}

/** Sub-folders of `dir` that contain a site.config.json, sorted. */
async function siteFolders(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const candidate = path.join(dir, entry.name);
    if (await isFile(path.join(candidate, CONFIG_FILE))) found.push(candidate);
  }
  return found.sort();
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Load and validate one site folder. */
export async function loadSite(folder: string, localRoot: string): Promise<SiteConfig | ConfigProblem> {
  const folderName = path.basename(folder);
  const configPath = path.join(folder, CONFIG_FILE);
  const problem = (message: string): ConfigProblem => ({ site: folderName, configPath, message });

  let raw: unknown;
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    return problem(`${configPath}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    raw = JSON.parse(text);
  } catch {
    return problem(`${configPath}: not valid JSON at ${locateJsonError(text) ?? 'an unknown place'}`);
  }
  // A field one or two edits from a known one is a typo, not a website field.
  const typos = raw && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw).filter((key) => !KNOWN_FIELDS.includes(key) && suggest(key, KNOWN_FIELDS) !== '') : [];
  if (typos.length > 0) return problem(`${configPath}: ${typos.map((key) => `unknown field "${key}"${suggest(key, KNOWN_FIELDS)}`).join('; ')}`);
  const parsed = siteSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `field "${issue.path.join('.') || '(root)'}" ${issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message}`);
    return problem(`${configPath}: ${issues.join('; ')}`);
  }
  const config = parsed.data;
  if (config.id !== folderName) {
    return problem(`${configPath}: field "id" is "${config.id}" but the folder is named "${folderName}"`);
  }
  const podcastIds = new Set<string>();
  for (const podcast of config.includedPodcasts) {
    if (podcastIds.has(podcast.id)) return problem(`${configPath}: field "includedPodcasts" repeats podcast id "${podcast.id}"`);
    podcastIds.add(podcast.id);
  }
  const id = config.id as SiteId;
  return {
    id,
    configPath,
    configDir: folder,
    podcasts: config.includedPodcasts,
    whisperPrompt: config.whisperTranscriptionPrompt,
    automation: resolveAutomation(id, config.automation ?? {}),
    localDir: path.join(localRoot, 'sites', id),
  };
}

/** Apply the defaults of ARCHITECTURE.md "Sites and credentials" to a site's automation block. */
export function resolveAutomation(id: string, block: z.infer<typeof automationSchema>): SiteAutomation {
  const roleArn =
    block.roleArn ?? (block.accountId ? `arn:aws:iam::${block.accountId}:role/browse-dot-show-automation-role` : undefined);
  return {
    bucket: block.bucket ?? `${id}-browse-dot-show`,
    region: block.region ?? 'us-east-1',
    accountId: block.accountId ?? roleArn?.split(':')[4],
    roleArn,
    indexingFunction: block.indexingFunction ?? `srt-indexing-${id}`,
    endpoint: block.endpoint,
    lambdaEndpoint: block.lambdaEndpoint,
    stsEndpoint: block.stsEndpoint,
    indexing: block.indexing ?? 'lambda',
    searchFunction: block.searchFunction === undefined ? `search-api-${id}` : block.searchFunction,
    singleIndexMaxEntries: block.singleIndexMaxEntries ?? DEFAULT_SINGLE_INDEX_MAX_ENTRIES,
  };
}
