import { userInfo } from 'node:os';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Logger } from 'pino';
import {
  ARTIFACTS_DIR,
  OPERATIONS_DIR,
  PIPELINES_DIR,
  RESOURCES_DIR,
  SERIALIZERS_DIR,
  UTILS_DIR,
  projectToFiles,
  type Project,
} from '@deepforge/core';
import {
  HistoryError,
  ProjectHistory,
  type Engine,
  type Version,
  type VersionAuthor,
  type HistoryVersionKind as VersionKind,
} from '@deepforge/engine';
import {
  applyProjectToDoc,
  projectFromDoc,
  type DeletedItem,
  type VersionDiff,
  type VersionDiffFile,
  type VersionPage,
  type VersionSummary,
} from '@deepforge/protocol';
import { callerOf, type RequestAuth } from '../auth/request-auth.js';
import type { ProjectDocuments } from '../documents/project-documents.js';
import { HttpError, badRequest, notFound } from '../http/http-error.js';
import { readProjectFiles } from '../projects/project-folder-files.js';

/** Files kept beside the content (artifact data) larger than this are not versioned. */
const MAX_EXTRA_BYTES = 1024 * 1024;
/** A file larger than this is shown in a diff as binary (no text): a diff is for reading. */
const MAX_DIFF_TEXT_BYTES = 1024 * 1024;

export interface HistoryOptions {
  engine: Engine;
  documents: ProjectDocuments;
  logger: Logger;
  /** A checkpoint after this long without edits (ms); default 30 s. */
  quietMs?: number;
  /** …or after this many document updates; default 200. */
  maxChanges?: number;
}

interface Pending {
  changes: number;
  timer: NodeJS.Timeout | undefined;
  author: VersionAuthor | undefined;
}

/** Who a request is from, as a version author: the account, or the local user when accounts are off. */
export function authorOf(auth: RequestAuth): VersionAuthor {
  const user = callerOf(auth);
  return user ? { id: user.id, name: user.name } : localAuthor();
}

/** The author of versions made when accounts are off: the one local user. */
export function localAuthor(): VersionAuthor {
  let name = 'local';
  try {
    name = userInfo().username || name;
  } catch {
    // No user name (a container without passwd entry): keep "local".
  }
  return { name };
}

function summaryOf(v: Version): VersionSummary {
  return {
    id: v.id,
    parentIds: v.parentIds,
    kind: v.kind,
    message: v.message,
    author: v.author,
    time: v.time,
    files: v.files,
  };
}

function asHttp(err: unknown): never {
  if (err instanceof HistoryError) {
    if (err.code === 'unknown-version') throw notFound(err.message);
    if (err.code === 'bad-cursor') throw badRequest('query.cursor', err.message);
    if (err.code === 'conflict') throw new HttpError(409, 'conflict', err.message);
  }
  throw err;
}

function itemOf(path: string): Pick<DeletedItem, 'kind' | 'name'> {
  const [dir, ...rest] = path.split('/');
  const file = rest.join('/');
  const strip = (suffix: string): string => (file.endsWith(suffix) ? file.slice(0, -suffix.length) : file);
  switch (dir) {
    case PIPELINES_DIR:
      return { kind: 'pipeline', name: strip('.json') };
    case OPERATIONS_DIR:
      return { kind: 'operation', name: strip('.py') };
    case UTILS_DIR:
      return { kind: 'util', name: strip('.py') };
    case SERIALIZERS_DIR:
      return { kind: 'serializer', name: strip('.py') };
    case RESOURCES_DIR:
      return { kind: 'resource', name: strip('.json') };
    default:
      return { kind: 'other', name: path };
  }
}

/**
 * Project history (docs/adr/0020): each project's versions are commits of a bare git repository of its project
 * folder, `<dataDir>/history/<project id>.git`. Edits to a project document are gathered into automatic
 * checkpoints (after a quiet spell or a number of changes); named, restore, fork, push and import versions are
 * made on request. Versions are read back from git, never copied into a table.
 */
