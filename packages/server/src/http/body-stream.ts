import type { IncomingMessage } from 'node:http';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, payloadTooLarge } from './http-error.js';

/** Content types whose bodies routes read as a stream (uploads, zips): Fastify hands them over unparsed. */
export const STREAM_CONTENT_TYPES = [
  'application/octet-stream',
  'application/zip',
  'application/x-zip-compressed',
  // A git bundle of a project folder (POST /api/projects/import, docs/adr/0020).
  'application/x-git-bundle',
];

export function installStreamParsers(app: FastifyInstance): void {
  app.addContentTypeParser(STREAM_CONTENT_TYPES, (_request, payload, done) => done(null, payload));
}

/** The request body as a stream, or a 400 when the route got a body of another type. */
export function bodyStream(request: FastifyRequest): Readable {
  const body = request.body as Readable | undefined;
  if (!body || typeof (body as Readable).pipe !== 'function') {
    throw badRequest(
      'body',
      `expected the raw bytes with Content-Type ${STREAM_CONTENT_TYPES.slice(0, 2).join(' or ')}`,
    );
  }
  return body;
}

/** A 413 before reading anything, when the declared length is over the limit. */
export function checkDeclaredLength(request: FastifyRequest | IncomingMessage, limit: number): void {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw payloadTooLarge(
      `the body is ${declared} bytes, more than the limit of ${limit} bytes (server.uploadLimit)`,
    );
  }
}

/** Passes bytes through until there are more than `limit`, then fails with a 413. */
export function byteLimit(limit: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) {
        callback(payloadTooLarge(`the body is more than the limit of ${limit} bytes (server.uploadLimit)`));
        return;
      }
      callback(null, chunk);
    },
  });
}
