import type { Kysely, Selectable } from 'kysely';
import {
  num,
  numOrNull,
  type Database,
  type JobLeasesTable,
  type KyselyStoreOptions,
  type WorkerTokensTable,
} from './kysely.database.js';
import type {
  LeaseCandidate,
  DispatchRound,
  LeaseGrant,
  LeaseHolder,
  LeaseRecord,
  LeaseState,
  WorkerStore,
  WorkerTokenRecord,
} from './worker.store.js';

/** Candidates read per round of leaseNext: a worker lacking labels skips those jobs without reading the queue. */
const CANDIDATES_PER_ROUND = 200;
/** Job ids per `in (…)` list of a batch (far below either dialect's limit on bound parameters). */
const IDS_PER_QUERY = 500;

function tokenOf(r: Selectable<WorkerTokensTable>): WorkerTokenRecord {
  return {
    id: r.id,
    name: r.name,
    tokenHash: r.token_hash,
    prefix: r.prefix,
    createdAt: num(r.created_at),
    createdBy: r.created_by,
    lastUsedAt: numOrNull(r.last_used_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function leaseOf(r: Selectable<JobLeasesTable>): LeaseRecord {
  return {
    jobId: r.job_id,
    epoch: Number(r.epoch),
    state: r.state as LeaseState,
    labels: JSON.parse(r.labels) as string[],
    queuedAt: num(r.queued_at),
    workerId: r.worker_id,
    tokenId: r.token_id,
    leasedAt: numOrNull(r.leased_at),
    expiresAt: numOrNull(r.expires_at),
  };
}

/**
 * The worker store, written once with Kysely's query builder. Every change of a lease is one compare-and-set
 * UPDATE (`… where state = ? and epoch = ?`), atomic on both dialects without a transaction: PostgreSQL re-checks
 * the condition on the row it waited for, SQLite has one writer at a time. The batch forms run the same
 * compare-and-sets in one transaction, so a round of the dispatcher costs one durable commit, not one per job.
 */
/** Job ids per query when reading many leases (well inside every SQLite's and PostgreSQL's parameter limit). */
const LEASE_READ_CHUNK = 500;
/** Jobs per insert when queueing many (5 parameters each). */
const ENQUEUE_CHUNK = 200;

export class KyselyWorkerStore implements WorkerStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly options: Pick<KyselyStoreOptions, 'db' | 'transaction'>) {
    this.db = options.db;
  }

  async insertWorkerToken(t: WorkerTokenRecord): Promise<void> {
    await this.db
      .insertInto('worker_tokens')
      .values({
        id: t.id,
        name: t.name,
        token_hash: t.tokenHash,
        prefix: t.prefix,
        created_at: t.createdAt,
        created_by: t.createdBy,
        last_used_at: t.lastUsedAt,
        revoked_at: t.revokedAt,
      })
      .execute();
  }

  async getWorkerTokenByHash(tokenHash: string): Promise<WorkerTokenRecord | undefined> {
    const r = await this.db
      .selectFrom('worker_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return r && tokenOf(r);
  }

  async getWorkerToken(id: string): Promise<WorkerTokenRecord | undefined> {
    const r = await this.db.selectFrom('worker_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r && tokenOf(r);
  }

  async listWorkerTokens(): Promise<WorkerTokenRecord[]> {
    const rows = await this.db
      .selectFrom('worker_tokens')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(tokenOf);
  }

  async revokeWorkerToken(id: string, at: number): Promise<boolean> {
    const res = await this.db
      .updateTable('worker_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async touchWorkerToken(id: string, at: number): Promise<void> {
    await this.db.updateTable('worker_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async enqueueJob(jobId: string, labels: readonly string[], at: number): Promise<void> {
    await enqueueIn(this.db, [{ jobId, labels }], at);
  }

  async enqueueJobs(
    jobs: readonly { jobId: string; labels: readonly string[] }[],
    at: number,
  ): Promise<void> {
    if (jobs.length === 0) return;
    await this.options.transaction((trx) => enqueueManyIn(trx, jobs, at));
  }

  async leaseNext(
    candidate: LeaseCandidate,
    at: number,
    timeoutMs: number,
    jobIds?: readonly string[],
  ): Promise<LeaseRecord | undefined> {
    if (jobIds && jobIds.length === 0) return undefined;
    const has = new Set(candidate.labels);
    let after: { queuedAt: number; jobId: string } | undefined;
    for (;;) {
      let q = this.db
        .selectFrom('job_leases')
        .selectAll()
        .where('state', '=', 'queued')
        .orderBy('queued_at')
        .orderBy('job_id')
        .limit(CANDIDATES_PER_ROUND);
      if (jobIds) q = q.where('job_id', 'in', [...jobIds]);
      if (after) {
        const { queuedAt, jobId } = after;
        q = q.where((eb) =>
          eb.or([
            eb('queued_at', '>', queuedAt),
            eb.and([eb('queued_at', '=', queuedAt), eb('job_id', '>', jobId)]),
          ]),
        );
      }
      const rows = (await q.execute()).map(leaseOf);
      for (const row of rows) {
        if (!row.labels.every((l) => has.has(l))) continue;
        const leased = await leaseRowIn(this.db, row, candidate, at, timeoutMs);
        if (leased) return leased;
      }
      if (rows.length < CANDIDATES_PER_ROUND) return undefined;
      const last = rows[rows.length - 1]!;
      after = { queuedAt: last.queuedAt, jobId: last.jobId };
    }
  }

  async leaseJobs(grants: readonly LeaseGrant[], at: number, timeoutMs: number): Promise<LeaseRecord[]> {
    if (grants.length === 0) return [];
    return this.options.transaction((trx) => leaseIn(trx, grants, at, timeoutMs));
  }

  async renewLeases(
    workerId: string,
    leases: readonly { jobId: string; epoch: number }[],
    at: number,
    timeoutMs: number,
  ): Promise<{ jobId: string; epoch: number }[]> {
    const renew = async (db: Kysely<Database>): Promise<{ jobId: string; epoch: number }[]> => {
      const renewed: { jobId: string; epoch: number }[] = [];
      for (const l of leases) {
        const res = await db
          .updateTable('job_leases')
          .set({ expires_at: at + timeoutMs })
          .where('job_id', '=', l.jobId)
          .where('epoch', '=', l.epoch)
          .where('worker_id', '=', workerId)
          .where('state', '=', 'leased')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 1) renewed.push({ jobId: l.jobId, epoch: l.epoch });
      }
      return renewed;
    };
    if (leases.length === 0) return [];
    return leases.length === 1 ? renew(this.db) : this.options.transaction(renew);
  }

  async expireLeases(at: number, then: 'queued' | 'lost'): Promise<LeaseRecord[]> {
    const rows = (
      await this.db
        .selectFrom('job_leases')
        .selectAll()
        .where('state', '=', 'leased')
        .where('expires_at', '<', at)
        .orderBy('expires_at')
        .execute()
    ).map(leaseOf);
    const expired: LeaseRecord[] = [];
    for (const row of rows) {
      // Only as read: a heartbeat that renewed it meanwhile (a later expires_at) keeps it.
      const res = await this.db
        .updateTable('job_leases')
        .set(then === 'queued' ? { state: 'queued', queued_at: at, expires_at: null } : { state: 'lost' })
        .where('job_id', '=', row.jobId)
        .where('state', '=', 'leased')
        .where('epoch', '=', row.epoch)
        .where('expires_at', '<', at)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) === 1) expired.push(row);
    }
    return expired;
  }

  async completeLease(jobId: string, epoch: number, workerId: string): Promise<boolean> {
    return completeIn(this.db, { jobId, epoch, workerId });
  }

  async completeLeases(items: readonly LeaseHolder[]): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.options.transaction((trx) => completeManyIn(trx, items));
  }

  async writeRound(
    round: DispatchRound,
    at: number,
    timeoutMs: number,
  ): Promise<{ completed: boolean[]; leases: LeaseRecord[] }> {
    if (round.enqueue.length + round.complete.length + round.lease.length === 0) {
      return { completed: [], leases: [] };
    }
    return this.options.transaction(async (trx) => {
      await enqueueManyIn(trx, round.enqueue, at);
      const completed = await completeManyIn(trx, round.complete);
      const leases = round.lease.length > 0 ? await leaseIn(trx, round.lease, at, timeoutMs) : [];
      return { completed, leases };
    });
  }

  async getLease(jobId: string): Promise<LeaseRecord | undefined> {
    const r = await this.db
      .selectFrom('job_leases')
      .selectAll()
      .where('job_id', '=', jobId)
      .executeTakeFirst();
    return r && leaseOf(r);
  }

  async getLeases(jobIds: readonly string[]): Promise<(LeaseRecord | undefined)[]> {
    const found = new Map<string, LeaseRecord>();
    for (let i = 0; i < jobIds.length; i += LEASE_READ_CHUNK) {
      const chunk = [...new Set(jobIds.slice(i, i + LEASE_READ_CHUNK))];
      const rows = await this.db.selectFrom('job_leases').selectAll().where('job_id', 'in', chunk).execute();
      for (const r of rows) found.set(r.job_id, leaseOf(r));
    }
    return jobIds.map((id) => found.get(id));
  }

  async listLeases(): Promise<LeaseRecord[]> {
    const rows = await this.db
      .selectFrom('job_leases')
      .selectAll()
      .orderBy('queued_at')
      .orderBy('job_id')
      .execute();
    return rows.map(leaseOf);
  }

  async removeLease(jobId: string): Promise<void> {
    // Marked, not deleted: the epoch must go on growing if the job runs again.
    await this.db
      .updateTable('job_leases')
      .set({ state: 'done', expires_at: null })
      .where('job_id', '=', jobId)
      .execute();
  }
}

/**
 * Queues jobs as `enqueueJobs` does, in the transaction given: a job given twice is queued once, with the labels
 * given last (one row may not be inserted twice in one statement).
 */
async function enqueueManyIn(
  db: Kysely<Database>,
  jobs: readonly { jobId: string; labels: readonly string[] }[],
  at: number,
): Promise<void> {
  const last = [...new Map(jobs.map((j) => [j.jobId, j])).values()];
  for (let i = 0; i < last.length; i += ENQUEUE_CHUNK) {
    await enqueueIn(db, last.slice(i, i + ENQUEUE_CHUNK), at);
  }
}

/** `leaseJobs` in the transaction given. */
async function leaseIn(
  trx: Kysely<Database>,
  grants: readonly LeaseGrant[],
  at: number,
  timeoutMs: number,
): Promise<LeaseRecord[]> {
  const ids = [...new Set(grants.map((g) => g.jobId))];
  const queued = new Map<string, LeaseRecord>();
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const rows = await trx
      .selectFrom('job_leases')
      .selectAll()
      .where('state', '=', 'queued')
      .where('job_id', 'in', ids.slice(i, i + IDS_PER_QUERY))
      .execute();
    for (const r of rows) queued.set(r.job_id, leaseOf(r));
  }
  const granted: LeaseRecord[] = [];
  for (const { jobId, candidate } of grants) {
    const row = queued.get(jobId);
    if (!row || !row.labels.every((l) => candidate.labels.includes(l))) continue;
    queued.delete(jobId);
    const leased = await leaseRowIn(trx, row, candidate, at, timeoutMs);
    if (leased) granted.push(leased);
  }
  return granted;
}

