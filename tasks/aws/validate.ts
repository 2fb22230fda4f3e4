// Offline checks of the automation configuration (ARCHITECTURE.md "Sites and credentials"): every site resolves an account,
// a role, a bucket and an indexing function; sites sharing an account agree on the role; no
// two sites share a bucket; `.env.automation` holds the central user's credentials.
// Pure: takes what discovery and loadAutomationEnv found, returns findings as data.
import type { ConfigProblem, SiteConfig } from '../site/site-config.ts';
import type { AutomationEnv } from './env.ts';

export interface SiteFindings {
  site: string;
  account: string;
  role: string;
  bucket: string;
  indexingFunction: string;
  problems: string[];
  notes: string[];
}

export interface EnvFindings {
  file: string;
  problems: string[];
  warnings: string[];
  notes: string[];
}

export interface ValidationReport {
  sites: SiteFindings[];
  env: EnvFindings;
  ok: boolean;
}

/** Lambda function names (or ARNs): letters, digits, hyphens, underscores, at most 64 characters. */
const FUNCTION_NAME = /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]+)?$/;

export function validateAutomation(input: { sites: SiteConfig[]; problems: ConfigProblem[]; env: AutomationEnv }): ValidationReport {
  const rows: SiteFindings[] = input.problems.map((p) => ({
    site: p.site,
    account: '?',
    role: '?',
    bucket: '?',
    indexingFunction: '?',
    problems: [p.message],
    notes: [],
  }));

  for (const site of input.sites) {
    const a = site.automation;
    const row: SiteFindings = {
      site: site.id,
      account: a.accountId ?? '-',
      role: a.roleArn ?? '-',
      bucket: a.endpoint ? `${a.bucket} @ ${a.endpoint}` : a.bucket,
      indexingFunction: a.indexingFunction,
      problems: [],
      notes: [],
    };
    if (!a.roleArn) {
      // Without a role the site's clients use the environment's credentials: right for an
      // S3-compatible store, wrong for a bucket in its own AWS account.
      if (a.endpoint) row.notes.push('assumes no role: uses the environment credentials for its S3-compatible endpoint');
      else row.problems.push('no automation.accountId or automation.roleArn: cannot derive the role to assume in the site\'s account');
    } else {
      const roleAccount = a.roleArn.split(':')[4];
      if (a.accountId && roleAccount && a.accountId !== roleAccount) {
        row.problems.push(`automation.accountId ${a.accountId} does not match the account of roleArn ${a.roleArn}`);
      }
    }
    if (a.indexing !== 'local' && !FUNCTION_NAME.test(a.indexingFunction)) {
      row.problems.push(`automation.indexingFunction "${a.indexingFunction}" is not a valid Lambda function name or ARN`);
    }
    if (a.indexing === 'local' && a.searchFunction && !FUNCTION_NAME.test(a.searchFunction)) {
      row.problems.push(`automation.searchFunction "${a.searchFunction}" is not a valid Lambda function name or ARN`);
    }
    rows.push(row);
  }

  // One role per account: sites in the same account must agree on it.
  const byAccount = groupBy(input.sites.filter((s) => s.automation.accountId), (s) => s.automation.accountId!);
  for (const [account, sites] of byAccount) {
    const roles = [...new Set(sites.map((s) => s.automation.roleArn ?? '(none)'))];
    if (roles.length < 2) continue;
    const detail = sites.map((s) => `${s.id}: ${s.automation.roleArn ?? '(none)'}`).join(', ');
    for (const site of sites) findRow(rows, site.id).problems.push(`account ${account} is shared with other sites that use a different role (${detail})`);
  }

  // Two sites writing one bucket would overwrite each other's manifest.
  const byBucket = groupBy(input.sites, (s) => `${s.automation.endpoint ?? 'aws'}|${s.automation.bucket}`);
  for (const sites of byBucket.values()) {
    if (sites.length < 2) continue;
    for (const site of sites) {
      const others = sites.filter((s) => s !== site).map((s) => s.id);
      findRow(rows, site.id).problems.push(`bucket ${site.automation.bucket} is also used by ${others.join(', ')}`);
    }
  }

  const env = envFindings(input.env, input.sites.some((s) => s.automation.roleArn !== undefined));
  rows.sort((x, y) => x.site.localeCompare(y.site));
  return { sites: rows, env, ok: env.problems.length === 0 && rows.every((r) => r.problems.length === 0) };
}

function envFindings(env: AutomationEnv, needed: boolean): EnvFindings {
  const findings: EnvFindings = { file: env.file, problems: [], warnings: [...env.warnings], notes: [] };
  const why = needed ? 'needed to assume the sites\' roles' : 'no site assumes a role';
  if (!env.loaded && env.missing.length > 0) {
    const message = `${env.file} not found (it must set ${env.missing.join(', ')}; ${why})`;
    if (needed) findings.problems.push(message);
    else findings.notes.push(message);
  } else if (env.missing.length > 0) {
    const message = `${env.file} does not set ${env.missing.join(', ')} (${why})`;
    if (needed) findings.problems.push(message);
    else findings.notes.push(message);
  } else if (!env.loaded) {
    findings.notes.push(`${env.file} not found; the central user's credentials come from the environment`);
  }
  return findings;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

function findRow(rows: SiteFindings[], site: string): SiteFindings {
  const row = rows.find((r) => r.site === site);
  if (!row) throw new Error(`validate: no row for site ${site}`);
  return row;
}