export class HistoryService {
  private readonly pending = new Map<string, Pending>();
  private readonly histories = new Map<string, ProjectHistory>();
  private readonly quietMs: number;
  private readonly maxChanges: number;
  private closed = false;

  constructor(private readonly options: HistoryOptions) {
    this.quietMs = options.quietMs ?? 30_000;
    this.maxChanges = options.maxChanges ?? 200;
  }

  get rootDir(): string {
    return join(this.options.engine.dataDir, 'history');
  }

  history(projectId: string): ProjectHistory {
    let h = this.histories.get(projectId);
    if (!h) {
      h = new ProjectHistory(join(this.rootDir, `${projectId}.git`));
      this.histories.set(projectId, h);
    }
    return h;
  }

  /** The project's files (project folder format) as its live document holds them, with the small extras. */
  async currentFiles(projectId: string): Promise<Map<string, string | Uint8Array>> {
    const project = await this.options.documents.read(projectId, projectFromDoc);
    return this.filesOf(projectId, project);
  }

  /**
   * A project's folder files: the content as the export writes it, and the files kept beside it (artifact data,
   * a README) up to MAX_EXTRA_BYTES each, so a clone runs with `deepforge run` as it is.
   */
  async filesOf(projectId: string, project: Project): Promise<Map<string, string | Uint8Array>> {
    const files = new Map<string, string | Uint8Array>();
    const root = join(this.options.engine.dataDir, 'projects', projectId);
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        if (e.name === '.git' || e.name === '__pycache__') continue;
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile() && (await stat(full)).size <= MAX_EXTRA_BYTES)
          files.set(relative(root, full).split(sep).join('/'), await readFile(full));
      }
    };
    await walk(root);
    for (const [path, text] of projectToFiles(project)) files.set(path, text);
    return files;
  }

  /** Starts a project's history with its first version (`created`, `import`, `fork`). */
  async start(
    projectId: string,
    project: Project,
    kind: VersionKind,
    author: VersionAuthor,
    message: string,
  ): Promise<string> {
    const h = this.history(projectId);
    await h.init();
    const id = await h.commit(await this.filesOf(projectId, project), {
      kind,
      message,
      author,
      allowEmpty: true,
    });
    return id!;
  }

  /**
   * The newest version, making the history first for a project that has none (made before history existed):
   * its current state becomes a `created` version.
   */
  async ensure(projectId: string): Promise<string> {
    const h = this.history(projectId);
    const head = await h.head();
    if (head !== undefined) return head;
    await h.init();
    const id = await h.commit(await this.currentFiles(projectId), {
      kind: 'created',
      message: 'History started',
      author: localAuthor(),
      allowEmpty: true,
    });
    return id ?? (await h.head())!;
  }

  /** A document of this project changed: count it towards the next checkpoint. */
  noteChange(projectId: string, author: VersionAuthor | undefined): void {
    if (this.closed) return;
    let p = this.pending.get(projectId);
    if (!p) {
      p = { changes: 0, timer: undefined, author: undefined };
      this.pending.set(projectId, p);
    }
    p.changes++;
    if (author) p.author = author;
    if (p.timer) clearTimeout(p.timer);
    p.timer = undefined;
    if (p.changes >= this.maxChanges) {
      void this.checkpointLogged(projectId);
      return;
    }
    p.timer = setTimeout(() => void this.checkpointLogged(projectId), this.quietMs);
    p.timer.unref();
  }

  private async checkpointLogged(projectId: string): Promise<void> {
    try {
      await this.checkpoint(projectId);
    } catch (err) {
      this.options.logger.warn({ err, projectId }, 'could not record a checkpoint');
    }
  }

  /**
   * Records the live state as a checkpoint when it differs from the newest version; answers the newest version
   * either way (what an execution started now runs).
   */
  async checkpoint(projectId: string, author?: VersionAuthor, project?: Project): Promise<string> {
    const p = this.pending.get(projectId);
    if (p?.timer) clearTimeout(p.timer);
    this.pending.delete(projectId);
    const head = await this.ensure(projectId);
    const h = this.history(projectId);
    const files =
      project !== undefined ? await this.filesOf(projectId, project) : await this.currentFiles(projectId);
    const tree = await h.writeTree(files);
    const changed = (await h.changes(`${head}^{tree}`, tree)).length;
    if (changed === 0) return head;
    const id = await h.commitTreeOnTop(tree, {
      kind: 'checkpoint',
      message: `${changed} file${changed === 1 ? '' : 's'} changed`,
      author: author ?? p?.author ?? localAuthor(),
    });
    return id ?? (await h.head())!;
  }

  /** A named version of the live state (an empty commit when nothing changed, so a state can be labelled). */
  async named(projectId: string, message: string, author: VersionAuthor): Promise<VersionSummary> {
    await this.ensure(projectId);
    this.pending.delete(projectId);
    const h = this.history(projectId);
    const id = await h.commit(await this.currentFiles(projectId), {
      kind: 'named',
      message,
      author,
      allowEmpty: true,
    });
    return summaryOf(await h.get(id!));
  }

  async list(
    projectId: string,
    query: { limit: number; cursor?: string; q?: string; path?: string },
  ): Promise<VersionPage> {
    await this.ensure(projectId);
    try {
      return await this.history(projectId)
        .list(query)
        .then((page) => ({
          versions: page.versions.map(summaryOf),
          ...(page.next ? { next: page.next } : {}),
        }));
    } catch (err) {
      return asHttp(err);
    }
  }

  async get(projectId: string, versionId: string): Promise<VersionSummary> {
    await this.ensure(projectId);
    try {
      return summaryOf(await this.history(projectId).get(versionId));
    } catch (err) {
      return asHttp(err);
    }
  }

  async tree(projectId: string, versionId: string): Promise<{ files: { path: string; size: number }[] }> {
    await this.ensure(projectId);
    try {
      const files = await this.history(projectId).tree(versionId);
      return { files: files.map((f) => ({ path: f.path, size: f.size })) };
    } catch (err) {
      return asHttp(err);
    }
  }

  async file(projectId: string, versionId: string, path: string): Promise<Buffer> {
    await this.ensure(projectId);
    try {
      const data = await this.history(projectId).file(versionId, path);
      if (data === undefined) throw notFound(`version ${versionId} has no file "${path}"`);
      return data;
    } catch (err) {
      return asHttp(err);
    }
  }

  /**
   * The diff between two versions (or `current`, the live state): per file, with renames detected by git.
   * `from` defaults to the parent of `to` (nothing, for the first version).
   */
  async diff(projectId: string, from: string | undefined, to: string): Promise<VersionDiff> {
    await this.ensure(projectId);
    const h = this.history(projectId);
    try {
      const treeOf = async (v: string): Promise<string> =>
        v === 'current' ? h.writeTree(await this.currentFiles(projectId)) : `${await h.resolve(v)}^{tree}`;
      const toTree = await treeOf(to);
      let fromName = from;
      let fromTree: string | undefined;
      if (from === undefined) {
        const parent = to === 'current' ? await h.head() : (await h.get(to)).parentIds[0];
        fromName = parent ?? 'none';
        fromTree = parent === undefined ? undefined : `${parent}^{tree}`;
      } else {
        fromTree = await treeOf(from);
      }
      const changes = await h.changes(fromTree, toTree);
      const blobs = await h.blobs(
        changes.flatMap((c) => [c.before, c.after].filter((b): b is string => !!b)),
      );
      const text = (id: string | undefined): { text: string | null; binary: boolean } => {
        if (id === undefined) return { text: null, binary: false };
        const data = blobs.get(id);
        if (!data || data.length > MAX_DIFF_TEXT_BYTES || data.subarray(0, 8192).includes(0))
          return { text: null, binary: true };
        return { text: data.toString('utf8'), binary: false };
      };
      const files: VersionDiffFile[] = changes.map((c) => {
        const before = text(c.before);
        const after = text(c.after);
        return {
          path: c.path,
          change: c.change,
          ...(c.from !== undefined ? { from: c.from } : {}),
          before: before.text,
          after: after.text,
          ...(before.binary || after.binary ? { binary: true } : {}),
        };
      });
      return { from: fromName!, to, files };
    } catch (err) {
      return asHttp(err);
    }
  }

  /**
   * Restores a version, whole or some of its files, as a new `restore` version on top. The live state is
   * checkpointed first (nothing is lost), the change is applied to the live document as one transaction that
   * changes only what differs (collaborators' concurrent edits elsewhere survive), and the result is committed.
   */
  async restore(
    projectId: string,
    versionId: string,
    paths: readonly string[] | undefined,
    author: VersionAuthor,
  ): Promise<VersionSummary> {
    const h = this.history(projectId);
    try {
      await this.ensure(projectId);
      await h.resolve(versionId);
      await this.checkpoint(projectId, author);
      const old = await h.files(versionId);
      let target: Map<string, Uint8Array>;
      if (paths === undefined) {
        target = old;
      } else {
        const unknown = paths.filter((p) => !old.has(p));
        if (unknown.length > 0) {
          throw badRequest(
            'body.paths',
            `version ${versionId} has no file ${unknown.map((p) => `"${p}"`).join(', ')}`,
          );
        }
        target = new Map(
          [...(await this.currentFiles(projectId))].map(([p, t]) => [
            p,
            typeof t === 'string' ? Buffer.from(t, 'utf8') : t,
          ]),
        );
        for (const p of paths) target.set(p, old.get(p)!);
      }
      const project = await this.parse(target, 'the restored version');
      await this.options.documents.edit(projectId, (doc) => applyProjectToDoc(doc, project));
      const what = paths === undefined ? 'the whole project' : paths.join(', ');
      const id = await h.commit(await this.currentFiles(projectId), {
        kind: 'restore',
        message: `Restored ${what} from ${versionId.slice(0, 10)}`,
        author,
        allowEmpty: true,
      });
      return summaryOf(await h.get(id!));
    } catch (err) {
      return asHttp(err);
    }
  }

  /** Parses project folder files (operations read off the event loop); a 400 naming every error. */
  async parse(files: Map<string, Uint8Array>, what: string): Promise<Project> {
    const read = await readProjectFiles(files, this.options.engine.operationReader);
    if (!read.ok) {
      const errors = read.diagnostics.filter((d) => d.severity === 'error');
      throw new HttpError(
        400,
        'bad-request',
        `${what} is not a valid project folder: ${errors.map((d) => `${d.file ? `${d.file}: ` : ''}${d.message}`).join('; ')}`,
        { diagnostics: errors },
      );
    }
    return read.project;
  }

  /** Files some version had and the live state lacks, with the version to bring each back from. */
  async deleted(projectId: string): Promise<DeletedItem[]> {
    await this.checkpoint(projectId);
    const current = await this.currentFiles(projectId);
    const items = await this.history(projectId).deletions();
    return items
      .filter((i) => !current.has(i.path) && !i.path.startsWith(`${ARTIFACTS_DIR}/.`))
      .map((i) => ({ path: i.path, ...itemOf(i.path), deletedIn: i.deletedIn, lastVersion: i.lastVersion }));
  }

  /** Forgets a deleted project's history. */
  async remove(projectId: string): Promise<void> {
    const p = this.pending.get(projectId);
    if (p?.timer) clearTimeout(p.timer);
    this.pending.delete(projectId);
    await this.history(projectId).remove();
    this.histories.delete(projectId);
  }

  /** Records the pending checkpoints (at shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const ids = [...this.pending.keys()];
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
    await Promise.all(ids.map((id) => this.checkpointLogged(id)));
  }
}
