import { stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { artifactFileProblem, contentHashProblem, type ArtifactRef } from '@deepforge/core';
import { AmbiguousError, EngineError, NotFoundError } from './errors.js';
import type { ArtifactStorage } from './storage/artifact.storage.js';
import { hashFile } from './storage/local-blob.storage.js';
import type {
  ArtifactProvenance,
  ArtifactRecord,
  ArtifactStore,
  NewArtifact,
} from './store/artifact.store.js';
import type { ExecutionStore } from './store/execution.store.js';

export const DEFAULT_SERIALIZER = 'pickle';

/** An Input or a reference names an artifact that cannot be had; the message says which and why. */
export class MissingArtifactError extends EngineError {
  readonly artifact: string;
  constructor(artifact: string, message: string) {
    super('not-found', message);
    this.name = 'MissingArtifactError';
    this.artifact = artifact;
  }
}

export interface ResolvedArtifact {
  name: string;
  hash: string;
  size: number;
  serializer: string;
  pyType: string | null;
}

export interface ArtifactContext {
  /** The project's references (`artifacts/<name>.json`), by name. */
  refs: Record<string, ArtifactRef>;
  /** The project folder, for references to files; null when the project did not come from a folder. */
  projectDir: string | null;
  /** The project whose stored artifacts a name may stand for ('' is the CLI's unnamed scope). */
  projectId: string;
  /**
   * Where a name is looked up next when the project has no stored artifact of it: '' for a folder project
   * (docs/adr/0028), so what `deepforge artifacts import` stored without --project, and what CLI runs stored
   * before folder projects, still resolve.
   */
  fallbackProjectId?: string;
}

export interface ImportOptions {
  /** The project the artifact belongs to; '' (the CLI's unnamed scope) by default. */
  projectId?: string;
  serializer?: string;
  pyType?: string | null;
  provenance?: ArtifactProvenance;
}

export class ArtifactService {
  constructor(
    private readonly store: ArtifactStore,
    /** For the job outputs that use content too (a blob may go only when nothing uses it). */
    private readonly executions: Pick<ExecutionStore, 'countOutputsWithHash'>,
    private readonly storage: ArtifactStorage,
  ) {}

  /**
   * Finds the content an artifact name stands for: the project's reference (a file, imported into the store,
   * or a hash that must be in the store), else the newest stored artifact of that name.
   */
  async resolve(name: string, ctx: ArtifactContext): Promise<ResolvedArtifact> {
    const ref = Object.prototype.hasOwnProperty.call(ctx.refs, name) ? ctx.refs[name] : undefined;
    if (ref?.file !== undefined) {
      if (ctx.projectDir === null) {
        const imported = await this.importedByFolderRun(name, ctx);
        if (imported) return imported;
        throw new MissingArtifactError(
          name,
          `artifact "${name}" refers to the file artifacts/${ref.file}, but this execution has no project folder to read it from`,
        );
      }
      const base = join(ctx.projectDir, 'artifacts');
      const file = resolve(base, ref.file);
      const rel = relative(base, file);
      // Checked where references come in too; a document edited over the collab socket may still hold one.
      if (artifactFileProblem(ref.file) !== undefined || rel.split(sep)[0] === '..' || isAbsolute(rel)) {
        throw new MissingArtifactError(
          name,
          `artifact "${name}" refers to ${ref.file}, which is outside the project's artifacts/ folder`,
        );
      }
      if (!(await stat(file).catch(() => undefined))?.isFile()) {
        const imported = await this.importedByFolderRun(name, ctx);
        if (imported) return imported;
        throw new MissingArtifactError(
          name,
          `artifact "${name}" refers to the file ${file}, which does not exist`,
        );
      }
      const record = await this.importFile(file, name, {
        serializer: ref.serializer,
        pyType: ref.type ?? null,
        provenance: { kind: 'import', source: file },
        projectId: ctx.projectId,
        reuseLatest: true,
      });
      return {
        name,
        hash: record.hash,
        size: record.size,
        serializer: record.serializer,
        pyType: record.pyType,
      };
    }
    if (ref?.hash !== undefined) {
      const size = await this.storage.size(ref.hash);
      if (size === undefined) {
        throw new MissingArtifactError(
          name,
          `artifact "${name}" refers to ${ref.hash}, which is not in the data store (import the data first)`,
        );
      }
      const known = (await this.store.findArtifactsByHashPrefix(ref.hash, 1))[0];
      return {
        name,
        hash: ref.hash,
        size,
        serializer: ref.serializer ?? known?.serializer ?? DEFAULT_SERIALIZER,
        pyType: ref.type ?? known?.pyType ?? null,
      };
    }
    const latest =
      (await this.store.getLatestArtifact(name, ctx.projectId)) ??
      (ctx.fallbackProjectId !== undefined
        ? await this.store.getLatestArtifact(name, ctx.fallbackProjectId)
        : undefined);
    if (!latest) {
      throw new MissingArtifactError(
        name,
        `artifact "${name}" not found: the project has no artifacts/${name}.json and no execution or import has stored an artifact with that name`,
      );
    }
    if (!(await this.storage.has(latest.hash))) {
      throw new MissingArtifactError(
        name,
        `artifact "${name}" (${latest.hash}) is recorded but its content is no longer in the data store`,
      );
    }
    return {
      name,
      hash: latest.hash,
      size: latest.size,
      serializer: latest.serializer,
      pyType: latest.pyType,
    };
  }

  /**
   * A folder project run from the web IDE reads no folder (ADR 0028): a file its reference names is taken as the
   * last `deepforge run` of the folder imported it into the project. Undefined for other projects.
   */
  private async importedByFolderRun(
    name: string,
    ctx: ArtifactContext,
  ): Promise<ResolvedArtifact | undefined> {
    if (ctx.fallbackProjectId === undefined) return undefined;
    const imported = await this.store.getLatestArtifact(name, ctx.projectId);
    if (!imported || !(await this.storage.has(imported.hash))) return undefined;
    return {
      name,
      hash: imported.hash,
      size: imported.size,
      serializer: imported.serializer,
      pyType: imported.pyType,
    };
  }

  /**
   * Copies a file into the store and records it as an artifact. With reuseLatest, importing the same content
   * under the same name again returns the existing record instead of adding a version.
   */
  async importFile(
    file: string,
    name: string,
    options: ImportOptions & { reuseLatest?: boolean } = {},
  ): Promise<ArtifactRecord> {
    const path = resolve(file);
    if (!(await stat(path).catch(() => undefined))?.isFile())
      throw new NotFoundError(`cannot import ${path}: no such file`);
    // Hash first: content the store already has is not copied again (a dataset imported every run).
    const hashed = await hashFile(path);
    const blob = (await this.storage.has(hashed.hash)) ? hashed : await this.storage.putFile(path);
    const serializer = options.serializer ?? DEFAULT_SERIALIZER;
    const projectId = options.projectId ?? '';
    if (options.reuseLatest) {
      const latest = await this.store.getLatestArtifact(name, projectId);
      if (latest && latest.hash === blob.hash && latest.serializer === serializer) return latest;
    }
    return this.store.insertArtifact({
      projectId,
      name,
      hash: blob.hash,
      size: blob.size,
      serializer,
      pyType: options.pyType ?? null,
      provenance: options.provenance ?? { kind: 'import', source: path },
    });
  }

  async importStream(stream: Readable, name: string, options: ImportOptions = {}): Promise<ArtifactRecord> {
    const blob = await this.storage.putStream(stream);
    return this.store.insertArtifact({
      projectId: options.projectId ?? '',
      name,
      hash: blob.hash,
      size: blob.size,
      serializer: options.serializer ?? DEFAULT_SERIALIZER,
      pyType: options.pyType ?? null,
      provenance: options.provenance ?? { kind: 'upload' },
    });
  }

  /** Records content the storage has (an execution's output saved by an Output node). */
  record(artifact: NewArtifact): Promise<ArtifactRecord> {
    return this.store.insertArtifact(artifact);
  }

  /** Records content already in the store under a new name (an import by hash); the blob must be there. */
  async importHash(hash: string, name: string, options: ImportOptions = {}): Promise<ArtifactRecord> {
    const problem = contentHashProblem(hash);
    if (problem !== undefined)
      throw new NotFoundError(`${JSON.stringify(hash)} is not a content id (${problem})`);
    const size = await this.storage.size(hash);
    if (size === undefined) throw new NotFoundError(`${hash} is not in the data store`);
    const known = (await this.store.findArtifactsByHashPrefix(hash, 1))[0];
    return this.store.insertArtifact({
      projectId: options.projectId ?? '',
      name,
      hash,
      size,
      serializer: options.serializer ?? known?.serializer ?? DEFAULT_SERIALIZER,
      pyType: options.pyType ?? known?.pyType ?? null,
      provenance: options.provenance ?? { kind: 'import', source: hash },
    });
  }

  /**
   * Forgets an artifact; its bytes are deleted only when no other artifact and no job output uses them (the
   * same content is stored once however many artifacts name it).
   */
  async delete(id: string): Promise<{ blobRemoved: boolean }> {
    const a = await this.store.getArtifact(id);
    if (!a) throw new NotFoundError(`no artifact with id "${id}"`);
    await this.store.deleteArtifact(id);
    const uses =
      (await this.store.countArtifactsWithHash(a.hash)) +
      (await this.executions.countOutputsWithHash(a.hash));
    if (uses > 0) return { blobRemoved: false };
    await this.storage.delete(a.hash);
    return { blobRemoved: true };
  }

  /**
   * One artifact by name (its newest version), id prefix, or content id prefix (`sha256:ab12…`, `sha256t:ab12…`
   * or `ab12…` for either scheme, at least 4 hex digits). Ambiguous prefixes are an error listing the candidates.
   */
  async get(nameOrPrefix: string): Promise<ArtifactRecord> {
    const byName = await this.store.getLatestArtifact(nameOrPrefix);
    if (byName) return byName;
    const candidates = new Map<string, ArtifactRecord>();
    for (const a of await this.store.findArtifactsByIdPrefix(nameOrPrefix, 10)) candidates.set(a.id, a);
    if (/^(sha256t?:)?[0-9a-f]{4,64}$/.test(nameOrPrefix)) {
      const byHash = await this.store.findArtifactsByHashPrefix(nameOrPrefix, 10);
      // Several records of the same content are one answer: the newest.
      const hashes = new Set(byHash.map((a) => a.hash));
      if (hashes.size === 1 && candidates.size === 0) return byHash[0]!;
      for (const a of byHash) candidates.set(a.id, a);
    }
    if (candidates.size === 1) return [...candidates.values()][0]!;
    if (candidates.size > 1) {
      const list = [...candidates.values()].map((a) => `${a.id} (${a.name}, ${a.hash.slice(0, 19)})`);
      throw new AmbiguousError(`"${nameOrPrefix}" matches several artifacts: ${list.join(', ')}`, list);
    }
    throw new NotFoundError(`no artifact named "${nameOrPrefix}" and none whose id or hash starts with it`);
  }
}
