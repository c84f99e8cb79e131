import { z } from 'zod';
import { SystemStatsSchema, WorkerGpuSchema } from './worker-messages.js';

// ── the Compute view: GET /api/compute and the `compute` message of /api/events ───────────────────────────

/**
 * A worker's state. `connected`: its socket is open and it renews its leases. `lost`: one of its leases expired
 * and it has said nothing since (paused, cut off with the socket still open): it gets no job until it speaks.
 */
export const ComputeWorkerStateSchema = z.enum(['connected', 'lost']);
export type ComputeWorkerState = z.infer<typeof ComputeWorkerStateSchema>;

/** A job a worker runs now, with where to see it (when the caller may read its project). */
export const ComputeJobSchema = z.strictObject({
  jobId: z.string(),
  /** Absent for a job of a project the caller may not read: only that a slot is taken is shown. */
  executionId: z.string().optional(),
  projectId: z.string().optional(),
  node: z.string().optional(),
});
export type ComputeJobDto = z.infer<typeof ComputeJobSchema>;

export const ComputeWorkerSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  /** `local`: the server's own machine (`deepforge start`); `remote`: a `deepforge worker`. */
  kind: z.enum(['local', 'remote']),
  state: ComputeWorkerStateSchema,
  labels: z.array(z.string()),
  slots: z.number().int().min(0),
  slotsUsed: z.number().int().min(0),
  gpus: z.array(WorkerGpuSchema),
  /** The indices of its GPUs that jobs hold now. */
  gpusInUse: z.array(z.number().int()),
  running: z.array(ComputeJobSchema),
  connectedAt: z.number(),
  /** The machine's load at `statsAt`; null until it reported one (an older worker never does). */
  stats: SystemStatsSchema.nullable(),
  statsAt: z.number().nullable(),
});
export type ComputeWorkerDto = z.infer<typeof ComputeWorkerSchema>;

/** GET /api/compute: every machine that runs jobs for this server, and the jobs waiting for one (and why). */
export const ComputeStateSchema = z.strictObject({
  /**
   * `local`: jobs run on this server's machine; `workers`: only on remote workers (`deepforge start --server`);
   * `slurm`: as Slurm batch jobs (`compute.backend = slurm`), no worker connects.
   */
  mode: z.enum(['local', 'workers', 'slurm']),
  workers: z.array(ComputeWorkerSchema),
  waiting: z.array(ComputeJobSchema.extend({ reason: z.string() })),
  /** The server's clock when this was made. */
  at: z.number(),
});
export type ComputeStateDto = z.infer<typeof ComputeStateSchema>;
