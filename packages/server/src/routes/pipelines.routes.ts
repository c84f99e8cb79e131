import { z } from 'zod';
import {
  ConnectionSchema,
  INPUT_OPERATION,
  OUTPUT_OPERATION,
  PipelineSchema,
  attributeValueFits,
  findCycle,
  nodeRenameProblem,
  type Connection,
  type JsonValue,
  type PipelineNode,
  type Project,
  type ProjectOperations,
} from '@deepforge/core';
import {
  AddConnectionBodySchema,
  AddNodeBodySchema,
  ApiErrorSchema,
  CreatePipelineBodySchema,
  ListPipelinesResponseSchema,
  NodeParamsSchema,
  NodeResponseSchema,
  PipelineParamsSchema,
  PipelineResponseSchema,
  ProjectParamsSchema,
  RemoveConnectionQuerySchema,
  UpdateNodeBodySchema,
  UpdatePipelineBodySchema,
  ValidateResponseSchema,
  addConnection,
  addNode,
  connectionKey,
  deletePipeline,
  moveNode,
  projectFromDoc,
  putPipeline,
  removeConnection,
  removeNode,
  renamePipeline,
  renamePipelineNode,
  sections,
  setNodeAttribute,
  setNodeReference,
} from '@deepforge/protocol';
import { badRequest, conflict, notFound } from '../http/http-error.js';
import { checkProject, interfaceOf } from '../projects/project-validation.js';
import type { ServerContext, ZodApp } from '../server.context.js';
import { artifactNamesOf } from './route-helpers.js';

const tags = ['pipelines'];
const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema };

function pipelineOf(project: Project, name: string) {
  const pipeline = project.pipelines[name];
  if (!pipeline) throw notFound(`project has no pipeline "${name}"`);
  return pipeline;
}

function nodeOf(project: Project, pipeline: string, id: string): PipelineNode {
  const node = pipelineOf(project, pipeline).nodes.find((n) => n.id === id);
  if (!node) throw notFound(`pipeline "${pipeline}" has no node "${id}"`);
  return node;
}

