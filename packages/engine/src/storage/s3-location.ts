// Where a bucket is, without the AWS SDK: code that only names a bucket (messages, the migrate command) does not
// load the SDK for it.

/** Which bucket, where: the `storage.s3.*` settings. */
export interface S3Location {
  bucket: string;
  /** Key prefix, without leading or trailing slashes ('' or absent: none). */
  prefix?: string;
  /** An S3-compatible server's base URL; absent: AWS. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

/** The server, for messages: the endpoint URL, or `AWS S3 (<region>)`. */
export function s3Where(location: S3Location): string {
  return location.endpoint ?? `AWS S3${location.region ? ` (${location.region})` : ''}`;
}
