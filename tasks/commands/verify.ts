// `verify`: not implemented yet (issue in progress).
import type { CommonFlags } from './command-line.ts';
import { EXIT } from '../platform/types.ts';

export async function verifyCommand(_flags: CommonFlags): Promise<number> {
  process.stderr.write('error: verify is not implemented yet\n');
  return EXIT.usage;
}
