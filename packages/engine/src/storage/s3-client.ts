import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Env } from '../settings.js';
import type { S3Location } from './s3-location.js';

export { s3Where, type S3Location } from './s3-location.js';

/**
 * The region when no setting names one: AWS_REGION, AWS_DEFAULT_REGION, the profile's (~/.aws/config, read by
 * the SDK's own loader), then us-east-1, which S3-compatible servers take and AWS redirects from (the client
 * follows region redirects).
 */
async function defaultRegion(env: Env): Promise<string> {
  const fromEnv = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (fromEnv) return fromEnv;
  const probe = new S3Client(env.AWS_PROFILE ? { profile: env.AWS_PROFILE } : {});
  try {
    return await probe.config.region();
  } catch {
    return 'us-east-1';
  } finally {
    probe.destroy();
  }
}

/**
 * The client's configuration. Credentials come only from the standard AWS places, never from a setting: the
 * access key in `env` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else the SDK's default
 * chain (AWS_PROFILE and ~/.aws, SSO, web identity, container and instance roles). No logger is given, so the
 * SDK logs nothing.
 */
export function s3ClientConfig(
  location: S3Location,
  env: Env,
  tuning: { maxAttempts: number; connectionTimeoutMs: number; socketTimeoutMs: number },
): S3ClientConfig {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  return {
    region: location.region ?? (() => defaultRegion(env)),
    ...(location.endpoint ? { endpoint: location.endpoint } : {}),
    forcePathStyle: location.forcePathStyle ?? false,
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : env.AWS_PROFILE
        ? { profile: env.AWS_PROFILE }
        : {}),
    followRegionRedirects: true,
    maxAttempts: tuning.maxAttempts,
    retryMode: 'standard',
    // Integrity is the content id's, checked on the way out and on the way in (and each request body's SHA-256
    // is signed, which S3 checks): the SDK's extra CRC32 checksums stay off, since S3-compatible servers and
    // emulators differ in whether they take them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: tuning.connectionTimeoutMs,
      requestTimeout: tuning.socketTimeoutMs,
    },
  };
}

interface S3ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  return (err as S3ErrorLike | undefined)?.$metadata?.httpStatusCode;
}

export function isS3NotFound(err: unknown): boolean {
  const e = err as S3ErrorLike | undefined;
  return (
    statusOf(err) === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.Code === 'NoSuchKey'
  );
}

const CREDENTIAL_HINT =
  'the credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (~/.aws/credentials), ' +
  'and need s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on the bucket';

const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AccessDenied',
  'Forbidden',
  'AuthorizationHeaderMalformed',
]);

/**
 * One line about an S3 failure, for errors shown to people. Built from the error's code, status and the
 * server's message only: no request, header or credential ever goes into it.
 */
export function describeS3Error(err: unknown): string {
  const e = (err ?? {}) as S3ErrorLike;
  const status = statusOf(err);
  const code = e.Code ?? e.name ?? 'Error';
  if (e.name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return `no AWS credentials were found: ${CREDENTIAL_HINT}`;
  }
  if (status === 401 || status === 403 || CREDENTIAL_CODES.has(code)) {
    const detail = e.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
    return `the server refused the credentials or their permissions (HTTP ${status ?? '403'} ${code}${detail}); ${CREDENTIAL_HINT}`;
  }
  const sysCode = e.code;
  if (sysCode && /^E[A-Z]+$/.test(sysCode)) {
    return `the server cannot be reached (${sysCode}${e.message ? `: ${e.message}` : ''})`;
  }
  if (e.name === 'TimeoutError' || /timed? ?out/i.test(e.message ?? '')) {
    return `the server did not answer in time (${e.message ?? code})`;
  }
  const message = e.message && e.message !== 'UnknownError' ? e.message : 'no message';
  return status !== undefined ? `HTTP ${status} ${code}: ${message}` : `${code}: ${message}`;
}
