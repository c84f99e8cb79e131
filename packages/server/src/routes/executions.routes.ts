import { authorOf } from '../history/history.service.js';
import type { FastifyRequest } from 'fastify';
import { stat } from 'node:fs/promises';
import { compareProblem, isWaitingJobStatus, type AttributeOverride } from '@deepforge/core';
import type { ExecutionDetails } from '@deepforge/engine';
import {
  ApiErrorSchema,
  CompareExecutionsQuerySchema,
  ExecutionComparisonSchema,
  ListExecutionPlotsResponseSchema,
  ExecutionDetailsSchema,
  ExecutionParamsSchema,
  JobLogQuerySchema,
  JobLogResponseSchema,
  JobParamsSchema,
  ListExecutionsQuerySchema,
  ListExecutionsResponseSchema,
  ListMetricSeriesResponseSchema,
  ListMetricsResponseSchema,
  MetricDownloadQuerySchema,
  MetricViewQuerySchema,
  MetricViewResponseSchema,
  ListPlotsResponseSchema,
  ListProgressResponseSchema,
  ProjectParamsSchema,
  RerunExecutionBodySchema,
  ResumeCurrentExecutionBodySchema,
  ResumeExecutionBodySchema,
  StartExecutionBodySchema,
  nodeRenames,
} from '@deepforge/protocol';
import {
  executionDetailsDto,
  executionSummaryDto,
  plotsDto,
  progressDto,
} from '../executions/execution.dto.js';
import { checkStorageChoice } from '../artifacts/storage-choice.js';
import { folderEntries, zipStream, type ZipEntry } from '../executions/execution-zip.js';
import { badRequest, notFound } from '../http/http-error.js';
import { comparedCode } from '../executions/compared-code.js';
import { folderName } from '../projects/project.service.js';
import type { ServerContext, ZodApp } from '../server.context.js';
import { metricDownload, metricListStream, metricViewDto } from '../executions/metric-view.dto.js';
import { callerOf } from '../auth/request-auth.js';

const tags = ['executions'];
const errors = {
  400: ApiErrorSchema,
  404: ApiErrorSchema,
  409: ApiErrorSchema,
  422: ApiErrorSchema,
};

/** An execution of the project; 404 when it does not exist or belongs to another project. */
async function executionOf(
  ctx: ServerContext,
  projectId: string,
  executionId: string,
): Promise<ExecutionDetails> {
  await ctx.projects.get(projectId);
  let details: ExecutionDetails;
  try {
    details = await ctx.engine.getExecution(executionId);
  } catch {
    throw notFound(`project has no execution "${executionId}"`);
  }
  if (details.id !== executionId || details.projectId !== projectId) {
    throw notFound(`project has no execution "${executionId}"`);
  }
  return details;
}

const COMPUTE_NAMES = {
  local: 'its own machine (local)',
  workers: 'remote workers',
  slurm: 'Slurm',
} as const;

/** The signed-in user who starts an execution, recorded with it. */
function startedBy(request: FastifyRequest): { startedBy?: string } {
  const user = callerOf(request.auth);
  return user ? { startedBy: user.name } : {};
}

