import type { Kysely } from 'kysely';
import { num, type Database } from './kysely.database.js';
import type { RunnerRecord, RunnerStore } from './runner.store.js';

/** The runner store, written once with Kysely's query builder and nothing dialect-specific. */
export class KyselyRunnerStore implements RunnerStore {
  constructor(private readonly db: Kysely<Database>) {}

  async registerRunner(runner: RunnerRecord): Promise<void> {
    await this.db
      .insertInto('runners')
      .values({
        id: runner.id,
        pid: runner.pid,
        host: runner.host,
        started_at: runner.startedAt,
        heartbeat_at: runner.heartbeatAt,
      })
      .execute();
  }

  async heartbeatRunner(id: string, t: number): Promise<boolean> {
    const res = await this.db
      .updateTable('runners')
      .set({ heartbeat_at: t })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async listRunners(): Promise<RunnerRecord[]> {
    const rows = await this.db.selectFrom('runners').selectAll().orderBy('started_at').execute();
    return rows.map((r) => ({
      id: r.id,
      pid: r.pid,
      host: r.host,
      startedAt: num(r.started_at),
      heartbeatAt: num(r.heartbeat_at),
    }));
  }

  async removeRunner(id: string): Promise<void> {
    await this.db.deleteFrom('runners').where('id', '=', id).execute();
  }
}
