// whisper.cpp set-up (run by `npm start` and `npm test` through scripts/setup.ts) and the
// resolution the transcribe step uses: which whisper-cli, which model.
//   WHISPER_CLI    an existing whisper-cli; else the one built into the cache from nodejs-whisper's source
//   WHISPER_MODEL  a ggml model path, a model name (base.en, large-v3-turbo...) or `random`
import { existsSync } from 'node:fs';
import { unreachable } from '../../../platform/errors.ts';
import type { SetupOptions, SetupResult } from './ffmpeg.ts';
import { cachedWhisperCli, cliRuns, ensureWhisperBuild } from './whisper-build.ts';
import { ensureNamedModel, ensureRandomModel, isRandomModel, parseModelSpec, RANDOM_MODEL_NAME, randomModelPath } from './whisper-models.ts';

export const HOW_TO_GET_A_MODEL =
  'For real transcripts set WHISPER_MODEL to a model name (e.g. base.en, small.en, large-v3-turbo) and run `npm run setup` ' +
  'where the network reaches huggingface.co (it downloads and checks it), or to the path of a ggml-<name>.bin you downloaded ' +
  'from https://huggingface.co/ggerganov/whisper.cpp.';

export async function ensureWhisper({ say }: SetupOptions): Promise<SetupResult> {
  let ok = true;

  // The binary.
  const given = process.env.WHISPER_CLI;
  if (given) {
    if (cliRuns(given)) say(`whisper-cli: using WHISPER_CLI=${given}`);
    else {
      say(`whisper-cli: WHISPER_CLI=${given} does not run (\`${given} --help\` failed)`);
      ok = false;
    }
  } else {
    const build = await ensureWhisperBuild(say);
    switch (build.status) {
      case 'cached':
        say(`whisper.cpp ${build.version} found (${build.cli})`);
        break;
      case 'built':
        say(`whisper.cpp ${build.version} built in ${build.seconds} s (${build.cli})`);
        break;
      case 'failed':
        say(`whisper.cpp: ${build.message}. Transcription fails until then.`);
        ok = false;
        break;
      default:
        return unreachable(build);
    }
  }

  // The random-weight model: the tests need it, and the demo uses it when no model is configured.
  const random = await ensureRandomModel();
  say(`random-weight test model ready (${random})`);

  const spec = parseModelSpec();
  switch (spec.kind) {
    case 'none':
    case 'random':
      say(`no trained model configured: the demo transcribes with RANDOM weights, so its transcripts are gibberish. ${HOW_TO_GET_A_MODEL}`);
      break;
    case 'path':
      if (existsSync(spec.path)) say(`model: ${spec.path}`);
      else {
        say(`model: WHISPER_MODEL=${spec.path} does not exist. ${HOW_TO_GET_A_MODEL}`);
        ok = false;
      }
      break;
    case 'named': {
      if (!existsSync(spec.path)) say(`model ${spec.name}: downloading ${spec.url} ...`);
      const outcome = await ensureNamedModel(spec);
      if (outcome.ok) say(`model ${spec.name}: ${outcome.downloaded ? 'downloaded, SHA-1 verified' : 'found'} (${outcome.path})`);
      else {
        say(`model ${spec.name}: ${outcome.message}`);
        ok = false;
      }
      break;
    }
    case 'invalid':
      say(`model: ${spec.message}`);
      ok = false;
      break;
    default:
      return unreachable(spec);
  }
  return { ok };
}

/**
 * The demo's default: with WHISPER_MODEL unset, transcribe with the random-weight model (and
 * say so) instead of failing. A real `run` never does this: gibberish must not reach a bucket.
 */
export function useRandomModelByDefault(): void {
  process.env.PODCAST_INGEST_DEFAULT_MODEL ??= RANDOM_MODEL_NAME;
}

/** What the transcribe step needs, or why it cannot run. */
export type WhisperTools =
  | { ok: true; cli: string; model: string; randomWeights: boolean }
  | { ok: false; message: string };

/**
 * Resolve binary and model without building or downloading anything (set-up does that).
 * `defaultModel` applies when WHISPER_MODEL is unset: the demo passes 'random'.
 */
export function resolveWhisperTools(defaultModel: string | undefined = process.env.PODCAST_INGEST_DEFAULT_MODEL): WhisperTools {
  const cli = process.env.WHISPER_CLI || cachedWhisperCli();
  if (!cli) return { ok: false, message: 'whisper-cli is not built: run `npm run setup` (builds whisper.cpp once, about 4 minutes) or set WHISPER_CLI' };
  if (!existsSync(cli)) return { ok: false, message: `whisper-cli not found at WHISPER_CLI=${cli}` };

  const spec = parseModelSpec(process.env.WHISPER_MODEL || defaultModel);
  switch (spec.kind) {
    case 'none':
      return { ok: false, message: `no Whisper model configured. ${HOW_TO_GET_A_MODEL}` };
    case 'invalid':
      return { ok: false, message: spec.message };
    case 'random':
      if (!existsSync(spec.path)) return { ok: false, message: `the random-weight model is missing (${randomModelPath()}): run \`npm run setup\`` };
      return { ok: true, cli, model: spec.path, randomWeights: true };
    case 'named':
      if (!existsSync(spec.path)) return { ok: false, message: `model ${spec.name} is not in the cache (${spec.path}): run \`npm run setup\` with WHISPER_MODEL=${spec.name} to download it` };
      return { ok: true, cli, model: spec.path, randomWeights: false };
    case 'path':
      if (!existsSync(spec.path)) return { ok: false, message: `model file not found: WHISPER_MODEL=${spec.path}` };
      return { ok: true, cli, model: spec.path, randomWeights: isRandomModel(spec.path) };
    default:
      return unreachable(spec);
  }
}
