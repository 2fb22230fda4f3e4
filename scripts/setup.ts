// One-time, idempotent set-up run by both README commands: ffmpeg, whisper.cpp's whisper-cli
// and a model. Each piece says what it found or did; a piece that cannot be set up here says
// how to do it by hand and the transcribe step reports it, the rest of the runner still works.
//   npx tsx scripts/setup.ts [--for=demo|test]
import { parseArgs } from 'node:util';
import { ensureFfmpeg } from '../tasks/engines/transcription/toolchain/ffmpeg.ts';
import { ensureWhisper } from '../tasks/engines/transcription/toolchain/whisper.ts';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAutomationEnv } from '../tasks/aws/env.ts';

const { values } = parseArgs({ options: { for: { type: 'string', default: 'demo' } } });
const purpose = values.for === 'test' ? 'test' : 'demo';

const say = (line: string) => process.stdout.write(`setup: ${line}\n`);
// The nightly run reads WHISPER_MODEL and the rest from .env.automation: set-up must see the same.
const env = loadAutomationEnv();
if (env.loaded) say(`read ${env.file}`);
let ok = true;
for (const step of [ensureFfmpeg, ensureWhisper]) {
  const result = await step({ purpose, say });
  if (!result.ok) ok = false;
}
// The AWS tests run against a real S3 + STS (Ceph's RADOS Gateway, from Debian's packages).
if (purpose === 'test') {
  const script = fileURLToPath(new URL('./install-test-services.sh', import.meta.url));
  const result = spawnSync('sh', [script], { stdio: 'inherit' });
  if (result.status !== 0) ok = false;
}
// Tests need every tool; the demo can still show sync and feeds without them.
process.exitCode = ok || purpose === 'demo' ? 0 : 1;
