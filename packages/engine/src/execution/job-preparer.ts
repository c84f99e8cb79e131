import { architectureModulePath, DEPENDENCIES_SUFFIX, type PortRef } from '@deepforge/core';
import type { JobError } from '@deepforge/protocol';
import type { JobSecrets } from '../accounts/accounts.service.js';
import type { ArtifactContext, ArtifactService } from '../artifact.service.js';
import type { PythonInfo } from '../compute/python-interpreter.js';
import { cacheKey } from '../pipeline-plan.js';
import type { ArtifactStorage } from '../storage/artifact.storage.js';
import type { ExecutionStore, JobPatch, JobRecord, NewJobOutput } from '../store/execution.store.js';
import type { ExecutionEvents } from './execution-events.js';
import type { ExecutionSnapshot } from './execution-snapshot.js';
import { jobErrorOf } from './job-error.js';

/**
 * A blob a job reads (an input or a reference). Its local file is only got when the job starts (JobRunner), from
 * the storage in place or through the input cache: a job waiting in the queue holds no file and no download.
 */
export interface JobBlob {
  hash: string;
  serializer: string;
  /** For messages: `input data (artifact "six", sha256:…)`. */
  what: string;
}

/** A job waiting for a slot, with everything it needs to start. */
export interface ReadyJob {
  inputs: Record<string, JobBlob>;
  references: Record<string, JobBlob>;
  /** References naming an architecture: the generated module the harness builds a fresh instance of. */
  architectures?: Record<string, { module: string; className: string }>;
  cacheKey: string | null;
  /**
   * The secrets the job gets as environment variables: the values its cache key was made with (read once, so
   * that a secret changed meanwhile cannot run under the key of the old value).
   */
  secretEnv: Record<string, string>;
  /** Set when the job cannot run (a reference that cannot be found): it fails as soon as it starts. */
  error?: JobError;
}

export interface JobPreparerContext {
  artifacts: ArtifactService;
  store: Pick<ExecutionStore, 'findCacheCandidates'>;
  storage: ArtifactStorage;
  python: PythonInfo;
  now(): number;
  snapshot: ExecutionSnapshot;
  /** Reuse the outputs of an earlier identical job. */
  cache: boolean;
  /** The code snapshot's files by relative path: part of every cache key. */
  code: ReadonlyMap<string, string>;
  /** Where artifact names in references are looked up. */
  artifactContext: ArtifactContext;
  /** The secrets of the execution's project, as its jobs get them (read for each job). */
  secrets(): Promise<JobSecrets>;
}

/** What the preparer reads and changes of the run it works for. */
export interface JobPreparerHost {
  job(node: string): JobRecord;
  /** An output recorded by a job of this run. */
  outputOf(from: PortRef): NewJobOutput | undefined;
  /** Records a cache hit: the job `cached`, with the outputs it reuses. */
  completeCached(node: string, outputs: NewJobOutput[], patch: JobPatch): Promise<void>;
}

/**
 * Works out what a runnable operation needs while it is still pending: the files of its inputs and references
 * and its cache key, or the outputs of an identical earlier job when the cache has them.
 */
export class JobPreparer {
  constructor(
    private readonly ctx: JobPreparerContext,
    private readonly host: JobPreparerHost,
    private readonly events: Pick<ExecutionEvents, 'logLine'>,
  ) {}

