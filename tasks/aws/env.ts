// The central automation user's credentials, from `.env.automation` at the project root.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import { registerSecret } from '../platform/secrets.ts';

export const AUTOMATION_ENV_FILE = '.env.automation';
const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The automation env file: INGEST_ENV_FILE, else `.env.automation` in the current folder when
 * there is one (an operator's own layout), else the project's (cron may start anywhere).
 */
export function automationEnvFile(): string {
  if (process.env.INGEST_ENV_FILE) return path.resolve(process.env.INGEST_ENV_FILE);
  const here = path.resolve(AUTOMATION_ENV_FILE);
  return existsSync(here) ? here : path.join(PROJECT_ROOT, AUTOMATION_ENV_FILE);
}
export const REQUIRED_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const;

export interface AutomationEnv {
  file: string;
  loaded: boolean;
  /** Required variables still unset after loading. */
  missing: string[];
  warnings: string[];
}

export function loadAutomationEnv(file = automationEnvFile()): AutomationEnv {
  const warnings: string[] = [];
  let loaded = false;
  if (existsSync(file)) {
    const mode = statSync(file).mode;
    if ((mode & 0o077) !== 0) {
      warnings.push(`${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
    // Variables already set in the environment win, so cron can override one value.
    dotenv.config({ path: file, override: false, quiet: true } as dotenv.DotenvConfigOptions);
    loaded = true;
  }
  registerSecret(process.env.AWS_SECRET_ACCESS_KEY);
  registerSecret(process.env.AWS_ACCESS_KEY_ID);
  registerSecret(process.env.AWS_SESSION_TOKEN);
  const missing = REQUIRED_VARIABLES.filter((name) => !process.env[name]);
  return { file, loaded, missing, warnings };
}

/**
 * The error to print before a run or check when sites need the central user's credentials
 * and some are missing (naming the file and the variables), else undefined.
 */
export function automationEnvProblem(env: AutomationEnv, sitesNeedingRole: number): string | undefined {
  if (sitesNeedingRole === 0 || env.missing.length === 0) return undefined;
  const where = env.loaded ? `${env.file} does not set` : `${env.file} not found; it must set`;
  return `${where} ${env.missing.join(', ')} (the central automation user's credentials, needed to assume the role of ${sitesNeedingRole} site${sitesNeedingRole === 1 ? '' : 's'})`;
}
