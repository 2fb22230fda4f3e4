// Spelling corrections a site applies to every new transcript, from
// `<site folder>/spelling-corrections.json` (the format browse.show sites already use):
//
//   { "correctionsToApply": [
//       { "correctedSpelling": "Kevin Roose", "misspellings": ["Kevin Ruse", "Kevin Rose"] } ] }
//
// Each misspelling is matched as whole words (not inside a longer word), case-insensitively,
// in cue text only (never in times or numbering), and replaced by `correctedSpelling` as written.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Cue } from '../../site/srt.ts';

export const SPELLING_FILE = 'spelling-corrections.json';

const schema = z.object({
  correctionsToApply: z.array(
    z.object({
      correctedSpelling: z.string().min(1),
      misspellings: z.array(z.string().min(1)),
    }),
  ),
});

export interface SpellingRule {
  pattern: RegExp;
  replacement: string;
}

export type SpellingLoad = { ok: true; rules: SpellingRule[]; file?: string } | { ok: false; message: string };

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function compileRules(config: z.infer<typeof schema>): SpellingRule[] {
  return config.correctionsToApply.flatMap(({ correctedSpelling, misspellings }) =>
    misspellings.map((misspelling) => ({
      // Letters/digits on either side would make it part of another word.
      pattern: new RegExp(`(?<![\\p{L}\\p{N}])${escape(misspelling).replace(/\s+/g, '\\s+')}(?![\\p{L}\\p{N}])`, 'giu'),
      replacement: correctedSpelling,
    })),
  );
}

/** Load the site's corrections; no file means no rules, a malformed file is an error naming it. */
export async function loadSpellingRules(configDir: string): Promise<SpellingLoad> {
  const file = path.join(configDir, SPELLING_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, rules: [] };
    return { ok: false, message: `${file} cannot be read: ${String(error)}` };
  }
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    if (!parsed.success) return { ok: false, message: `${file}: ${parsed.error.issues.map((i) => `"${i.path.join('.')}" ${i.message}`).join('; ')}` };
    return { ok: true, rules: compileRules(parsed.data), file };
  } catch (error) {
    return { ok: false, message: `${file} is not valid JSON: ${(error as Error).message}` };
  }
}

/** Apply every rule to the cue text; returns the cues and how many replacements were made. */
export function applySpelling(cues: readonly Cue[], rules: readonly SpellingRule[]): { cues: Cue[]; replacements: number } {
  let replacements = 0;
  const out = cues.map((cue) => {
    let text = cue.text;
    for (const rule of rules) {
      text = text.replace(rule.pattern, () => {
        replacements++;
        return rule.replacement;
      });
    }
    return { ...cue, text };
  });
  return { cues: out, replacements };
}