/**
 * Leases a queued row as read to the candidate: a compare-and-set on its state and epoch, so that another worker
 * (or, on PostgreSQL, another server) that leased it first makes this match nothing. The lease, or undefined.
 */
async function leaseRowIn(
  db: Kysely<Database>,
  row: LeaseRecord,
  candidate: LeaseCandidate,
  at: number,
  timeoutMs: number,
): Promise<LeaseRecord | undefined> {
  const epoch = row.epoch + 1;
  const lease = {
    state: 'leased' as const,
    epoch,
    workerId: candidate.workerId,
    tokenId: candidate.tokenId,
    leasedAt: at,
    expiresAt: at + timeoutMs,
  };
  const res = await db
    .updateTable('job_leases')
    .set({
      state: lease.state,
      epoch,
      worker_id: lease.workerId,
      token_id: lease.tokenId,
      leased_at: at,
      expires_at: lease.expiresAt,
    })
    .where('job_id', '=', row.jobId)
    .where('state', '=', 'queued')
    .where('epoch', '=', row.epoch)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1 ? { ...row, ...lease } : undefined;
}

/** `completeLeases` in the transaction given: one answer per item, in order. */
async function completeManyIn(db: Kysely<Database>, items: readonly LeaseHolder[]): Promise<boolean[]> {
  const accepted: boolean[] = [];
  for (const item of items) accepted.push(await completeIn(db, item));
  return accepted;
}

