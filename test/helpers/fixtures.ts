// The real-world test corpus (feeds, bad, srt, audio), copied into the repository from the team's
// shared corpus: see test/fixtures/README.md and each folder's INDEX.md.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
