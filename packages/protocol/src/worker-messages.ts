import { z } from 'zod';
import { OUTPUT_INLINE_MAX_BYTES, RuntimeEventSchema } from './runtime-events.js';
import { WorkerLabelSchema } from '@deepforge/core';

// ── the /api/workers/connect WebSocket (docs/adr/0015-remote-workers.md) ────────────────────────────────────
//
// A worker connects out to the server (so it works behind NAT and firewalls) with its worker token as a bearer
// token, and speaks first: `hello` with the WORKER_PROTOCOL_VERSION it speaks, its labels, slots and the jobs it
// still runs (after a reconnect). The server answers `welcome` (the lease timeout and how often to heartbeat) or
// `refused` and closes. Then the server sends `job.assign` for each job it leases to the worker, and `job.cancel`;
// the worker sends `heartbeat` (its running jobs), `job.started`, `job.log`, `job.event` and `job.finished`. Every
// job message carries the lease's `epoch`: a message under an epoch the lease no longer has (the worker was
// lost and the job leased again) is refused, never applied. Bytes travel over HTTP, not this socket: inputs from
// GET /api/workers/blobs/<hash>, outputs to PUT /api/workers/jobs/<job>/outputs/<file>, both with the token; only
// output files of at most INLINE_OUTPUT_MAX_BYTES come inside `job.finished` (version 2), and the small outputs
// of built-in serializers inside their `output` events when `job.assign` asks (`outputInlineMaxBytes`, version 3).

/**
 * Bump on any change an older peer would misread; both sides refuse a version they do not know, saying which
 * side is too old.
 */
export const WORKER_PROTOCOL_VERSION = 3;

/**
 * From version 3 a frame holds one message, or a JSON array of up to this many (what the sender had to send in one
 * turn of its event loop), handled in order. `hello`, `welcome` and `refused` travel alone.
 */
export const WORKER_FRAME_MAX_MESSAGES = 256;

/** The close code after `refused` (a version mismatch, a broken handshake, a bad message). */
export const WORKER_CLOSE_REFUSED = 4001;

/** A label: lowercase letters, digits, `.`, `_`, `-`, `:` (e.g. `gpu`, `a100`, `zone:eu`); defined in core. */
export { WorkerLabelSchema };

/** A job under one lease: the lease's epoch grows by one each time the job is leased. */
export const LeaseRefSchema = z.strictObject({
  jobId: z.string().min(1).max(200),
  epoch: z.number().int().min(1),
});
export type LeaseRef = z.infer<typeof LeaseRefSchema>;

/**
 * A job a worker runs, as its hello and heartbeats name it: the lease, and the GPUs (by index) it gave the job, so
 * that a server that restarted meanwhile knows they are taken and gives them to no other job.
 */
export const WorkerRunningJobSchema = z.strictObject({
  jobId: LeaseRefSchema.shape.jobId,
  epoch: LeaseRefSchema.shape.epoch,
  gpus: z.array(z.number().int().min(0).max(1023)).max(64).optional(),
});
export type WorkerRunningJob = z.infer<typeof WorkerRunningJobSchema>;

/** A GPU of the worker's machine, as nvidia-smi reports it. */
export const WorkerGpuSchema = z.strictObject({
  index: z.number().int().min(0),
  name: z.string().max(200),
  memoryMiB: z.number().min(0),
});
export type WorkerGpu = z.infer<typeof WorkerGpuSchema>;

const jobMessage = {
  jobId: z.string().min(1).max(200),
  epoch: z.number().int().min(1),
};

// ── worker → server ────────────────────────────────────────────────────────────────────────────────────────

/** Not `v: literal`: a peer must be able to read the version it does not speak, to say so. */
export const WorkerHelloSchema = z.strictObject({
  type: z.literal('hello'),
  v: z.number().int(),
  /** This worker process, stable across its reconnects (host, pid and a random part). */
  workerId: z.string().min(1).max(200),
  /** For people: the host name, by default. */
  name: z.string().min(1).max(200),
  labels: z.array(WorkerLabelSchema).max(64),
  /** Jobs it runs at once. */
  slots: z.number().int().min(1).max(1024),
  /** Jobs it still runs (after a reconnect): each stays its own only while its lease is live. */
  running: z.array(WorkerRunningJobSchema).max(4096),
  /** Its GPUs (none, or absent, without an NVIDIA driver). */
  gpus: z.array(WorkerGpuSchema).max(64).optional(),
  /** Who is speaking (`deepforge-worker 0.1.0`), for logs. */
  agent: z.string().max(200).optional(),
});
export type WorkerHello = z.infer<typeof WorkerHelloSchema>;

