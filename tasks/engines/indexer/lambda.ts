// AWS Lambda entry point of the indexer. Bundle it into one CommonJS file (the SDK's CJS
// builds cannot be bundled as ESM: their require() of Node built-ins fails at load):
//   npx esbuild tasks/engines/indexer/lambda.ts --bundle --platform=node --target=node20 --format=cjs --outfile=dist/indexer/index.js
// then zip dist/indexer/index.js and deploy it with handler `index.handler` (runtime nodejs20.x). The
// function's role needs s3:ListBucket, s3:GetObject and s3:PutObject on the site's bucket.
// Environment: INDEXER_BUCKET (the site's bucket; else the event's `bucket`); INDEXER_S3_ENDPOINT
// only for S3-compatible stores.
import { createIndexerHandler } from './indexer.ts';

export const handler = createIndexerHandler();
