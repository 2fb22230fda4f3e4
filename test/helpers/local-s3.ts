// An S3 client for a test's embedded server, closed when the test ends. The checksum settings
// are the ones ENVIRONMENT.md measured for s3rver (no trailing CRC32 the server cannot verify).
import type { TestContext } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { LOCAL_S3_CREDENTIALS } from '../../tasks/demo/local/s3-server.ts';

export function localS3Client(t: TestContext, endpoint: string): S3Client {
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  t.after(() => client.destroy());
  return client;
}