/** One GPU's load as nvidia-smi reports it. */
export const GpuStatsSchema = z.strictObject({
  index: z.number().int().min(0).max(1023),
  utilPercent: z.number().finite().min(0).max(100),
  memoryUsedMiB: z.number().finite().min(0),
  memoryTotalMiB: z.number().finite().min(0),
});
export type GpuStats = z.infer<typeof GpuStatsSchema>;

/** A machine's load when it was sampled: for the Compute view's live utilisation. */
export const SystemStatsSchema = z
  .strictObject({
    /** Of all its cores together, since the sample before. */
    cpuPercent: z.number().finite().min(0).max(100),
    cpuCount: z.number().int().min(1).max(65536),
    memoryUsedBytes: z.number().int().min(0),
    memoryTotalBytes: z.number().int().min(1),
    /** Absent or empty without an NVIDIA driver. */
    gpus: z.array(GpuStatsSchema).max(64).optional(),
  })
  .refine((s) => s.memoryUsedBytes <= s.memoryTotalBytes, {
    message: 'memoryUsedBytes is more than memoryTotalBytes',
    path: ['memoryUsedBytes'],
  })
  .refine((s) => (s.gpus ?? []).every((g) => g.memoryUsedMiB <= g.memoryTotalMiB), {
    message: "a GPU's memoryUsedMiB is more than its memoryTotalMiB",
    path: ['gpus'],
  });
export type SystemStats = z.infer<typeof SystemStatsSchema>;

/** Renews the leases of the jobs named; a job the worker no longer has is not named. */
export const WorkerHeartbeatSchema = z.strictObject({
  type: z.literal('heartbeat'),
  running: z.array(WorkerRunningJobSchema).max(4096),
  /** The worker machine's load now (optional: an older worker sends none). */
  stats: SystemStatsSchema.optional(),
});

/** The job's process exists (its pid on the worker's machine). */
export const WorkerJobStartedSchema = z.strictObject({
  type: z.literal('job.started'),
  ...jobMessage,
  pid: z.number().int(),
});

/** The job could not be started at all (no interpreter, a missing input): it fails with this message. */
export const WorkerJobStartFailedSchema = z.strictObject({
  type: z.literal('job.start-failed'),
  ...jobMessage,
  message: z.string().max(64 * 1024),
  /** `environment`: the operation's environment could not be had (docs/adr/0017); absent: anything else. */
  kind: z.literal('environment').optional(),
});

export const WorkerJobLogSchema = z.strictObject({
  type: z.literal('job.log'),
  ...jobMessage,
  stream: z.enum(['stdout', 'stderr', 'engine']),
  text: z.string(),
  transient: z.boolean().optional(),
});

/** A runtime event of the job's harness other than `log` (plots, metrics, progress, outputs, errors). */
export const WorkerJobEventSchema = z.strictObject({
  type: z.literal('job.event'),
  ...jobMessage,
  event: RuntimeEventSchema,
});

/** The name of an output file a worker hands over (as the harness names them in the job's output dir). */
export const OUTPUT_FILE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,199}$/;
/** An output file this small travels inside `job.finished` instead of its own upload (one request less per job). */
export const INLINE_OUTPUT_MAX_BYTES = 64 * 1024;
/** At most this many output files inside one `job.finished`; any others are uploaded. */
export const INLINE_OUTPUTS_MAX = 16;

/**
 * The job ended. Its outputs' files were uploaded before this is sent, or (the small ones) come in `files`; the
 * server refuses it (`job.refused`) when the lease is no longer this worker's under this epoch, and then writes
 * none of them.
 */
