// The search index file as the site's search function reads it (ARCHITECTURE.md "Search index"):
// an Orama 3 database with the search-entry schema, persisted with save(), packed with msgpackr
// and compressed with zstd level 3. The function decompresses, unpacks and load()s it into a
// database created with the same schema, so nothing else may differ.
import { create, insertMultiple, load, save, type Orama } from '@orama/orama';
import { Packr, unpack } from 'msgpackr';
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import type { SearchEntry } from '../search-entries.ts';

export const SEARCH_SCHEMA = {
  id: 'string',
  text: 'string',
  sequentialEpisodeIdAsString: 'string',
  startTimeMs: 'number',
  endTimeMs: 'number',
  episodePublishedUnixTimestamp: 'number',
} as const;

export type SearchDb = Orama<typeof SEARCH_SCHEMA>;

export { SINGLE_INDEX_KEY, SHARD_MANIFEST_KEY } from './index-keys.ts';
export const ZSTD_LEVEL = 3;

export function shardIndexKey(id: number): string {
  return `search-index/shard-${id}/orama_index.msp`;
}

export function createSearchDb(): SearchDb {
  return create({ schema: SEARCH_SCHEMA });
}

/** Insert entries in batches of 1,000. */
export async function insertEntries(db: SearchDb, entries: readonly SearchEntry[]): Promise<void> {
  // Only the schema's fields: an entry file may carry others, the index must not.
  await insertMultiple(
    db,
    entries.map((e) => ({
      id: e.id,
      text: e.text,
      sequentialEpisodeIdAsString: e.sequentialEpisodeIdAsString,
      startTimeMs: e.startTimeMs,
      endTimeMs: e.endTimeMs,
      episodePublishedUnixTimestamp: e.episodePublishedUnixTimestamp,
    })),
    1000,
  );
}

let zstdReady: Promise<void> | undefined;

/** The database as the file's bytes. */
export async function encodeIndex(db: SearchDb): Promise<Uint8Array> {
  await (zstdReady ??= init());
  // variableMapSize: Orama's maps exceed msgpack's 16-bit map header at a few thousand documents.
  const packed = new Packr({ variableMapSize: true }).pack(save(db));
  return compress(packed, ZSTD_LEVEL);
}

/** The file's bytes as a database, read the way the search function reads them. */
export async function decodeIndex(bytes: Uint8Array): Promise<SearchDb> {
  await (zstdReady ??= init());
  const db = createSearchDb();
  load(db, unpack(Buffer.from(decompress(bytes))) as ReturnType<typeof save>);
  return db;
}
