import { JsonValueSchema } from '@deepforge/core';
import { z } from 'zod';
import { ExecutionDetailsSchema, ExecutionIdSchema, listOf, PlotSchema } from './rest-api.js';

/**
 * Comparing executions (issue 13). GET /api/projects/:projectId/executions/compare?ids=a,b,… answers what the
 * comparison needs that the execution routes do not: the attributes each run ran with (defaults included) and
 * the code files whose text differs between the runs' snapshots. Outcomes come with each execution's details;
 * the plots of each run from GET …/executions/:executionId/plots. The comparing itself is core's
 * (execution.compare.ts), done by the client, like the History view's diffs.
 */

/** `ids`: 2 to 8 execution ids, comma separated (the count is checked by the route, with core's words). */
export const CompareExecutionsQuerySchema = z.strictObject({
  ids: z
    .string()
    .max(1000)
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(ExecutionIdSchema)),
});
export type CompareExecutionsQuery = z.input<typeof CompareExecutionsQuerySchema>;

export const CodeFileTextsSchema = z.strictObject({
  path: z.string(),
  /** Per execution, in the order asked: the text, or null where its snapshot has no such file. */
  texts: z.array(z.string().nullable()),
  /** Set when the file is too large to send: `texts` then holds each execution's content hash instead. */
  omitted: z.string().optional(),
});

export const ExecutionComparisonSchema = z.strictObject({
  /** In the order asked. */
  executions: z.array(ExecutionDetailsSchema),
  /** Per execution: node → attribute → the value it ran with (defaults included). */
  attributes: z.array(z.record(z.string(), z.record(z.string(), JsonValueSchema))),
  code: z.strictObject({
    /** Only the files whose text is not the same in every execution. */
    files: z.array(CodeFileTextsSchema),
    /** How many files every snapshot has with the same text. */
    unchanged: z.number().int(),
  }),
});
export type ExecutionComparisonDto = z.infer<typeof ExecutionComparisonSchema>;

/** GET …/executions/:executionId/plots — the latest snapshot of each figure of every job, in pipeline order. */
export const ExecutionPlotSchema = PlotSchema.extend({ node: z.string(), operation: z.string() });
export type ExecutionPlotDto = z.infer<typeof ExecutionPlotSchema>;
export const ListExecutionPlotsResponseSchema = listOf(ExecutionPlotSchema);