export const WorkerJobFinishedSchema = z.strictObject({
  type: z.literal('job.finished'),
  ...jobMessage,
  outcome: z.enum(['exited', 'timeout', 'canceled']),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stderrTail: z.array(z.string()).max(1000),
  logTruncated: z.boolean(),
  badEvents: z.number().int().min(0),
  /** Output files of at most INLINE_OUTPUT_MAX_BYTES, base64: written by the server as their uploads would be. */
  files: z
    .array(
      z.strictObject({
        file: z.string().regex(OUTPUT_FILE_NAME),
        base64: z
          .string()
          .max(Math.ceil(INLINE_OUTPUT_MAX_BYTES / 3) * 4)
          .regex(/^[A-Za-z0-9+/]*={0,2}$/),
      }),
    )
    .max(INLINE_OUTPUTS_MAX)
    .optional(),
  /** Outputs the worker stored in the bucket itself (`job.assign` storage s3), by output name. */
  stored: z
    .record(z.string(), z.strictObject({ hash: z.string().min(1).max(200), size: z.number().int().min(0) }))
    .optional(),
});
export type WorkerJobFinished = z.infer<typeof WorkerJobFinishedSchema>;

export const WorkerMessageSchema = z.discriminatedUnion('type', [
  WorkerHelloSchema,
  WorkerHeartbeatSchema,
  WorkerJobStartedSchema,
  WorkerJobStartFailedSchema,
  WorkerJobLogSchema,
  WorkerJobEventSchema,
  WorkerJobFinishedSchema,
]);
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>;

// ── server → worker ────────────────────────────────────────────────────────────────────────────────────────

export const ServerWelcomeSchema = z.strictObject({
  type: z.literal('welcome'),
  v: z.number().int(),
  /** A lease not renewed for this long is lost: the job runs elsewhere and this worker's result is refused. */
  leaseTimeoutMs: z.number().int().min(1),
  /** How often to send `heartbeat`. */
  heartbeatMs: z.number().int().min(1),
  /** Of the jobs `hello` named, those whose leases are gone: stop them. */
  lost: z.array(LeaseRefSchema),
});

export const WORKER_REFUSAL_CODES = [
  'worker-too-old',
  'server-too-old',
  'hello-expected',
  'bad-message',
  /** Another connection of the same worker id is live. */
  'duplicate-worker',
] as const;
export const ServerRefusedSchema = z.strictObject({
  type: z.literal('refused'),
  code: z.enum(WORKER_REFUSAL_CODES),
  message: z.string(),
});

/** An input or reference: fetched by content id (GET /api/workers/blobs/<hash>) into the worker's cache. */
export const WorkerBlobSchema = z.strictObject({
  hash: z.string().min(1).max(200),
  size: z.number().int().min(0),
  serializer: z.string(),
});
export type WorkerBlob = z.infer<typeof WorkerBlobSchema>;

/**
 * The S3 bucket the server's artifacts are in, for a worker to read inputs from and store outputs in itself, with
 * its own credentials (the standard AWS variables and profiles): the server never sends one.
 */
export const WorkerS3StorageSchema = z.strictObject({
  kind: z.literal('s3'),
  bucket: z.string().min(1).max(255),
  prefix: z.string().max(1024),
  endpoint: z.string().max(2048).optional(),
  region: z.string().max(100).optional(),
  forcePathStyle: z.boolean(),
});
export type WorkerS3Storage = z.infer<typeof WorkerS3StorageSchema>;