/** `GetNumber` → `get_number`, then `get_number_2`, … until it is free. */
function freeNodeId(operation: string, taken: ReadonlySet<string>): string {
  const base =
    operation
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
      .toLowerCase() || 'node';
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

/**
 * Checks attribute values and reference names against the operation's interface (when it can be read: a node of
 * an operation with broken code takes any values, and validation reports them once the code is fixed).
 */
function checkNodeValues(
  interfaces: ProjectOperations['interfaces'],
  operation: string,
  attributes: Record<string, JsonValue | null>,
  references: Record<string, string | null>,
): void {
  const iface = interfaceOf(operation, interfaces);
  if (!iface) return;
  for (const [name, value] of Object.entries(attributes)) {
    const spec = iface.attributes.find((a) => a.name === name);
    if (!spec) {
      const known = iface.attributes.map((a) => a.name);
      throw badRequest(
        `body.attributes.${name}`,
        `operation ${operation} has no attribute "${name}"${known.length ? ` (it has: ${known.join(', ')})` : ''}`,
      );
    }
    if (value !== null && !attributeValueFits(spec, value)) {
      throw badRequest(
        `body.attributes.${name}`,
        `expected a value of type ${spec.type}, got ${JSON.stringify(value)}`,
      );
    }
  }
  for (const name of Object.keys(references)) {
    if (!iface.references.some((r) => r.name === name)) {
      const known = iface.references.map((r) => r.name);
      throw badRequest(
        `body.references.${name}`,
        `operation ${operation} has no reference "${name}"${known.length ? ` (it has: ${known.join(', ')})` : ''}`,
      );
    }
  }
}

function operationExists(project: Project, operation: string): boolean {
  return (
    operation === INPUT_OPERATION ||
    operation === OUTPUT_OPERATION ||
    Object.hasOwn(project.operations, operation)
  );
}

export function registerPipelineRoutes(app: ZodApp, ctx: ServerContext): void {
  const docs = ctx.documents;
  const reader = ctx.engine.operationReader;

  /** The pipeline and its diagnostics as the document holds them now. */
  const pipelineResponse = async (projectId: string, name: string) => {
    const project = await ctx.projects.project(projectId);
    const pipeline = pipelineOf(project, name);
    const check = await checkProject(reader, project, await artifactNamesOf(ctx, projectId, project));
    return { pipeline, diagnostics: check.pipeline(name) };
  };

  /**
   * The interfaces of the project's operations, read (off the event loop) before an edit that checks values
   * against them: an edit runs synchronously on the document, so it cannot wait for a reading. Code changed in
   * between is checked against the interface it had a moment before, as an editor showing it would be.
   */
  const interfacesOf = async (projectId: string): Promise<ProjectOperations['interfaces']> =>
    (await reader.readProject(await ctx.projects.project(projectId))).interfaces;

  const edited = async (projectId: string) => ctx.projects.touch(projectId);

  app.get(
    '/api/projects/:projectId/pipelines',
    {
      schema: {
        tags,
        summary: 'List pipelines with their error and warning counts',
        params: ProjectParamsSchema,
        response: { 200: ListPipelinesResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      const project = await ctx.projects.project(projectId);
      const check = await checkProject(reader, project, await artifactNamesOf(ctx, projectId, project));
      return {
        items: Object.values(project.pipelines)
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((p) => {
            const d = check.pipeline(p.name);
            return {
              name: p.name,
              ...(p.description !== undefined ? { description: p.description } : {}),
              nodes: p.nodes.length,
              connections: p.connections.length,
              errors: d.filter((x) => x.severity === 'error').length,
              warnings: d.filter((x) => x.severity === 'warning').length,
            };
          }),
      };
    },
  );

  app.post(
    '/api/projects/:projectId/pipelines',
    {
      schema: {
        tags,
        summary: 'Create a pipeline',
        params: ProjectParamsSchema,
        body: CreatePipelineBodySchema,
        response: { 201: PipelineResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      await ctx.projects.get(projectId);
      const pipeline = PipelineSchema.parse({
        name: request.body.name,
        ...(request.body.description !== undefined ? { description: request.body.description } : {}),
        nodes: request.body.nodes ?? [],
        connections: request.body.connections ?? [],
      });
      await docs.edit(projectId, (doc) => {
        if (sections.pipelines(doc).has(pipeline.name))
          throw conflict(`a pipeline "${pipeline.name}" exists already`);
        putPipeline(doc, pipeline);
      });
      await edited(projectId);
      return reply.code(201).send(await pipelineResponse(projectId, pipeline.name));
    },
  );

  app.get(
    '/api/projects/:projectId/pipelines/:pipeline',
    {
      schema: {
        tags,
        summary: 'A pipeline with its diagnostics',
        params: PipelineParamsSchema,
        response: { 200: PipelineResponseSchema, ...errors },
      },
    },
    async (request) => pipelineResponse(request.params.projectId, request.params.pipeline),
  );

  app.get(
    '/api/projects/:projectId/pipelines/:pipeline/validate',
    {
      schema: {
        tags,
        summary: 'Validate a pipeline: what an execution would be refused for',
        params: PipelineParamsSchema,
        response: { 200: ValidateResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { diagnostics } = await pipelineResponse(request.params.projectId, request.params.pipeline);
      return { valid: !diagnostics.some((d) => d.severity === 'error'), diagnostics };
    },
  );

  app.patch(
    '/api/projects/:projectId/pipelines/:pipeline',
    {
      schema: {
        tags,
        summary: 'Rename a pipeline or change its description',
        params: PipelineParamsSchema,
        body: UpdatePipelineBodySchema,
        response: { 200: PipelineResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, pipeline } = request.params;
      const { name, description } = request.body;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        const pipelines = sections.pipelines(doc);
        if (!pipelines.has(pipeline)) throw notFound(`project has no pipeline "${pipeline}"`);
        if (name !== undefined && name !== pipeline && pipelines.has(name)) {
          throw conflict(`a pipeline "${name}" exists already`);
        }
        if (description === null) pipelines.get(pipeline)!.delete('description');
        else if (description !== undefined) pipelines.get(pipeline)!.set('description', description);
        if (name !== undefined && name !== pipeline) renamePipeline(doc, pipeline, name);
      });
      await edited(projectId);
      return pipelineResponse(projectId, name ?? pipeline);
    },
  );

  app.delete(
    '/api/projects/:projectId/pipelines/:pipeline',
    {
      schema: {
        tags,
        summary: 'Delete a pipeline',
        params: PipelineParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, pipeline } = request.params;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        if (!sections.pipelines(doc).has(pipeline)) throw notFound(`project has no pipeline "${pipeline}"`);
        deletePipeline(doc, pipeline);
      });
      await edited(projectId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/projects/:projectId/pipelines/:pipeline/nodes',
    {
      schema: {
        tags,
        summary: 'Add a node (an operation) to a pipeline',
        params: PipelineParamsSchema,
        body: AddNodeBodySchema,
        response: { 201: NodeResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, pipeline } = request.params;
      const body = request.body;
      await ctx.projects.get(projectId);
      const interfaces = await interfacesOf(projectId);
      const node = await docs.edit(projectId, (doc) => {
        const project = projectFromDoc(doc);
        const p = pipelineOf(project, pipeline);
        if (!operationExists(project, body.operation)) {
          throw badRequest('body.operation', `there is no operation "${body.operation}" in the project`);
        }
        const taken = new Set(p.nodes.map((n) => n.id));
        if (body.id !== undefined && taken.has(body.id)) {
          throw conflict(`pipeline "${pipeline}" has a node "${body.id}" already`);
        }
        checkNodeValues(interfaces, body.operation, body.attributes ?? {}, body.references ?? {});
        const created: PipelineNode = {
          id: body.id ?? freeNodeId(body.operation, taken),
          operation: body.operation,
          attributes: body.attributes ?? {},
          references: body.references ?? {},
          ...(body.position ? { position: body.position } : {}),
        };
        addNode(doc, pipeline, created);
        return created;
      });
      await edited(projectId);
      return reply.code(201).send(node);
    },
  );

  app.patch(
    '/api/projects/:projectId/pipelines/:pipeline/nodes/:node',
    {
      schema: {
        tags,
        summary:
          'Rename a node (connections follow), move it, set its attributes (null: the default) and references (null: unset)',
        params: NodeParamsSchema,
        body: UpdateNodeBodySchema,
        response: { 200: NodeResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, pipeline, node } = request.params;
      const body = request.body;
      await ctx.projects.get(projectId);
      const interfaces = await interfacesOf(projectId);
      const updated = await docs.edit(projectId, (doc) => {
        const project = projectFromDoc(doc);
        const current = nodeOf(project, pipeline, node);
        checkNodeValues(interfaces, current.operation, body.attributes ?? {}, body.references ?? {});
        // Checked before anything changes: a bad id leaves the node as it was.
        const renameTo = body.id !== undefined && body.id !== node ? body.id : undefined;
        if (renameTo !== undefined) {
          const problem = nodeRenameProblem(project.pipelines[pipeline]!, node, renameTo);
          if (problem) throw badRequest('body.id', problem);
        }
        if (body.position) moveNode(doc, pipeline, node, body.position);
        for (const [name, value] of Object.entries(body.attributes ?? {})) {
          setNodeAttribute(doc, pipeline, node, name, value ?? undefined);
        }
        for (const [name, artifact] of Object.entries(body.references ?? {})) {
          setNodeReference(doc, pipeline, node, name, artifact ?? undefined);
        }
        if (renameTo !== undefined) renamePipelineNode(doc, pipeline, node, renameTo);
        return nodeOf(projectFromDoc(doc), pipeline, renameTo ?? node);
      });
      await edited(projectId);
      return updated;
    },
  );

  app.delete(
    '/api/projects/:projectId/pipelines/:pipeline/nodes/:node',
    {
      schema: {
        tags,
        summary: 'Remove a node and its connections',
        params: NodeParamsSchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, pipeline, node } = request.params;
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        nodeOf(projectFromDoc(doc), pipeline, node);
        removeNode(doc, pipeline, node);
      });
      await edited(projectId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/projects/:projectId/pipelines/:pipeline/connections',
    {
      schema: {
        tags,
        summary: 'Connect an output to an input (409 when it would make a cycle or the input is taken)',
        params: PipelineParamsSchema,
        body: AddConnectionBodySchema,
        response: { 201: ConnectionSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, pipeline } = request.params;
      const c: Connection = request.body;
      await ctx.projects.get(projectId);
      const interfaces = await interfacesOf(projectId);
      await docs.edit(projectId, (doc) => {
        const project = projectFromDoc(doc);
        const p = pipelineOf(project, pipeline);
        for (const [end, ref] of [
          ['from', c.from],
          ['to', c.to],
        ] as const) {
          const n = p.nodes.find((x) => x.id === ref.node);
          if (!n) throw badRequest(`body.${end}.node`, `pipeline "${pipeline}" has no node "${ref.node}"`);
          const iface = interfaceOf(n.operation, interfaces);
          const ports = end === 'from' ? iface?.outputs : iface?.inputs;
          if (ports && !ports.some((x) => x.name === ref.port)) {
            const names = ports.map((x) => x.name);
            throw badRequest(
              `body.${end}.port`,
              `node "${ref.node}" (${n.operation}) has no ${end === 'from' ? 'output' : 'input'} "${ref.port}"${names.length ? ` (it has: ${names.join(', ')})` : ''}`,
            );
          }
        }
        const taken = p.connections.find((x) => x.to.node === c.to.node && x.to.port === c.to.port);
        if (taken) {
          throw conflict(
            `input ${c.to.node}.${c.to.port} is connected already (from ${taken.from.node}.${taken.from.port}); an input takes one connection`,
          );
        }
        const cycle = findCycle({ nodes: p.nodes, connections: [...p.connections, c] });
        if (cycle) {
          throw conflict(
            `connecting ${connectionKey(c)} would make a cycle: ${[...cycle, cycle[0]].join(' → ')}`,
          );
        }
        addConnection(doc, pipeline, c);
      });
      await edited(projectId);
      return reply.code(201).send(c);
    },
  );

  app.delete(
    '/api/projects/:projectId/pipelines/:pipeline/connections',
    {
      schema: {
        tags,
        summary: 'Remove a connection (given as query parameters)',
        params: PipelineParamsSchema,
        querystring: RemoveConnectionQuerySchema,
        response: { 204: z.null(), ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, pipeline } = request.params;
      const q = request.query;
      const c: Connection = {
        from: { node: q.fromNode, port: q.fromPort },
        to: { node: q.toNode, port: q.toPort },
      };
      await ctx.projects.get(projectId);
      await docs.edit(projectId, (doc) => {
        const p = pipelineOf(projectFromDoc(doc), pipeline);
        if (!p.connections.some((x) => connectionKey(x) === connectionKey(c))) {
          throw notFound(`pipeline "${pipeline}" has no connection ${connectionKey(c)}`);
        }
        removeConnection(doc, pipeline, c);
      });
      await edited(projectId);
      return reply.code(204).send(null);
    },
  );
}
