// The bucket keys of the local search index (ARCHITECTURE.md "Search index"), apart from the
// index format so that naming them does not load Orama, msgpackr and zstd (tasks/steps/indexing.ts
// loads the indexer only for a site that indexes locally).
export const SINGLE_INDEX_KEY = 'search-index/orama_index.msp';
export const SHARD_MANIFEST_KEY = 'search-index/shard-manifest.json';
