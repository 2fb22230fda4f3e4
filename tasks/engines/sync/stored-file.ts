// An object as the sync engine sees it, from the bucket listing or the local scan.
import type { S3Key } from '../../platform/types.ts';

/** An object as listed from the bucket or scanned locally. */
export interface StoredFile {
  key: S3Key;
  size: number;
  /** Bucket LastModified, or local mtime. */
  modified: Date;
  /** Hex MD5 where known (single-part ETag, or hashed local file). */
  md5?: string;
  /** Raw ETag from the bucket (quotes removed). */
  etag?: string;
}
