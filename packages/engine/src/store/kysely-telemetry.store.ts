import type { Kysely } from 'kysely';
import type { JsonValue } from '@deepforge/core';
import { num, type Database, type KyselyStoreOptions } from './kysely.database.js';
import type { MetricRecord, PlotRecord, ProgressRecord, TelemetryStore } from './telemetry.store.js';

/** The telemetry store, written once with Kysely's query builder and nothing dialect-specific. */
export class KyselyTelemetryStore implements TelemetryStore {
  private readonly db: Kysely<Database>;

  constructor(private readonly options: Pick<KyselyStoreOptions, 'db' | 'transaction'>) {
    this.db = options.db;
  }

  async appendMetrics(rows: readonly MetricRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      // Batches keep statements below every dialect's parameter limit.
      for (let i = 0; i < rows.length; i += 500) {
        await trx
          .insertInto('metrics')
          .values(
            rows
              .slice(i, i + 500)
              .map((r) => ({ job_id: r.jobId, step: r.step, name: r.name, value: r.value, t: r.t })),
          )
          .execute();
      }
    });
  }

  async upsertPlots(rows: readonly PlotRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      for (const r of rows) {
        await trx
          .insertInto('plots')
          .values({
            job_id: r.jobId,
            figure: r.figure,
            seq: r.seq,
            payload: JSON.stringify(r.payload),
            t: r.t,
          })
          .onConflict((oc) =>
            oc
              .columns(['job_id', 'figure'])
              .doUpdateSet((eb) => ({
                seq: eb.ref('excluded.seq'),
                payload: eb.ref('excluded.payload'),
                t: eb.ref('excluded.t'),
              }))
              .where('plots.seq', '<=', (eb) => eb.ref('excluded.seq')),
          )
          .execute();
      }
    });
  }

  async upsertProgress(rows: readonly ProgressRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await this.options.transaction(async (trx) => {
      for (const r of rows) {
        await trx
          .insertInto('progress')
          .values({ job_id: r.jobId, bar: r.bar, payload: JSON.stringify(r.payload), t: r.t })
          .onConflict((oc) =>
            oc.columns(['job_id', 'bar']).doUpdateSet((eb) => ({
              payload: eb.ref('excluded.payload'),
              t: eb.ref('excluded.t'),
            })),
          )
          .execute();
      }
    });
  }

  async listMetrics(jobId: string): Promise<MetricRecord[]> {
    const rows = await this.db
      .selectFrom('metrics')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('t')
      .execute();
    return rows.map((r) => ({ jobId: r.job_id, step: r.step, name: r.name, value: r.value, t: num(r.t) }));
  }

  async listPlots(jobId: string): Promise<PlotRecord[]> {
    const rows = await this.db
      .selectFrom('plots')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('figure')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      figure: r.figure,
      seq: r.seq,
      payload: JSON.parse(r.payload) as Record<string, JsonValue>,
      t: num(r.t),
    }));
  }

  async listProgress(jobId: string): Promise<ProgressRecord[]> {
    const rows = await this.db
      .selectFrom('progress')
      .selectAll()
      .where('job_id', '=', jobId)
      .orderBy('bar')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      bar: r.bar,
      payload: JSON.parse(r.payload) as Record<string, JsonValue>,
      t: num(r.t),
    }));
  }

  async clearTelemetry(jobId: string): Promise<void> {
    await this.options.transaction(async (trx) => {
      await trx.deleteFrom('metrics').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('plots').where('job_id', '=', jobId).execute();
      await trx.deleteFrom('progress').where('job_id', '=', jobId).execute();
    });
  }
}
