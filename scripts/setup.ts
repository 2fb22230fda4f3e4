// One-time, idempotent set-up run by both README commands: ffmpeg, whisper.cpp's whisper-cli
// and a model. Each piece says what it found or did; a piece that cannot be set up here says
// how to do it by hand and the transcribe step reports it, the rest of the runner still works.
//   npx tsx scripts/setup.ts [--for=demo|test]
import { parseArgs } from 'node:util';
import { ensureFfmpeg } from '../tasks/toolchain/ffmpeg.ts';
import { ensureWhisper } from '../tasks/toolchain/whisper.ts';

const { values } = parseArgs({ options: { for: { type: 'string', default: 'demo' } } });
const purpose = values.for === 'test' ? 'test' : 'demo';

const say = (line: string) => process.stdout.write(`setup: ${line}\n`);
let ok = true;
for (const step of [ensureFfmpeg, ensureWhisper]) {
  const result = await step({ purpose, say });
  if (!result.ok) ok = false;
}
// Tests need every tool; the demo can still show sync and feeds without them.
process.exitCode = ok || purpose === 'demo' ? 0 : 1;
