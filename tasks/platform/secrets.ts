// Secret redaction: every log line, error and summary passes through redact().
// Known secret values are registered when loaded (env, assumed-role credentials);
// patterns catch AWS-shaped keys that were never registered.

const knownSecrets = new Set<string>();

/** Register a value that must never be printed (ignored when too short to be a secret). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) knownSecrets.add(value);
}

const AWS_ACCESS_KEY = /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g;
// Query-string and header forms of signatures and tokens.
const SIGNED_PARAMS = /\b(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi;
const AUTH_HEADER = /\b(Authorization:\s*AWS4-HMAC-SHA256\s+)[^\n"]+/gi;

export function redact(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join('***');
  }
  return out.replace(AWS_ACCESS_KEY, '***').replace(SIGNED_PARAMS, '$1***').replace(AUTH_HEADER, '$1***');
}
