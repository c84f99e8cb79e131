import {
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SqlBool,
} from 'kysely';
import { CONTENT_HASH_SCHEMES } from '@deepforge/core';
import type {
  ArtifactProvenance,
  ArtifactQuery,
  ArtifactRecord,
  ArtifactStore,
  NewArtifact,
} from './artifact.store.js';
import {
  likePattern,
  num,
  SAFE_PREFIX,
  type ArtifactsTable,
  type Database,
  type Int,
} from './kysely.database.js';
import { newId } from './new-id.js';

function toArtifact(r: Selectable<ArtifactsTable>): ArtifactRecord {
  return {
    id: r.id,
    projectId: r.project_id,
    name: r.name,
    hash: r.hash,
    size: num(r.size),
    serializer: r.serializer,
    pyType: r.py_type,
    createdAt: num(r.created_at),
    provenance: JSON.parse(r.provenance) as ArtifactProvenance,
  };
}

/** The artifact store, written once with Kysely's query builder and nothing dialect-specific. */
export class KyselyArtifactStore implements ArtifactStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insertArtifact(artifact: NewArtifact): Promise<ArtifactRecord> {
    const id = artifact.id ?? newId();
    const p = artifact.provenance;
    await this.db
      .insertInto('artifacts')
      .values({
        id,
        project_id: artifact.projectId ?? '',
        name: artifact.name,
        hash: artifact.hash,
        size: artifact.size,
        serializer: artifact.serializer,
        py_type: artifact.pyType,
        created_at: artifact.createdAt ?? Date.now(),
        provenance: JSON.stringify(p),
        execution_id: p.kind === 'execution' ? p.executionId : null,
        job_id: p.kind === 'execution' ? p.jobId : null,
      })
      .execute();
    return (await this.getArtifact(id))!;
  }

  async getArtifact(id: string): Promise<ArtifactRecord | undefined> {
    const r = await this.db.selectFrom('artifacts').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toArtifact(r);
  }

  async getLatestArtifact(name: string, projectId?: string): Promise<ArtifactRecord | undefined> {
    let q = this.db.selectFrom('artifacts').selectAll().where('name', '=', name);
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const r = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
    return r && toArtifact(r);
  }

  private artifactFilter(opts: Omit<ArtifactQuery, 'limit' | 'offset'>) {
    return (eb: ExpressionBuilder<Database, 'artifacts'>): Expression<SqlBool> => {
      const conds: Expression<SqlBool>[] = [];
      if (opts.projectId !== undefined) conds.push(eb('project_id', '=', opts.projectId));
      if (opts.name !== undefined) conds.push(eb('name', '=', opts.name));
      if (opts.search !== undefined && opts.search.trim() !== '') {
        const pattern = likePattern(opts.search.trim().toLowerCase());
        conds.push(sql<SqlBool>`lower(name) like ${pattern} escape '\\'`);
      }
      return eb.and(conds);
    };
  }

  async countArtifacts(opts: Omit<ArtifactQuery, 'limit' | 'offset'> = {}): Promise<number> {
    const row = await this.db
      .selectFrom('artifacts')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where(this.artifactFilter(opts))
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  async deleteArtifact(id: string): Promise<boolean> {
    const res = await this.db.deleteFrom('artifacts').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  async setDetectedPyType(id: string, pyType: string): Promise<boolean> {
    const res = await this.db
      .updateTable('artifacts')
      .set({ py_type: pyType })
      .where('id', '=', id)
      .where('py_type', 'is', null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async countArtifactsWithHash(hash: string): Promise<number> {
    const row = await this.db
      .selectFrom('artifacts')
      .select((eb) => eb.fn.countAll<Int>().as('n'))
      .where('hash', '=', hash)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  async listArtifacts(opts: ArtifactQuery = {}): Promise<ArtifactRecord[]> {
    const q = this.db.selectFrom('artifacts').selectAll().where(this.artifactFilter(opts));
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(opts.limit ?? 1000)
      .offset(opts.offset ?? 0)
      .execute();
    return rows.map(toArtifact);
  }

  async listArtifactNames(projectId?: string): Promise<string[]> {
    let q = this.db.selectFrom('artifacts').select('name');
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const rows = await q.distinct().orderBy('name').execute();
    return rows.map((r) => r.name);
  }

  async findArtifactsByHashPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]> {
    const colon = prefix.indexOf(':');
    const scheme = colon < 0 ? undefined : prefix.slice(0, colon);
    const hexPrefix = colon < 0 ? prefix : prefix.slice(colon + 1);
    // SAFE_PREFIX also keeps LIKE's wildcards (`%`, `_`) out of the pattern.
    if (!SAFE_PREFIX.test(hexPrefix)) return [];
    if (scheme !== undefined && !(CONTENT_HASH_SCHEMES as readonly string[]).includes(scheme)) return [];
    const schemes = scheme !== undefined ? [scheme] : CONTENT_HASH_SCHEMES;
    const rows = await this.db
      .selectFrom('artifacts')
      .selectAll()
      .where((eb) => eb.or(schemes.map((s) => eb('hash', 'like', `${s}:${hexPrefix}%`))))
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toArtifact);
  }

  async findArtifactsByIdPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]> {
    if (!SAFE_PREFIX.test(prefix) || prefix === '') return [];
    const rows = await this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('id', 'like', `${prefix}%`)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toArtifact);
  }
}
