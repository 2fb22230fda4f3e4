// Placeholder until this command is built.
import type { CommonFlags } from '../cli.ts';
import { EXIT } from '../types.ts';

export async function feedCommand(_flags: CommonFlags): Promise<number> {
  process.stderr.write('feed: not implemented yet\n');
  return EXIT.failed;
}
