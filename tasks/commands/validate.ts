// Placeholder until this command is built.
import type { CommonFlags } from '../cli.ts';
import { EXIT } from '../types.ts';

export async function validateCommand(_flags: CommonFlags): Promise<number> {
  process.stderr.write('validate: not implemented yet\n');
  return EXIT.failed;
}
