// `schedule`: not implemented yet (issue in progress).
import type { CommonFlags } from './command-line.ts';
import { EXIT } from '../platform/types.ts';

export async function scheduleCommand(_flags: CommonFlags): Promise<number> {
  process.stderr.write('error: schedule is not implemented yet\n');
  return EXIT.usage;
}
