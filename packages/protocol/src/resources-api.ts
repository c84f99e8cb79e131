import { z } from 'zod';
import { ArchitectureSchema } from '@deepforge/core';
import { DiagnosticSchema, ExistingNameParamSchema, listOf, ProjectIdSchema } from './rest-api.js';

/**
 * The REST API of architectures (resources/<Name>.json, docs/architectures.md): the graphs themselves (kept in
 * the project document), the layer catalog, and checks by PyTorch. What the Python side produces (catalog,
 * shapes) is typed loosely here (z.object, unknown keys kept) so that a newer runtime's extra fields pass.
 */

export const ResourceParamsSchema = z.strictObject({
  projectId: ProjectIdSchema,
  name: ExistingNameParamSchema,
});

/** GET /api/projects/:projectId/resources */
export const ResourceSummarySchema = z.strictObject({
  name: z.string(),
  layers: z.number().int(),
  /** Problems found without PyTorch (structure, missing architectures); classes and arguments need /check. */
  diagnostics: z.array(DiagnosticSchema),
});
export const ListResourcesResponseSchema = listOf(ResourceSummarySchema);

/** GET / PUT /api/projects/:projectId/resources/:name */
export const ResourceResponseSchema = z.strictObject({
  architecture: ArchitectureSchema,
  /** The generated PyTorch module; null when the graph cannot be code (a cycle, an edge to nowhere). */
  code: z.string().nullable(),
  diagnostics: z.array(DiagnosticSchema),
});
export type ResourceResponse = z.infer<typeof ResourceResponseSchema>;

/** POST /api/projects/:projectId/resources/:name/rename: references to it follow. */
export const RenameResourceBodySchema = z.strictObject({ to: z.string() });

const LayerArgumentDtoSchema = z.object({
  name: z.string(),
  types: z.array(z.string()),
  required: z.boolean(),
  default: z.unknown().optional(),
  defaultSource: z.string().optional(),
  annotation: z.string().optional(),
});

/** GET /api/projects/:projectId/layers: torch.nn's layers and the project's custom ones. */
export const LayerCatalogResponseSchema = z.object({
  python: z.string(),
  torchVersion: z.string(),
  layers: z.record(
    z.string(),
    z.object({
      name: z.string(),
      source: z.enum(['torch', 'custom']),
      doc: z.string(),
      arguments: z.array(LayerArgumentDtoSchema),
      extraArguments: z.boolean(),
      inputs: z.object({ min: z.number().int(), max: z.number().int().nullable() }),
    }),
  ),
  errors: z.array(z.object({ file: z.string(), message: z.string(), line: z.number().int().optional() })),
});

const ShapeSchema = z.array(z.unknown());

/**
 * POST /api/projects/:projectId/resources/:name/check, optional body: the graph as the editor has it, checked
 * instead of the server's copy of the document (which may not have the editor's last edit yet), so an answer is
 * about exactly the version the editor asked about. The project's other architectures and utils/ come from the
 * server's copy.
 */
export const CheckArchitectureBodySchema = z
  .strictObject({ architecture: ArchitectureSchema.optional() })
  .nullish();

/** POST /api/projects/:projectId/resources/:name/check */
export const ArchitectureCheckResponseSchema = z.strictObject({
  diagnostics: z.array(DiagnosticSchema),
  /** Null when the graph cannot run at all (see diagnostics). */
  shapes: z
    .object({
      ok: z.boolean(),
      firstError: z.string().nullable(),
      layers: z.array(
        z.object({
          id: z.string(),
          layer: z.string(),
          outputShape: ShapeSchema.nullable(),
          inputShapes: z.array(ShapeSchema.nullable()).optional(),
          parameters: z.number().nullable().optional(),
          trainable: z.number().nullable().optional(),
          error: z.string().optional(),
          fix: z.object({ argument: z.string(), value: z.number() }).optional(),
          skipped: z.boolean().optional(),
        }),
      ),
      edges: z.array(z.object({ from: z.string(), to: z.string(), shape: ShapeSchema.nullable() })),
      outputs: z.array(z.object({ id: z.string(), shape: ShapeSchema.nullable() })),
      total: z.object({ parameters: z.number(), trainable: z.number() }),
    })
    .nullable(),
});
