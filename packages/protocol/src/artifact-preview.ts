import { z } from 'zod';

/**
 * GET …/artifacts/:artifactId/preview — what the data looks like, read by Python. In a module of its own: the
 * engine reads previews without the rest of the REST API's schemas (`@deepforge/protocol/engine`).
 */
export const ArtifactPreviewSchema = z.strictObject({
  pyType: z.string(),
  /** A short repr (truncated), for small values and as a fallback. */
  repr: z.string().optional(),
  /** numpy arrays and tensors. */
  shape: z.array(z.number().int()).optional(),
  dtype: z.string().optional(),
  min: z.number().nullable().optional(),
  max: z.number().nullable().optional(),
  /** Length of sequences and mappings. */
  length: z.number().int().optional(),
  /** A PNG (base64) for image-like arrays. */
  png: z.string().optional(),
  /** Why no fuller preview could be made (unknown serializer, unreadable bytes). */
  error: z.string().optional(),
});
export type ArtifactPreview = z.infer<typeof ArtifactPreviewSchema>;
