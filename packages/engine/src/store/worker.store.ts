/**
 * The worker store port (docs/adr/0015): worker tokens, and the leases of jobs that run on remote workers. Every
 * adapter passes worker.store.conformance.ts; adapter: kysely-worker.store.ts on SQLite and PostgreSQL.
 *
 * A lease is the one record of who may run a job. A job is queued for workers (`enqueueJob`), leased by exactly
 * one worker at a time (`leaseNext`, a compare-and-set on the queued row: two workers asking at once never both
 * get it), kept by heartbeats (`renewLeases`) and lost when they stop (`expireLeases`); a record is never
 * deleted, only marked `done`. Each lease of a job has
 * the next `epoch`; everything a worker reports names the epoch it holds, and only the holder of the current
 * epoch may finish the job (`completeLease`), so a worker taken for lost cannot overwrite the work of the worker
 * that ran the job after it.
 *
 * The batch forms (`enqueueJobs`, `leaseJobs`, `completeLeases`, and `renewLeases`) do each of their items exactly
 * as the single form would, all in one transaction; `writeRound` does all three of a dispatcher's round in one:
 * one durable commit for a whole round.
 */

export interface WorkerTokenRecord {
  id: string;
  /** For people: the machine or pool it is for. Unique among tokens not revoked. */
  name: string;
  /** sha256 (hex) of the whole token; the token itself is never stored. */
  tokenHash: string;
  /** The first characters of the token, shown in lists. */
  prefix: string;
  createdAt: number;
  /** The account name of the admin who made it; `(cli)` from the command line. */
  createdBy: string;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export type LeaseState =
  /** Waiting for a worker that has every label of `labels`. */
  | 'queued'
  /** `workerId` runs it until `expiresAt` unless it renews the lease. */
  | 'leased'
  /** Its worker stopped renewing the lease and the job is not to run again (executions.onRestart = fail). */
  | 'lost'
  /**
   * Finished by its holder, or no longer wanted (canceled). Kept, not deleted, so that a later attempt of the job
   * is leased under a newer epoch than every earlier one.
   */
  | 'done';

export interface LeaseRecord {
  jobId: string;
  /** 0 while never leased; each lease adds one. */
  epoch: number;
  state: LeaseState;
  /** The labels a worker needs to run it. */
  labels: string[];
  queuedAt: number;
  /** The worker process holding (or that last held) the lease, and its token. */
  workerId: string | null;
  tokenId: string | null;
  leasedAt: number | null;
  expiresAt: number | null;
}

/** A job to lease and the worker to lease it to. */
export interface LeaseGrant {
  jobId: string;
  candidate: LeaseCandidate;
}

/** What one round of the dispatcher writes (WorkerStore.writeRound). */
export interface DispatchRound {
  /** Jobs queued (as `enqueueJobs`). */
  enqueue: readonly { jobId: string; labels: readonly string[] }[];
  /** Leases ended by their holders (as `completeLeases`). */
  complete: readonly LeaseHolder[];
  /** Jobs leased (as `leaseJobs`): after the others, so a job queued and a slot freed in the round count. */
  lease: readonly LeaseGrant[];
}

/** Who says it holds a lease, under which epoch. */
export interface LeaseHolder {
  jobId: string;
  epoch: number;
  workerId: string;
}

export interface LeaseCandidate {
  workerId: string;
  tokenId: string;
  /** A job is leased only when its labels are all among these. */
  labels: readonly string[];
}

export interface WorkerStore {
  insertWorkerToken(token: WorkerTokenRecord): Promise<void>;
  getWorkerTokenByHash(tokenHash: string): Promise<WorkerTokenRecord | undefined>;
  getWorkerToken(id: string): Promise<WorkerTokenRecord | undefined>;
  /** Oldest first, revoked ones included. */
  listWorkerTokens(): Promise<WorkerTokenRecord[]>;
  /** False when there is no such token or it was revoked already. */
  revokeWorkerToken(id: string, at: number): Promise<boolean>;
  touchWorkerToken(id: string, at: number): Promise<void>;

  /**
   * Puts a job in the queue for workers, with the labels it needs: a new lease record (epoch 0), or the job's
   * record queued again whatever its state (a new attempt: an engine restarted it, or its worker was lost). The
   * epoch is kept, so the next lease is newer than every one before and a worker still holding an old one is
   * fenced out.
   */
  enqueueJob(jobId: string, labels: readonly string[], at: number): Promise<void>;
  /** `enqueueJob` for each, in one transaction. */
  enqueueJobs(jobs: readonly { jobId: string; labels: readonly string[] }[], at: number): Promise<void>;
  /**
   * Leases to the candidate the job queued longest among those it has the labels for (one of `jobIds` when
   * given): its epoch grows by one, it expires at `at + timeoutMs`. Atomic: a job is leased to one worker only.
   */
  leaseNext(
    candidate: LeaseCandidate,
    at: number,
    timeoutMs: number,
    jobIds?: readonly string[],
  ): Promise<LeaseRecord | undefined>;
  /**
   * Leases each named job to the worker named with it, if the job is still queued and the worker has its labels:
   * its epoch grows by one, it expires at `at + timeoutMs`. One transaction; each grant is a compare-and-set on
   * the row as read, so a job is leased to one worker only, whoever else asks. Returns the leases granted, in the
   * order asked (a job named twice is leased once, to the first).
   */
  leaseJobs(grants: readonly LeaseGrant[], at: number, timeoutMs: number): Promise<LeaseRecord[]>;
  /** Extends the named leases the worker still holds under those epochs; returns the ones renewed. */
  renewLeases(
    workerId: string,
    leases: readonly { jobId: string; epoch: number }[],
    at: number,
    timeoutMs: number,
  ): Promise<{ jobId: string; epoch: number }[]>;
  /**
   * Leases that expired before `at` become `queued` again (to run elsewhere) or `lost`; returns them as they were
   * (with the worker and epoch that lost them).
   */
  expireLeases(at: number, then: 'queued' | 'lost'): Promise<LeaseRecord[]>;
  /**
   * Fenced: ends the lease (`done`) only when the worker holds it under that epoch and it has not expired into
   * another state; false otherwise, and nothing changes.
   */
  completeLease(jobId: string, epoch: number, workerId: string): Promise<boolean>;
  /** `completeLease` for each, in one transaction; one answer per item, in order. */
  completeLeases(items: readonly LeaseHolder[]): Promise<boolean[]>;
  /**
   * A round of the dispatcher in one transaction: `enqueue`, then `complete`, then `lease`, each exactly as its
   * batch form. Answers `completeLeases`'s answers and `leaseJobs`'s leases; nothing of the round is written when
   * any part fails.
   */
  writeRound(
    round: DispatchRound,
    at: number,
    timeoutMs: number,
  ): Promise<{ completed: boolean[]; leases: LeaseRecord[] }>;
  getLease(jobId: string): Promise<LeaseRecord | undefined>;
  /** `getLease` for each id, in few queries; one answer per id, in order. */
  getLeases(jobIds: readonly string[]): Promise<(LeaseRecord | undefined)[]>;
  /** By queue order (queued time, then job id). */
  listLeases(): Promise<LeaseRecord[]>;
  /** The job no longer needs a worker (canceled, or its engine gave up on it): `done`, its epoch kept. */
  removeLease(jobId: string): Promise<void>;
}
