import { z } from 'zod';
import { BUILT_IN_INTERFACES, INPUT_OPERATION, OUTPUT_OPERATION, newOperationSource } from '@deepforge/core';
import type { OperationReader } from '@deepforge/engine';
import {
  ApiErrorSchema,
  CreateOperationBodySchema,
  DeleteOperationQuerySchema,
  ListOperationsResponseSchema,
  OperationParamsSchema,
  OperationResponseSchema,
  ProjectParamsSchema,
  RenameOperationBodySchema,
  UpdateOperationBodySchema,
  deleteOperation,
  operationUses,
  projectFromDoc,
  putOperation,
  renameOperation,
  sections,
  type OperationResponse,
  type OperationSummary,
} from '@deepforge/protocol';
import { badRequest, conflict, notFound } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const tags = ['operations'];
const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema };

/**
 * The code with its operation class renamed: the `class Old` line (the class the interface parser reads is the
 * one named like the file). Other mentions of the old name (a docstring, `super(Old, self)`) are the author's
 * to change. No parse: the edit runs on the document, where code must not be parsed (it could take long).
 */
export function renameOperationClass(code: string, from: string, to: string): string {
  const pattern = new RegExp(`^(\\s*class\\s+)${from}(?=\\s*[(:])`, 'm');
  return code.replace(pattern, `$1${to}`);
}

/** An operation as a response gives it: read by the engine's OperationReader, off the event loop. */
async function summaryOf(
  reader: OperationReader,
  name: string,
  code: string,
  docUses: { pipeline: string; node: string }[],
): Promise<OperationSummary> {
  const reading = await reader.read(name, code);
  return { name, interface: reading.interface, diagnostics: reading.diagnostics, uses: docUses };
}

function checkNotBuiltIn(name: string, field: string): void {
  if (name === INPUT_OPERATION || name === OUTPUT_OPERATION) {
    throw badRequest(field, `"${name}" is a built-in operation`);
  }
}

export function registerOperationRoutes(app: ZodApp, ctx: ServerContext): void {
  const docs = ctx.documents;
  const reader = ctx.engine.operationReader;

  const operationResponse = async (projectId: string, name: string): Promise<OperationResponse> => {
    const { op, uses } = await docs.read(projectId, (doc) => {
      const found = projectFromDoc(doc).operations[name];
      if (!found) throw notFound(`project has no operation "${name}"`);
      return { op: found, uses: operationUses(doc, name) };
    });
    return {
      ...(await summaryOf(reader, name, op.code, uses)),
      code: op.code,
      dependencies: op.dependencies ?? '',
    };
  };

  app.get(
    '/api/projects/:projectId/operations',
    {
      schema: {
        tags,
        summary: 'List operations with their interfaces (parsed from the code), diagnostics and uses',
        params: ProjectParamsSchema,
        response: { 200: ListOperationsResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      await ctx.projects.get(projectId);
      const operations = await docs.read(projectId, (doc) => {
        const project = projectFromDoc(doc);
        return Object.keys(project.operations)
          .sort()
          .map((name) => ({ name, code: project.operations[name]!.code, uses: operationUses(doc, name) }));
      });
      return {
        items: await Promise.all(operations.map((o) => summaryOf(reader, o.name, o.code, o.uses))),
        builtIns: Object.entries(BUILT_IN_INTERFACES).map(([name, iface]) => ({ name, interface: iface })),
      };
    },
  );

  app.get(
    '/api/projects/:projectId/operations/:operation',
    {
      schema: {
        tags,
        summary: 'One operation: code, dependencies, interface, diagnostics, uses',
        params: OperationParamsSchema,
        response: { 200: OperationResponseSchema, ...errors },
      },
    },
    async (request) => {
      await ctx.projects.get(request.params.projectId);
      return operationResponse(request.params.projectId, request.params.operation);
    },
  );

  app.post(
    '/api/projects/:projectId/operations',
    {
      schema: {
        tags,
        summary: 'Create an operation (the skeleton of a new one unless code is given)',
        params: ProjectParamsSchema,
        body: CreateOperationBodySchema,
        response: { 201: OperationResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      const { name, code, dependencies } = request.body;
      checkNotBuiltIn(name, 'body.name');
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        if (sections.operations(doc).has(name)) throw conflict(`an operation "${name}" exists already`);
        putOperation(doc, name, code ?? newOperationSource(name), dependencies ?? '');
      });
      await ctx.projects.touch(projectId);
      return reply.code(201).send(await operationResponse(projectId, name));
    },
  );

  app.put(
    '/api/projects/:projectId/operations/:operation',
    {
      schema: {
        tags,
        summary: "Replace an operation's code (and dependencies)",
        params: OperationParamsSchema,
        body: UpdateOperationBodySchema,
        response: { 200: OperationResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, operation } = request.params;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        if (!sections.operations(doc).has(operation))
          throw notFound(`project has no operation "${operation}"`);
        putOperation(doc, operation, request.body.code, request.body.dependencies);
      });
      await ctx.projects.touch(projectId);
      return operationResponse(projectId, operation);
    },
  );

  app.patch(
    '/api/projects/:projectId/operations/:operation',
    {
      schema: {
        tags,
        summary: 'Rename an operation: its class in the code and every node using it',
        params: OperationParamsSchema,
        body: RenameOperationBodySchema,
        response: { 200: OperationResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, operation } = request.params;
      const to = request.body.name;
      checkNotBuiltIn(to, 'body.name');
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        const ops = sections.operations(doc);
        const op = ops.get(operation);
        if (!op) throw notFound(`project has no operation "${operation}"`);
        if (to === operation) return;
        if (ops.has(to)) throw conflict(`an operation "${to}" exists already`);
        renameOperation(doc, operation, to, renameOperationClass(op.get('code')!.toString(), operation, to));
      });
      await ctx.projects.touch(projectId);
      return operationResponse(projectId, to);
    },
  );

  app.delete(
    '/api/projects/:projectId/operations/:operation',
    {
      schema: {
        tags,
        summary: 'Delete an operation (409 listing its uses unless ?force=true)',
        params: OperationParamsSchema,
        querystring: DeleteOperationQuerySchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, operation } = request.params;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        if (!sections.operations(doc).has(operation))
          throw notFound(`project has no operation "${operation}"`);
        const uses = operationUses(doc, operation);
        if (uses.length > 0 && request.query.force !== true) {
          throw conflict(
            `operation ${operation} is used by ${uses.map((u) => `${u.pipeline}/${u.node}`).join(', ')}; delete those nodes first or pass ?force=true`,
            { uses },
          );
        }
        deleteOperation(doc, operation);
      });
      await ctx.projects.touch(projectId);
      return reply.code(204).send(null);
    },
  );
}