/** Queues jobs (distinct ids) in one statement. */
async function enqueueIn(
  db: Kysely<Database>,
  jobs: readonly { jobId: string; labels: readonly string[] }[],
  at: number,
): Promise<void> {
  // The epoch is never reset: the next lease is newer than any an earlier worker may still hold.
  await db
    .insertInto('job_leases')
    .values(
      jobs.map((j) => ({
        job_id: j.jobId,
        epoch: 0,
        state: 'queued',
        labels: JSON.stringify([...new Set(j.labels)].sort()),
        queued_at: at,
      })),
    )
    .onConflict((oc) =>
      oc.column('job_id').doUpdateSet((eb) => ({
        state: 'queued',
        labels: eb.ref('excluded.labels'),
        queued_at: at,
        worker_id: null,
        token_id: null,
        leased_at: null,
        expires_at: null,
      })),
    )
    .execute();
}

/** Fenced: `done` only for the holder of the lease under that epoch, while it is leased. */
async function completeIn(db: Kysely<Database>, { jobId, epoch, workerId }: LeaseHolder): Promise<boolean> {
  const res = await db
    .updateTable('job_leases')
    .set({ state: 'done', expires_at: null })
    .where('job_id', '=', jobId)
    .where('epoch', '=', epoch)
    .where('worker_id', '=', workerId)
    .where('state', '=', 'leased')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}
