import { extensionOperationFiles, planExtensionCopy, projectToFiles, type Project } from '@deepforge/core';
import {
  AddExtensionOperationBodySchema,
  AddExtensionOperationResponseSchema,
  ApiErrorSchema,
  ListExtensionsResponseSchema,
  ProjectParamsSchema,
  projectFromDoc,
  putModule,
  putOperation,
  putResource,
  type ExtensionSummary,
} from '@deepforge/protocol';
import { conflict, notFound } from '../http/http-error.js';
import type { ServerContext, ZodApp } from '../server.context.js';

const tags = ['extensions'];
const errors = { 400: ApiErrorSchema, 404: ApiErrorSchema, 409: ApiErrorSchema };

function pick<T>(all: Readonly<Record<string, T>> | undefined, names: readonly string[]): Record<string, T> {
  const out: Record<string, T> = {};
  for (const n of names) if (all && Object.hasOwn(all, n)) out[n] = all[n] as T;
  return out;
}

/** The part of `project` at the folder paths `paths` (operations/X.py, utils/m.py, …) as the folder format writes it. */
function filesAt(project: Project, paths: readonly string[]): Map<string, string> {
  const stem = (prefix: string, suffix: string): string[] =>
    paths
      .filter((p) => p.startsWith(prefix) && p.endsWith(suffix))
      .map((p) => p.slice(prefix.length, -suffix.length));
  const part: Project = {
    manifest: project.manifest,
    operations: pick(project.operations, stem('operations/', '.py')),
    pipelines: {},
    utils: pick(project.utils, stem('utils/', '.py')),
    serializers: pick(project.serializers, stem('serializers/', '.py')),
    artifacts: {},
    resources: pick(project.resources, stem('resources/', '.json')),
  };
  const files = projectToFiles(part);
  files.delete('deepforge.json');
  return files;
}

/**
 * Installed extensions (docs/extensions.md): listing them for the add-operation spotlight and "new project from
 * example", and copying one of their operations into a project. Installing and removing is the CLI's
 * (`deepforge extensions`): it changes the server's installation, not a project.
 */
export function registerExtensionRoutes(app: ZodApp, ctx: ServerContext): void {
  const reader = ctx.engine.operationReader;

  app.get(
    '/api/extensions',
    {
      schema: {
        tags,
        summary: 'Installed extensions: their operations (with interfaces), architectures and examples',
        response: { 200: ListExtensionsResponseSchema },
      },
    },
    async () => {
      const items: ExtensionSummary[] = [];
      for (const installed of await ctx.extensions.list()) {
        const m = installed.manifest;
        const base = {
          name: installed.name,
          ...(m ? { version: m.version, deepforge: m.deepforge } : {}),
          ...(m?.description !== undefined ? { description: m.description } : {}),
        };
        if (!m || installed.problem !== undefined) {
          items.push({
            ...base,
            problem: installed.problem ?? 'unreadable',
            operations: [],
            resources: [],
            examples: [],
          });
          continue;
        }
        let library: Project;
        try {
          library = (await ctx.extensions.read(installed.name)).library;
        } catch (err) {
          items.push({
            ...base,
            problem: (err as Error).message,
            operations: [],
            resources: [],
            examples: [],
          });
          continue;
        }
        const operations = await Promise.all(
          Object.entries(m.provides.operations ?? {}).map(async ([name, op]) => ({
            name,
            ...(op.description !== undefined ? { description: op.description } : {}),
            // Read off the event loop, like a project's operations.
            interface: (await reader.read(name, library.operations[name]?.code ?? '')).interface,
            files: extensionOperationFiles(m, name),
          })),
        );
        items.push({
          ...base,
          operations,
          resources: m.provides.resources ?? [],
          examples: m.provides.examples ?? [],
        });
      }
      return { items };
    },
  );

  app.post(
    '/api/projects/:projectId/extension-operations',
    {
      schema: {
        tags,
        summary:
          "Copy an extension's operation into the project with the utils, serializers and architectures it needs (409 naming a clash)",
        params: ProjectParamsSchema,
        body: AddExtensionOperationBodySchema,
        response: { 201: AddExtensionOperationResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      const { extension, operation } = request.body;
      await ctx.projects.get(projectId);
      const { manifest, library } = await ctx.extensions.read(extension).catch((err: unknown) => {
        throw (err as { code?: string }).code === 'not-found' ? notFound((err as Error).message) : err;
      });
      const paths = extensionOperationFiles(manifest, operation);
      if (paths.length === 0) {
        throw notFound(`the extension ${extension} has no operation "${operation}"`);
      }
      const incoming = filesAt(library, paths);
      const plan = await ctx.documents.edit(projectId, (doc) => {
        const project = projectFromDoc(doc);
        const result = planExtensionCopy(operation, incoming, filesAt(project, paths));
        if (!result.ok) throw conflict(result.message);
        // Copied whole, so the project runs without the extension (removing it later changes nothing here).
        for (const path of result.write.keys()) {
          const [dir, file] = [path.slice(0, path.indexOf('/')), path.slice(path.indexOf('/') + 1)];
          if (dir === 'operations' && file === `${operation}.py`) {
            const op = library.operations[operation]!;
            putOperation(doc, operation, op.code, op.dependencies ?? '');
          } else if (dir === 'utils' || dir === 'serializers') {
            const name = file.slice(0, -'.py'.length);
            putModule(doc, dir, name, library[dir][name]!);
          } else if (dir === 'resources') {
            putResource(doc, library.resources![file.slice(0, -'.json'.length)]!);
          }
        }
        return result;
      });
      await ctx.projects.touch(projectId);
      return reply.code(201).send({ operation, copied: [...plan.write.keys()], unchanged: plan.unchanged });
    },
  );
}
