/**
 * The artifact store port: the records of stored data (uploaded, imported or saved by an execution's Output),
 * each naming its content by content id; the bytes are in the artifact storage (storage/artifact.storage.ts).
 * Several records may name the same content. Every adapter passes artifact.store.conformance.ts; adapter:
 * kysely-artifact.store.ts on SQLite and PostgreSQL.
 */

export type ArtifactProvenance =
  | { kind: 'execution'; executionId: string; jobId: string; node: string; output: string }
  | { kind: 'upload' }
  /** Imported from a file: a project's artifacts/ file or `deepforge artifacts import`. */
  | { kind: 'import'; source: string };

export interface ArtifactRecord {
  id: string;
  /** The project (web server) it belongs to; '' for the unnamed scope of the CLI. */
  projectId: string;
  name: string;
  hash: string;
  size: number;
  serializer: string;
  pyType: string | null;
  createdAt: number;
  provenance: ArtifactProvenance;
}

export type NewArtifact = Omit<ArtifactRecord, 'id' | 'createdAt' | 'projectId'> & {
  id?: string;
  createdAt?: number;
  projectId?: string;
};

export interface ArtifactQuery {
  /** Only this project's; every project's when absent. */
  projectId?: string;
  /** Exactly this name. */
  name?: string;
  /** Case-insensitive substring of the name. */
  search?: string;
  limit?: number;
  offset?: number;
}

export interface ArtifactStore {
  insertArtifact(artifact: NewArtifact): Promise<ArtifactRecord>;
  getArtifact(id: string): Promise<ArtifactRecord | undefined>;
  /** The newest artifact with this name (in that project when `projectId` is given). */
  getLatestArtifact(name: string, projectId?: string): Promise<ArtifactRecord | undefined>;
  /** Newest first; with `name`, only the versions of that artifact. */
  listArtifacts(opts?: ArtifactQuery): Promise<ArtifactRecord[]>;
  countArtifacts(opts?: Omit<ArtifactQuery, 'limit' | 'offset'>): Promise<number>;
  /** Every artifact name there is a version of (in that project when given), sorted. */
  listArtifactNames(projectId?: string): Promise<string[]>;
  /** Forgets an artifact record (not its bytes); false when there was none. */
  deleteArtifact(id: string): Promise<boolean>;
  /**
   * Records the Python type read from an artifact's data (its preview) when it has none yet (an upload that did
   * not say): false when there is no such artifact or it has a type already, which is kept.
   */
  setDetectedPyType(id: string, pyType: string): Promise<boolean>;
  /**
   * How many artifact records name this content; with ExecutionStore.countOutputsWithHash, whether its blob is
   * still used (it may go only when both are 0).
   */
  countArtifactsWithHash(hash: string): Promise<number>;
  /**
   * Artifacts whose content id starts with `prefix`, newest first: `<scheme>:<hex prefix>` (`sha256:ab12`,
   * `sha256t:ab12`, or a whole id) for that scheme, or a bare hex prefix for any scheme.
   */
  findArtifactsByHashPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]>;
  /** Artifacts whose id starts with `prefix`, newest first. */
  findArtifactsByIdPrefix(prefix: string, limit: number): Promise<ArtifactRecord[]>;
}