  /**
   * `cached` when the cache had the job's outputs (the job is `cached` then), what it needs to start otherwise
   * (with an `error` when it cannot run), or undefined for a node that is not an operation.
   */
  async prepare(node: string): Promise<ReadyJob | 'cached' | undefined> {
    const { ctx } = this;
    const planned = ctx.snapshot.plan.nodes[node]!;
    if (planned.kind !== 'operation') return undefined;
    const job = this.host.job(node);
    const inputs: Record<string, JobBlob> = {};
    const inputKeys: Record<string, string> = {};
    const notReady = (error: JobError): ReadyJob => ({
      inputs,
      references: {},
      cacheKey: null,
      secretEnv: {},
      error,
    });
    for (const [port, from] of Object.entries(planned.inputs)) {
      const out = this.host.outputOf(from);
      if (!out)
        return notReady({
          kind: 'engine',
          message: `the output ${from.node}.${from.port} it needs was not recorded`,
        });
      inputs[port] = {
        hash: out.hash,
        serializer: out.serializer,
        what: `input ${port} (${this.sourceOf(from)}, ${out.hash})`,
      };
      inputKeys[port] = out.hash;
    }
    const references: Record<string, JobBlob> = {};
    const referenceKeys: Record<string, string> = {};
    const architectures: Record<string, { module: string; className: string }> = {};
    const pipelineNode = ctx.snapshot.pipeline.nodes.find((n) => n.id === node)!;
    for (const [ref, artifactName] of Object.entries(pipelineNode.references)) {
      // A project architecture wins over an artifact of the same name (docs/project-format.md).
      if (ctx.code.has(architectureModulePath(artifactName))) {
        architectures[ref] = { module: `resources.${artifactName}`, className: artifactName };
        // The code itself is in the key below, with every architecture it may nest.
        referenceKeys[ref] = `resource:${artifactName}`;
        continue;
      }
      try {
        const a = await ctx.artifacts.resolve(artifactName, ctx.artifactContext);
        references[ref] = {
          hash: a.hash,
          serializer: a.serializer,
          what: `reference ${ref} (artifact "${artifactName}", ${a.hash})`,
        };
        referenceKeys[ref] = a.hash;
      } catch (err) {
        return notReady(jobErrorOf(err, `reference ${ref}`));
      }
    }
    const secrets = await ctx.secrets();
    const key = cacheKey({
      operationCode: ctx.code.get(`operations/${planned.operation}.py`) ?? '',
      supportCode: Object.fromEntries(
        // The environment file too: other packages can compute other outputs (docs/adr/0017).
        [...ctx.code].filter(
          ([rel]) =>
            rel.startsWith('utils/') ||
            rel.startsWith('serializers/') ||
            rel.startsWith('resources/') ||
            rel === `operations/${planned.operation}${DEPENDENCIES_SUFFIX}`,
        ),
      ),
      attributes: ctx.snapshot.effectiveAttributes[node] ?? {},
      inputs: inputKeys,
      references: referenceKeys,
      runtimeVersion: ctx.python.runtimeVersion,
      interpreter: `${ctx.python.executable} ${ctx.python.version}`,
      ...(secrets.digest !== undefined ? { secrets: secrets.digest } : {}),
    });
    if (ctx.cache) {
      const { projectId, fallbackProjectId } = ctx.artifactContext;
      const candidates = await ctx.store.findCacheCandidates(key, 5, projectId);
      // A folder project's first runs reuse what CLI runs of the same jobs did before it existed (ADR 0028).
      if (fallbackProjectId !== undefined)
        candidates.push(...(await ctx.store.findCacheCandidates(key, 5, fallbackProjectId)));
      for (const candidate of candidates) {
        if (candidate.job.id === job.id) continue;
        const names = new Set(candidate.outputs.map((o) => o.name));
        if (!planned.outputs.every((o) => names.has(o))) continue;
        const present = await Promise.all(candidate.outputs.map((o) => ctx.storage.has(o.hash)));
        if (!present.every(Boolean)) continue;
        const outs = candidate.outputs.map(({ name, hash, size, serializer, pyType }) => ({
          name,
          hash,
          size,
          serializer,
          pyType,
        }));
        const now = ctx.now();
        await this.host.completeCached(node, outs, {
          cacheKey: key,
          cachedFrom: candidate.job.id,
          startedAt: now,
          endedAt: now,
          error: null,
          exitCode: null,
        });
        await this.events.logLine(
          node,
          `[deepforge] cached: reusing the outputs of ${candidate.job.id} (cache key ${key.slice(0, 12)})`,
        );
        return 'cached';
      }
    }
    return {
      inputs,
      references,
      ...(Object.keys(architectures).length > 0 ? { architectures } : {}),
      cacheKey: key,
      secretEnv: secrets.env,
    };
  }

  /** Where an input comes from, for messages: the artifact of an Input node, or another job's output. */
  private sourceOf(from: PortRef): string {
    const { snapshot } = this.ctx;
    if (snapshot.plan.nodes[from.node]?.kind === 'input') {
      const artifact = snapshot.attributes[from.node]?.artifact;
      if (typeof artifact === 'string') return `artifact "${artifact}"`;
    }
    return `output ${from.node}.${from.port}`;
  }
}