/** One job leased to the worker: everything it needs to run it but the bytes of its inputs. */
export const ServerJobAssignSchema = z.strictObject({
  type: z.literal('job.assign'),
  ...jobMessage,
  /** For the worker's console and directories. */
  executionId: z.string(),
  node: z.string(),
  /** The execution's code snapshot: relative path → text. */
  code: z.record(z.string(), z.string()),
  operation: z.strictObject({ file: z.string(), className: z.string() }),
  attributes: z.record(z.string(), z.unknown()),
  inputs: z.record(z.string(), WorkerBlobSchema),
  references: z.record(z.string(), WorkerBlobSchema),
  outputs: z.array(z.string()),
  /** Milliseconds the operation may run; 0 = no limit. */
  timeoutMs: z.number().int().min(0),
  logMaxBytes: z.number().int().min(1),
  /** The project's secrets, as environment variables only (never written to disk by the worker). */
  secretEnv: z.record(z.string(), z.string()),
  /** Absent: inputs and outputs go through the server's worker routes. S3: straight from and to the bucket. */
  storage: WorkerS3StorageSchema.optional(),
  /**
   * The indices (as in the worker's `hello`) of the GPUs leased with the job: it runs with CUDA_VISIBLE_DEVICES set
   * to exactly these, and the server leases them to no other job until it ends. Absent: none.
   */
  gpus: z.array(z.number().int().min(0)).max(64).optional(),
  /**
   * Outputs this small (built-in serializers) come in their `output` events, which the worker passes on as the
   * harness wrote them: the job's spec asks the harness for it (`outputInlineMaxBytes`, docs/adr/0035). Sent only
   * when the server stores outputs itself (not with `storage` s3). Absent: every output is a file.
   */
  outputInlineMaxBytes: z.number().int().min(1).max(OUTPUT_INLINE_MAX_BYTES).optional(),
});
export type ServerJobAssign = z.infer<typeof ServerJobAssignSchema>;

/** Stop the job: canceled by a user, or its lease is gone (the worker was taken for lost). */
export const ServerJobCancelSchema = z.strictObject({
  type: z.literal('job.cancel'),
  ...jobMessage,
  reason: z.string(),
});

/** The answer to `job.finished`: accepted (the job's result is recorded), or refused (a lost lease). */
export const ServerJobResultSchema = z.strictObject({
  type: z.literal('job.result'),
  ...jobMessage,
  accepted: z.boolean(),
  message: z.string().optional(),
});

export const ServerMessageSchema = z.discriminatedUnion('type', [
  ServerWelcomeSchema,
  ServerRefusedSchema,
  ServerJobAssignSchema,
  ServerJobCancelSchema,
  ServerJobResultSchema,
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** The first words of a refusal when the versions differ, so each side says which one is too old. */
export function workerVersionProblem(
  workerV: number,
): { code: 'worker-too-old' | 'server-too-old'; message: string } | undefined {
  if (workerV === WORKER_PROTOCOL_VERSION) return undefined;
  return workerV < WORKER_PROTOCOL_VERSION
    ? {
        code: 'worker-too-old',
        message: `this worker speaks worker protocol ${workerV}, the server ${WORKER_PROTOCOL_VERSION}: update the worker's DeepForge`,
      }
    : {
        code: 'server-too-old',
        message: `this worker speaks worker protocol ${workerV}, the server only ${WORKER_PROTOCOL_VERSION}: update the server's DeepForge`,
      };
}

// ── worker tokens (REST) ───────────────────────────────────────────────────────────────────────────────────

export const CreateWorkerTokenBodySchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
});
export const WorkerTokenSummarySchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});
export const CreateWorkerTokenResponseSchema = z.strictObject({
  /** Shown once: only its sha256 is stored. */
  token: z.string(),
  record: WorkerTokenSummarySchema,
});
export type WorkerTokenDto = z.infer<typeof WorkerTokenSummarySchema>;
export type CreatedWorkerToken = z.infer<typeof CreateWorkerTokenResponseSchema>;
export const ConnectedWorkerSchema = z.strictObject({
  workerId: z.string(),
  name: z.string(),
  tokenName: z.string(),
  labels: z.array(z.string()),
  slots: z.number().int(),
  gpus: z.array(WorkerGpuSchema),
  running: z.array(LeaseRefSchema),
  /** The indices of its GPUs that jobs hold (leased with them, or named by the worker as held). */
  gpusInUse: z.array(z.number().int()),
  connectedAt: z.number(),
  /** `lost`: a lease of it expired and it has said nothing since (see the Compute view). */
  state: z.enum(['connected', 'lost']),
  /** Its machine's load as its last heartbeat said (null: none yet, or an older worker). */
  stats: SystemStatsSchema.nullable(),
  statsAt: z.number().nullable(),
});
export const ListWorkersResponseSchema = z.strictObject({ items: z.array(ConnectedWorkerSchema) });
export type ConnectedWorker = z.infer<typeof ConnectedWorkerSchema>;
