import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { assertNever } from '@deepforge/core';
import { EngineError, PipelineValidationError, StorageError } from '@deepforge/engine';
import { ProjectDocumentError, type ApiError } from '@deepforge/protocol';
import { HttpError } from './http-error.js';

/** `body.nodes.0.id` from a validation context and a zod issue path. */
function fieldOf(context: string | undefined, path: readonly PropertyKey[]): string {
  const where = context === 'querystring' ? 'query' : (context ?? 'body');
  return [where, ...path.map(String)].join('.');
}

/** The first HttpError in an error's cause chain (a 413 raised inside a stream arrives wrapped by the store). */
function httpErrorIn(err: unknown): HttpError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof HttpError) return e;
  }
  return undefined;
}

function engineStatus(err: EngineError): { status: number; code: ApiError['error'] } {
  switch (err.code) {
    case 'not-found':
      return { status: 404, code: 'not-found' };
    case 'ambiguous':
    case 'project-folder':
    case 'extension':
      return { status: 400, code: 'bad-request' };
    case 'invalid-pipeline':
      return { status: 422, code: 'invalid-pipeline' };
    case 'execution-state':
    case 'illegal-transition':
    case 'busy':
      return { status: 409, code: 'conflict' };
    case 'interpreter':
    case 'environment':
    case 'settings':
    case 'storage':
    case 'database':
    case 'compute':
    case 'closed':
      return { status: 500, code: 'internal' };
    default:
      return assertNever(err.code);
  }
}

/**
 * Errors Fastify meets before a route runs (a URL that does not decode, a path segment over maxParamLength), in
 * the API's error shape like every other answer.
 */
export function answerFrameworkError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0]!;
  const shown = path.length > 120 ? `${path.slice(0, 120)}…` : path;
  let status = 400;
  let body: ApiError;
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      body = {
        error: 'bad-request',
        message: `the URL ${shown} does not decode (a stray or broken % escape)`,
      };
      break;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      status = 414;
      body = {
        error: 'uri-too-long',
        message: `a part of the URL ${shown} is longer than the server reads (1000 characters); no name is that long`,
      };
      break;
    default:
      status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 400;
      body = { error: status >= 500 ? 'internal' : 'bad-request', message: err.message };
  }
  void reply.code(status).send(body);
}

/**
 * One shape for every error answer (ApiError): zod validation → 400 naming the field, malformed JSON → 400
 * naming the body, engine errors by their code, anything unexpected → 500 (logged, its message not leaked).
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const send = (status: number, body: ApiError) => reply.code(status).send(body);
    if (hasZodFastifySchemaValidationErrors(err)) {
      const problems = err.validation.map((v) => {
        const path = v.instancePath.split('/').filter(Boolean);
        // An unknown field is reported on the object holding it; name the field itself.
        const keys = (v.params as { keys?: unknown }).keys;
        if (v.keyword === 'unrecognized_keys' && Array.isArray(keys) && keys.length > 0) {
          return { field: fieldOf(err.validationContext, [...path, String(keys[0])]), message: v.message };
        }
        return { field: fieldOf(err.validationContext, path), message: v.message };
      });
      return send(400, {
        error: 'bad-request',
        message: problems.map((p) => `${p.field}: ${p.message}`).join('; '),
        field: problems[0]?.field ?? fieldOf(err.validationContext, []),
      });
    }
    if (isResponseSerializationError(err)) {
      request.log.error({ err, issues: err.cause.issues }, 'a response did not match its schema');
      return send(500, {
        error: 'internal',
        message: 'the server made an answer that does not match its schema',
      });
    }
    const http = httpErrorIn(err);
    if (http) return send(http.statusCode, http.body());
    if (err instanceof PipelineValidationError) {
      return send(422, {
        error: 'invalid-pipeline',
        message: err.message.split('\n')[0]!,
        diagnostics: err.diagnostics,
      });
    }
    if (err instanceof EngineError && !(err instanceof StorageError)) {
      const { status, code } = engineStatus(err);
      if (status >= 500) request.log.error({ err }, 'engine error');
      return send(status, { error: code, message: err.message });
    }
    if (err instanceof ProjectDocumentError) {
      const missing = /^there is no |has no /.test(err.message);
      return send(missing ? 404 : 409, { error: missing ? 'not-found' : 'conflict', message: err.message });
    }
    switch (err.code) {
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return send(400, { error: 'bad-request', message: `body: ${err.message}`, field: 'body' });
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return send(413, { error: 'payload-too-large', message: err.message });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return send(415, { error: 'unsupported-media-type', message: err.message });
      default:
        break;
    }
    if (err instanceof SyntaxError) {
      return send(400, { error: 'bad-request', message: `body: ${err.message}`, field: 'body' });
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return send(err.statusCode, { error: 'bad-request', message: err.message });
    }
    request.log.error({ err }, 'unexpected error');
    return send(500, { error: 'internal', message: 'internal server error (see the server log)' });
  });
}