export function registerExecutionRoutes(app: ZodApp, ctx: ServerContext): void {
  const engine = ctx.engine;

  app.post(
    '/api/projects/:projectId/executions',
    {
      schema: {
        tags,
        summary: 'Run a pipeline as the project holds it now (422 with every diagnostic when it has errors)',
        params: ProjectParamsSchema,
        body: StartExecutionBodySchema,
        response: { 201: ExecutionDetailsSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId } = request.params;
      const body = request.body;
      await checkStorageChoice(engine, body.storage, 'body.storage');
      if (body.compute !== undefined && body.compute !== engine.computeBackend) {
        throw badRequest(
          'body.compute',
          `this server runs operations on ${COMPUTE_NAMES[engine.computeBackend]}, not on ${COMPUTE_NAMES[body.compute]}`,
        );
      }
      const project = await ctx.projects.project(projectId);
      if (!Object.hasOwn(project.pipelines, body.pipeline)) {
        const known = Object.keys(project.pipelines).sort();
        throw badRequest(
          'body.pipeline',
          `project has no pipeline "${body.pipeline}"${known.length ? ` (it has: ${known.join(', ')})` : ''}`,
        );
      }
      const overrides: AttributeOverride[] = [];
      for (const [node, attrs] of Object.entries(body.attributes ?? {})) {
        for (const [attr, value] of Object.entries(attrs)) {
          // Core converts `--set` text by the attribute's type; JSON text reads back as the same value.
          overrides.push({ node, attr, raw: typeof value === 'string' ? value : JSON.stringify(value) });
        }
      }
      // The run records the version it starts from: a checkpoint first when the live state is newer.
      const version = await ctx.history.checkpoint(projectId, authorOf(request.auth), project);
      const started = await engine.startExecution({
        project,
        version,
        pipelineName: body.pipeline,
        projectDir: ctx.projects.filesDir(projectId),
        projectId,
        overrides,
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.cache !== undefined ? { cache: body.cache } : {}),
        ...(body.concurrency !== undefined ? { concurrency: body.concurrency } : {}),
        ...(body.labels !== undefined ? { labels: body.labels } : {}),
        ...(body.nodeLabels !== undefined ? { nodeLabels: body.nodeLabels } : {}),
        ...(body.gpus !== undefined ? { gpus: body.gpus } : {}),
        ...(body.nodeGpus !== undefined ? { nodeGpus: body.nodeGpus } : {}),
        ...(body.slurm !== undefined ? { slurm: body.slurm } : {}),
        ...(body.nodeSlurm !== undefined ? { nodeSlurm: body.nodeSlurm } : {}),
        ...startedBy(request),
      });
      started.done.catch((err: unknown) =>
        request.log.error({ err, executionId: started.id }, 'execution failed'),
      );
      return reply.code(201).send(executionDetailsDto(await engine.getExecution(started.id)));
    },
  );

  app.get(
    '/api/projects/:projectId/executions',
    {
      schema: {
        tags,
        summary: 'Executions of the project: searched, filtered, sorted and paged on the server',
        params: ProjectParamsSchema,
        querystring: ListExecutionsQuerySchema,
        response: { 200: ListExecutionsResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      const q = request.query;
      await ctx.projects.get(projectId);
      const page = await engine.queryExecutions({
        projectId,
        ...(q.search !== undefined ? { search: q.search } : {}),
        ...(q.status !== undefined ? { statuses: q.status } : {}),
        ...(q.pipeline !== undefined ? { pipeline: q.pipeline } : {}),
        sort: q.sort,
        order: q.order,
        limit: q.limit,
        offset: q.offset,
      });
      return { items: page.items.map(executionSummaryDto), total: page.total };
    },
  );

  app.get(
    '/api/projects/:projectId/executions/compare',
    {
      schema: {
        tags,
        summary:
          'What comparing 2 to 8 executions needs: each one with its jobs, the attributes it ran with, and the code files that differ between their snapshots',
        params: ProjectParamsSchema,
        querystring: CompareExecutionsQuerySchema,
        response: { 200: ExecutionComparisonSchema, ...errors, 413: ApiErrorSchema },
      },
    },
    async (request) => {
      const { projectId } = request.params;
      const ids = request.query.ids;
      const problem = compareProblem(ids);
      if (problem !== null) throw badRequest('query.ids', problem);
      const runs: ExecutionDetails[] = [];
      // One after the other: each reads its jobs and snapshot, and eight at once would hold the store for all.
      for (const id of ids) runs.push(await executionOf(ctx, projectId, id));
      return {
        executions: runs.map(executionDetailsDto),
        attributes: runs.map((r) => r.effectiveAttributes),
        code: await comparedCode(runs.map((r) => ({ id: r.id, codeDir: r.codeDir }))),
      };
    },
  );

  app.get(
    '/api/projects/:projectId/executions/:executionId/plots',
    {
      schema: {
        tags,
        summary: "The latest snapshot of each figure of every job of an execution (the execution's plots)",
        params: ExecutionParamsSchema,
        response: { 200: ListExecutionPlotsResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, executionId } = request.params;
      const details = await executionOf(ctx, projectId, executionId);
      const items = [];
      for (const job of details.jobs) {
        if (isWaitingJobStatus(job.status)) continue;
        const telemetry = await engine.getJobTelemetry(executionId, job.node, { metrics: false });
        for (const p of plotsDto(telemetry)) items.push({ ...p, node: job.node, operation: job.operation });
      }
      return { items };
    },
  );

  app.get(
    '/api/projects/:projectId/executions/:executionId',
    {
      schema: {
        tags,
        summary: 'One execution with its jobs',
        params: ExecutionParamsSchema,
        response: { 200: ExecutionDetailsSchema, ...errors },
      },
    },
    async (request) =>
      executionDetailsDto(await executionOf(ctx, request.params.projectId, request.params.executionId)),
  );

  app.post(
    '/api/projects/:projectId/executions/:executionId/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a running execution; answers once it has stopped',
        params: ExecutionParamsSchema,
        response: { 200: ExecutionDetailsSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, executionId } = request.params;
      await executionOf(ctx, projectId, executionId);
      await engine.cancelExecution(executionId);
      return executionDetailsDto(await engine.getExecution(executionId));
    },
  );

  app.post(
    '/api/projects/:projectId/executions/:executionId/rerun',
    {
      schema: {
        tags,
        summary: 'Run the same snapshot (pipeline, attributes, code) again as a new execution',
        params: ExecutionParamsSchema,
        body: RerunExecutionBodySchema,
        response: { 201: ExecutionDetailsSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, executionId } = request.params;
      await executionOf(ctx, projectId, executionId);
      const started = await engine.rerunExecution(executionId, { ...request.body, ...startedBy(request) });
      started.done.catch((err: unknown) =>
        request.log.error({ err, executionId: started.id }, 'execution failed'),
      );
      return reply.code(201).send(executionDetailsDto(await engine.getExecution(started.id)));
    },
  );

  app.post(
    '/api/projects/:projectId/executions/:executionId/resume',
    {
      schema: {
        tags,
        summary: 'Re-run what failed or was canceled, keeping what succeeded',
        params: ExecutionParamsSchema,
        body: ResumeExecutionBodySchema,
        response: { 200: ExecutionDetailsSchema, ...errors },
      },
    },
    async (request) => {
      const { projectId, executionId } = request.params;
      await executionOf(ctx, projectId, executionId);
      const started = await engine.resumeExecution(executionId, request.body);
      started.done.catch((err: unknown) => request.log.error({ err, executionId }, 'execution failed'));
      return executionDetailsDto(await engine.getExecution(executionId));
    },
  );

  app.post(
    '/api/projects/:projectId/executions/:executionId/resume-current',
    {
      schema: {
        tags,
        summary:
          "Resume a failed or canceled execution with the project's current code and attributes, as a new execution",
        description:
          'Runs the pipeline as the project holds it now, with the execution’s overrides, and the job cache on: jobs ' +
          'whose code, attributes and inputs did not change reuse their outputs (status cached); the rest run. ' +
          'The failed execution keeps its snapshot. 422 with every diagnostic when the pipeline has errors now.',
        params: ExecutionParamsSchema,
        body: ResumeCurrentExecutionBodySchema,
        response: { 201: ExecutionDetailsSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { projectId, executionId } = request.params;
      const failed = await executionOf(ctx, projectId, executionId);
      const project = await ctx.projects.project(projectId);
      // Nodes renamed since it ran keep their overrides and placement (docs/adr/0021).
      const renames = await ctx.documents.read(projectId, (doc) => nodeRenames(doc, failed.pipeline));
      const started = await engine.resumeWithCurrentCode(failed.id, {
        project,
        renames,
        projectDir: ctx.projects.filesDir(projectId),
        ...(request.body.name !== undefined ? { name: request.body.name } : {}),
        ...(request.body.concurrency !== undefined ? { concurrency: request.body.concurrency } : {}),
        ...startedBy(request),
      });
      started.done.catch((err: unknown) =>
        request.log.error({ err, executionId: started.id }, 'execution failed'),
      );
      return reply.code(201).send(executionDetailsDto(await engine.getExecution(started.id)));
    },
  );

  app.get(
    '/api/projects/:projectId/executions/:executionId/download',
    {
      schema: {
        tags,
        summary: 'What ran, as a zip: code snapshot, pipeline.json, execution.json and each console log',
        params: ExecutionParamsSchema,
        produces: ['application/zip'],
      },
    },
    async (request, reply) => {
      const details = await executionOf(ctx, request.params.projectId, request.params.executionId);
      const root = folderName(`${details.pipeline}-${details.id}`);
      const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n');
      const entries: ZipEntry[] = [
        { path: `${root}/execution.json`, data: json(executionDetailsDto(details)) },
        { path: `${root}/pipeline.json`, data: json(details.pipelineSnapshot) },
        ...(await folderEntries(details.codeDir, `${root}/code`)),
      ];
      for (const job of details.jobs) {
        if ((await stat(job.logFile).catch(() => undefined))?.isFile())
          entries.push({ path: `${root}/logs/${job.node}.log`, file: job.logFile });
      }
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="${root}.zip"`)
        .send(zipStream(entries));
    },
  );

  const jobRoute = <T>(
    path: string,
    summary: string,
    response: T,
  ): {
    url: string;
    schema: { tags: string[]; summary: string; params: typeof JobParamsSchema; response: T };
  } => ({
    url: `/api/projects/:projectId/executions/:executionId/jobs/:node${path}`,
    schema: { tags, summary, params: JobParamsSchema, response },
  });

  const jobOf = async (projectId: string, executionId: string, node: string) => {
    const details = await executionOf(ctx, projectId, executionId);
    if (!details.jobs.some((j) => j.node === node))
      throw notFound(`execution ${executionId} has no node "${node}"`);
    return details;
  };

  {
    const r = jobRoute('/log', 'Console log of a job, by byte range', {
      200: JobLogResponseSchema,
      ...errors,
    });
    app.get(r.url, { schema: { ...r.schema, querystring: JobLogQuerySchema } }, async (request) => {
      const { projectId, executionId, node } = request.params;
      await jobOf(projectId, executionId, node);
      return engine.readJobLog(executionId, node, {
        offset: request.query.offset,
        limit: request.query.limit,
      });
    });
  }
  {
    const r = jobRoute('/plots', 'The latest snapshot of each figure a job plotted', {
      200: ListPlotsResponseSchema,
      ...errors,
    });
    app.get(r.url, { schema: r.schema }, async (request) => {
      const { projectId, executionId, node } = request.params;
      await jobOf(projectId, executionId, node);
      return { items: plotsDto(await engine.getJobTelemetry(executionId, node, { metrics: false })) };
    });
  }
  {
    const r = jobRoute(
      '/metrics',
      'Every value a job logged, series by series (for charts: …/metrics/view; files: …/metrics/download)',
      { 200: ListMetricsResponseSchema, ...errors },
    );
    app.get(r.url, { schema: r.schema }, async (request, reply) => {
      const { projectId, executionId, node } = request.params;
      await jobOf(projectId, executionId, node);
      const names = (await engine.listMetricSeries(executionId, node)).map((s) => s.name);
      // Streamed: a million values are written page by page, not built and serialized at once.
      return reply
        .type('application/json; charset=utf-8')
        .send(metricListStream(engine, executionId, node, names) as never);
    });
  }
  {
    const r = jobRoute('/metrics/series', "The job's metric series: name, points, step range, last value", {
      200: ListMetricSeriesResponseSchema,
      ...errors,
    });
    app.get(r.url, { schema: r.schema }, async (request) => {
      const { projectId, executionId, node } = request.params;
      await jobOf(projectId, executionId, node);
      return { items: await engine.listMetricSeries(executionId, node) };
    });
  }
  {
    const r = jobRoute(
      '/metrics/view',
      'One metric series drawn for a chart of `width` pixels: exact points, or per column count, first, last, min and max (f64le-base64 arrays)',
      { 200: MetricViewResponseSchema, ...errors },
    );
    app.get(r.url, { schema: { ...r.schema, querystring: MetricViewQuerySchema } }, async (request) => {
      const { projectId, executionId, node } = request.params;
      const { name, from, to, width } = request.query;
      await jobOf(projectId, executionId, node);
      const view = await engine.readMetricView(executionId, node, name, {
        width,
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
      });
      return metricViewDto(view, width);
    });
  }
  {
    app.get(
      `/api/projects/:projectId/executions/:executionId/jobs/:node/metrics/download`,
      {
        schema: {
          tags,
          summary: 'Every point of one metric series (or all), streamed as CSV or JSON lines',
          params: JobParamsSchema,
          querystring: MetricDownloadQuerySchema,
          produces: ['text/csv', 'application/x-ndjson'],
        },
      },
      async (request, reply) => {
        const { projectId, executionId, node } = request.params;
        const { format, name } = request.query;
        const details = await jobOf(projectId, executionId, node);
        const all = await engine.listMetricSeries(executionId, node);
        if (name !== undefined && !all.some((s) => s.name === name))
          throw notFound(`job ${node} of execution ${executionId} has no metric "${name}"`);
        const names = name !== undefined ? [name] : all.map((s) => s.name);
        const file = folderName(`${details.name}-${node}${name !== undefined ? `-${name}` : ''}`);
        return reply
          .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
          .header(
            'content-disposition',
            `attachment; filename="${file}.${format === 'csv' ? 'csv' : 'jsonl'}"`,
          )
          .send(metricDownload(engine, executionId, node, names, format));
      },
    );
  }
  {
    const r = jobRoute('/progress', 'The latest state of each progress bar of a job', {
      200: ListProgressResponseSchema,
      ...errors,
    });
    app.get(r.url, { schema: r.schema }, async (request) => {
      const { projectId, executionId, node } = request.params;
      await jobOf(projectId, executionId, node);
      return { items: progressDto(await engine.getJobTelemetry(executionId, node, { metrics: false })) };
    });
  }
}
