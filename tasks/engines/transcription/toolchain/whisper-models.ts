// Which Whisper model to use. WHISPER_MODEL is either a path to a ggml file, a model name
// (`base.en`, `large-v3-turbo`...) looked up in the model cache and downloaded from the
// whisper.cpp model repository on Hugging Face with its SHA-1 checked, or `random`: the
// random-weight model generated here (tests, and the demo when no model is configured).
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createAtomicFile, removeStaleTemporaries, removeTemporariesOfDeadProcesses } from '../../../platform/atomic.ts';
import { cacheRoot } from './whisper-build.ts';
import { randomModelFileName, TEST_SHAPE, writeRandomModel, type ModelShape } from './ggml-model.ts';

/** SHA-1 of each published ggml model (whisper.cpp models/README.md, version 1.9.1). */
export const KNOWN_MODELS: Readonly<Record<string, string>> = {
  tiny: 'bd577a113a864445d4c299885e0cb97d4ba92b5f',
  'tiny.en': 'c78c86eb1a8faa21b369bcd33207cc90d64ae9df',
  base: '465707469ff3a37a2b9b8d8f89f2f99de7299dac',
  'base.en': '137c40403d78fd54d454da0f9bd998f78703390c',
  small: '55356645c2b361a969dfd0ef2c5a50d530afd8d5',
  'small.en': 'db8a495a91d927739e50b3fc1cc4c6b8f6c2d022',
  'small.en-tdrz': 'b6c6e7e89af1a35c08e6de56b66ca6a02a2fdfa1',
  medium: 'fd9727b6e1217c2f614f9b698455c4ffd82463b4',
  'medium.en': '8c30f0e44ce9560643ebd10bbe50cd20eafd3723',
  'large-v1': 'b1caaf735c4cc1429223d5a74f0f4d0b9b59a299',
  'large-v2': '0f4c8e34f21cf1a914c59d8b3ce882345ad349d6',
  'large-v2-q5_0': '00e39f2196344e901b3a2bd5814807a769bd1630',
  'large-v3': 'ad82bf6a9043ceed055076d0fd39f5f186ff8062',
  'large-v3-q5_0': 'e6e2ed78495d403bef4b7cff42ef4aaadcfea8de',
  'large-v3-turbo': '4af2b29d7ec73d781377bfd1758ca957a807e941',
  'large-v3-turbo-q5_0': 'e050f7970618a659205450ad97eb95a18d69c9ee',
};

export const RANDOM_MODEL_NAME = 'random';
const MODEL_REPOSITORY = 'https://huggingface.co/ggerganov/whisper.cpp/resolve/main';

export type ModelSpec =
  | { kind: 'none' }
  | { kind: 'path'; path: string }
  | { kind: 'named'; name: string; path: string; sha1: string; url: string }
  | { kind: 'random'; path: string };

/** WHISPER_MODEL_DIR, else `<cache>/models`. */
export function modelCacheDir(): string {
  return process.env.WHISPER_MODEL_DIR || path.join(cacheRoot(), 'models');
}

export function randomModelPath(shape: ModelShape = TEST_SHAPE): string {
  return path.join(modelCacheDir(), randomModelFileName(shape));
}

/** Read WHISPER_MODEL (or `value`). An unknown name that is not a path is an error naming the known ones. */
export function parseModelSpec(value: string | undefined = process.env.WHISPER_MODEL): ModelSpec | { kind: 'invalid'; message: string } {
  const spec = value?.trim();
  if (!spec) return { kind: 'none' };
  if (spec === RANDOM_MODEL_NAME) return { kind: 'random', path: randomModelPath() };
  const sha1 = KNOWN_MODELS[spec];
  if (sha1) {
    const file = `ggml-${spec}.bin`;
    return { kind: 'named', name: spec, path: path.join(modelCacheDir(), file), sha1, url: `${MODEL_REPOSITORY}/${file}` };
  }
  if (spec.includes('/') || spec.includes(path.sep) || spec.endsWith('.bin')) return { kind: 'path', path: path.resolve(spec) };
  return {
    kind: 'invalid',
    message: `WHISPER_MODEL="${spec}" is neither a model file path nor a known model name (${Object.keys(KNOWN_MODELS).join(', ')}, ${RANDOM_MODEL_NAME})`,
  };
}

/** True when the model at `file` has random weights (generated here): the text will be gibberish. */
export function isRandomModel(file: string): boolean {
  return path.basename(file).startsWith('ggml-random-');
}

/** Generate the random-weight model into the cache unless it is there. */
export async function ensureRandomModel(shape: ModelShape = TEST_SHAPE): Promise<string> {
  const file = randomModelPath(shape);
  if (existsSync(file)) return file;
  // A generation killed earlier left its temporary file (test processes may be generating now).
  await removeTemporariesOfDeadProcesses(file);
  await writeRandomModel(file, shape);
  return file;
}

export type DownloadOutcome = { ok: true; path: string; downloaded: boolean } | { ok: false; message: string };

/**
 * Download a named model into the cache, hashing while writing; the file gets its final name
 * only when the SHA-1 matches. Without network this fails with a message saying what to do.
 */
export async function ensureNamedModel(spec: Extract<ModelSpec, { kind: 'named' }>, signal?: AbortSignal): Promise<DownloadOutcome> {
  if (existsSync(spec.path)) return { ok: true, path: spec.path, downloaded: false };
  // A download killed earlier (Ctrl-C in set-up, power loss) left a multi-GB partial file: drop it.
  await removeStaleTemporaries(path.dirname(spec.path));
  const manual = `download ${spec.url} by hand (SHA-1 ${spec.sha1}) to ${spec.path}, or set WHISPER_MODEL to the path of a ggml model file`;
  const file = await createAtomicFile(spec.path);
  try {
    const response = await fetch(spec.url, { signal: signal ?? AbortSignal.timeout(60 * 60_000), redirect: 'follow' });
    if (!response.ok || !response.body) {
      await file.abort();
      return { ok: false, message: `downloading model ${spec.name} failed: HTTP ${response.status} from ${spec.url}; ${manual}` };
    }
    const hash = createHash('sha1');
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(body, file.stream);
    const actual = hash.digest('hex');
    if (actual !== spec.sha1) {
      await file.abort();
      return { ok: false, message: `model ${spec.name} from ${spec.url} has SHA-1 ${actual}, expected ${spec.sha1} (corrupt or changed download); ${manual}` };
    }
    await file.commit();
    return { ok: true, path: spec.path, downloaded: true };
  } catch (error) {
    await file.abort();
    const cause = error instanceof Error ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}` : String(error);
    return { ok: false, message: `cannot download model ${spec.name} from ${spec.url}: ${cause}; ${manual}` };
  }
}
