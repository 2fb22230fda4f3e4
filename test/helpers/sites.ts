// Writes site folders the way an operator lays them out.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function writeSite(sitesRoot: string, config: Record<string, unknown> & { id: string }, folder = config.id): Promise<string> {
  const dir = path.join(sitesRoot, folder);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'site.config.json'), JSON.stringify(config, null, 2) + '\n');
  return dir;
}

/** A minimal valid site pointing at a local S3 endpoint. */
export function siteConfig(id: string, extra: { endpoint?: string; bucket?: string; podcasts?: unknown[]; lambdaEndpoint?: string } = {}) {
  return {
    id,
    includedPodcasts: extra.podcasts ?? [],
    automation: {
      bucket: extra.bucket ?? `${id}-browse-dot-show`,
      region: 'us-east-1',
      ...(extra.endpoint ? { endpoint: extra.endpoint } : {}),
      ...(extra.lambdaEndpoint ? { lambdaEndpoint: extra.lambdaEndpoint } : {}),
    },
  };
}
