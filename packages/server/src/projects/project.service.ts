import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import {
  isActiveExecutionStatus,
  PROJECT_FORMAT_VERSION,
  projectToFiles,
  type Diagnostic,
  type Project,
} from '@deepforge/core';
import { ExtensionError, HISTORY_BRANCH, HistoryError, ProjectHistory } from '@deepforge/engine';
import type { ExtensionStore } from '@deepforge/engine';
import type { Engine, HistoryVersionKind, ProjectRecord, VersionAuthor } from '@deepforge/engine';
import {
  applyProjectToDoc,
  projectFromDoc,
  sections,
  setManifestName,
  type CreateProjectBody,
  type Example,
  type ProjectSummary,
  type UpdateProjectBody,
} from '@deepforge/protocol';
import type { ProjectDocuments } from '../documents/project-documents.js';
import { localAuthor, type HistoryService } from '../history/history.service.js';
import { byteLimit } from '../http/body-stream.js';
import { HttpError, badRequest, notFound } from '../http/http-error.js';
import { newProjectId } from './project-id.js';
import {
  isContentPath,
  readFolderFiles,
  readProjectFiles,
  writeFiles,
  writeFolderFiles,
} from './project-folder-files.js';
import { unzipProject, zipProject, type FileMap } from './project-zip.js';

export interface ProjectServiceOptions {
  engine: Engine;
  documents: ProjectDocuments;
  /** Example projects (project folders) a new project can start from. */
  examplesDir: string;
  /** Installed extensions: their example projects are listed too, as `<extension>/<example>`. */
  extensions?: ExtensionStore;
  logger: Logger;
  /** The most bytes an imported zip may be, and unpack to (`server.uploadLimit`). */
  maxImportBytes: number;
  /** Project history (docs/adr/0020): a new project starts its history, a deleted one loses it. */
  history: HistoryService;
}

/** How a new project's history starts. */
interface HistoryStart {
  kind: HistoryVersionKind;
  message: string;
  author: VersionAuthor;
  /** Fork: the project and version it is made from (its history is copied up to there). */
  forkedFrom?: { projectId: string; version: string };
  /** Fills the new project's repository with an existing history (an imported git bundle). */
  fill?: (target: ProjectHistory) => Promise<void>;
}

/**
 * Projects: the registry row (id, name), the project document (content) and the project's folder in the data
 * dir for the files kept beside the content (artifact data files, a README), which executions read artifact
 * files from and exports put back.
 */
export class ProjectService {
  /** Staging folders of the zip imports under way. */
  private readonly importing = new Set<string>();
  /** The replacement of each project's content under way (replaceFromZip), which the next one waits for. */
  private readonly replacing = new Map<string, Promise<ProjectSummary>>();

  constructor(private readonly options: ProjectServiceOptions) {}

  private get engine(): Engine {
    return this.options.engine;
  }

  /** `<dataDir>/projects/<id>`: the files of the project folder that are not content. */
  filesDir(projectId: string): string {
    return join(this.engine.dataDir, 'projects', projectId);
  }

  async get(projectId: string): Promise<ProjectRecord> {
    const record = await this.engine.projects.getProject(projectId);
    if (!record) throw notFound(`there is no project "${projectId}"`);
    return record;
  }

  /** The project as its document holds it now. */
  async project(projectId: string): Promise<Project> {
    await this.get(projectId);
    return this.options.documents.read(projectId, projectFromDoc);
  }

  async list(): Promise<ProjectSummary[]> {
    const records = await this.engine.projects.listProjects();
    return Promise.all(records.map((r) => this.summary(r)));
  }

  async summary(record: ProjectRecord): Promise<ProjectSummary> {
    const counts = await this.options.documents.read(record.id, (doc) => ({
      pipelines: sections.pipelines(doc).size,
      operations: sections.operations(doc).size,
    }));
    const executions = (await this.engine.queryExecutions({ projectId: record.id, limit: 1, offset: 0 }))
      .total;
    const artifacts = await this.engine.countArtifacts({ projectId: record.id });
    return {
      id: record.id,
      name: record.name,
      ...(record.description !== null ? { description: record.description } : {}),
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      counts: { ...counts, executions, artifacts },
      ...(record.forkedFrom ? { forkedFrom: record.forkedFrom } : {}),
      ...(record.folder ? { folder: record.folder } : {}),
    };
  }

  async listExamples(): Promise<Example[]> {
    const out: Example[] = [];
    const entries = await readdir(this.options.examplesDir, { withFileTypes: true }).catch(() => []);
    for (const e of entries.filter((x) => x.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const example = await exampleOf(join(this.options.examplesDir, e.name), e.name);
      if (example) out.push(example);
    }
    const store = this.options.extensions;
    for (const ext of store ? await store.list() : []) {
      if (ext.problem !== undefined || !ext.manifest) continue;
      for (const name of ext.manifest.provides.examples ?? []) {
        const example = await exampleOf(join(ext.dir, 'examples', name), `${ext.name}/${name}`);
        if (example) out.push({ ...example, extension: ext.name });
      }
    }
    return out;
  }

  /** The folder of an example: DeepForge's own, or `<extension>/<example>` of an installed extension. */
  private async exampleDir(name: string): Promise<string> {
    const slash = name.indexOf('/');
    if (slash < 0 || !this.options.extensions) return join(this.options.examplesDir, name);
    try {
      return await this.options.extensions.exampleDir(name.slice(0, slash), name.slice(slash + 1));
    } catch (err) {
      if (err instanceof ExtensionError) throw badRequest('body.example', err.message);
      throw err;
    }
  }

  async create(body: CreateProjectBody, author: VersionAuthor = localAuthor()): Promise<ProjectSummary> {
    if (body.example === undefined) {
      const project: Project = {
        manifest: {
          name: body.name,
          formatVersion: PROJECT_FORMAT_VERSION,
          ...(body.description !== undefined ? { description: body.description } : {}),
        },
        operations: {},
        pipelines: {},
        utils: {},
        serializers: {},
        artifacts: {},
      };
      return this.register(project, (dir) => writeFolderFiles(dir, new Map()), {
        kind: 'created',
        message: `Created ${body.name}`,
        author,
      });
    }
    const examples = await this.listExamples();
    if (!examples.some((e) => e.name === body.example)) {
      throw badRequest(
        'body.example',
        `there is no example "${body.example}" (examples: ${examples.map((e) => e.name).join(', ') || 'none'})`,
      );
    }
    const files = await readFolderFiles(await this.exampleDir(body.example));
    return this.importFiles(files, 'body.example', body.name, body.description, undefined, {
      kind: 'created',
      message: `Created ${body.name} from the example ${body.example}`,
      author,
    });
  }

  /** `<dataDir>/projects/.incoming`: zips being unpacked, each in a folder of its own until it is a project. */
  private get incomingDir(): string {
    return join(this.engine.dataDir, 'projects', '.incoming');
  }

  /**
   * A project from a zipped project folder, read as it arrives (limits in unzipProject). The project content is
   * parsed in memory, the other files stream to a staging folder that becomes the project's folder; a refused
   * zip leaves no project, no document and no files.
   */
  async importZip(
    body: Readable,
    name?: string,
    author: VersionAuthor = localAuthor(),
  ): Promise<ProjectSummary> {
    return this.withUnzipped(body, ({ files, dir }) =>
      this.importFiles(files, 'body', name, undefined, dir, {
        kind: 'import',
        message: 'Imported a project folder',
        author,
      }),
    );
  }

  /**
   * Unpacks a zipped project folder as it arrives (limits in unzipProject): the project content in memory, the
   * other files into a staging folder under the incoming dir, which is removed once `use` is done (whatever it
   * moved out of it stays where it went).
   */
  private async withUnzipped<T>(
    body: Readable,
    use: (unzipped: Awaited<ReturnType<typeof unzipProject>>) => Promise<T>,
  ): Promise<T> {
    await this.removeStaleImports();
    const staging = join(this.incomingDir, newProjectId());
    this.importing.add(staging);
    try {
      return await use(
        await unzipProject(body, {
          maxBytes: this.options.maxImportBytes,
          maxBodyBytes: this.options.maxImportBytes,
          stagingDir: staging,
          inMemory: isContentPath,
        }),
      );
    } finally {
      this.importing.delete(staging);
      await rm(staging, { recursive: true, force: true });
    }
  }

  /**
   * Replaces a project's content with a zipped project folder (PUT /api/projects/:id/files; `deepforge run
   * --server` sends its folder so each run of one folder updates one project). Read and checked like an import
   * before anything changes (a refused zip changes nothing). Then, as a restore does: the live state is
   * checkpointed, the new project applied to the live document as one transaction that changes only what
   * differs, and an `import` version committed. The files kept beside the content are swapped whole: the new
   * ones were unpacked to a staging folder, which takes the old folder's place by rename.
   */
  async replaceFromZip(
    projectId: string,
    body: Readable,
    author: VersionAuthor = localAuthor(),
  ): Promise<ProjectSummary> {
    await this.get(projectId);
    // One replacement of a project at a time: each swaps the project's folder.
    const previous = this.replacing.get(projectId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.replaceNow(projectId, body, author));
    this.replacing.set(projectId, run);
    try {
      return await run;
    } finally {
      if (this.replacing.get(projectId) === run) this.replacing.delete(projectId);
    }
  }

  /**
   * Replacements a crash stopped between their two renames (replaceFromZip): a project whose folder is missing
   * gets its old one back; a left-over old folder beside a folder in place is removed. Run when the server
   * starts, and before each replacement.
   */
  async recoverReplaced(): Promise<void> {
    const root = join(this.engine.dataDir, 'projects', '.replaced');
    for (const id of await readdir(root).catch(() => [] as string[])) {
      if (!this.replacing.has(id)) await this.recoverReplacedOf(id);
    }
  }

  private async recoverReplacedOf(projectId: string): Promise<void> {
    const left = this.replacedDir(projectId);
    if (!(await exists(left))) return;
    if (await exists(this.filesDir(projectId))) await rm(left, { recursive: true, force: true });
    else await rename(left, this.filesDir(projectId));
  }

  /** Where a project's folder waits while a replacement's folder takes its place (replaceFromZip). */
  private replacedDir(projectId: string): string {
    return join(this.engine.dataDir, 'projects', '.replaced', projectId);
  }

  private async replaceNow(
    projectId: string,
    body: Readable,
    author: VersionAuthor,
  ): Promise<ProjectSummary> {
    await this.recoverReplacedOf(projectId);
    return this.withUnzipped(body, async ({ files, dir }) => {
      const read = await readProjectFiles(files, this.engine.operationReader);
      if (!read.ok) throw invalidFolder('body', read.diagnostics);
      // Deleted while the zip came in: nothing to update.
      await this.get(projectId);
      const project = read.project;
      const history = this.options.history;
      await history.checkpoint(projectId, author);
      await writeFiles(dir, read.extras);
      const target = this.filesDir(projectId);
      const old = this.replacedDir(projectId);
      await mkdir(dirname(old), { recursive: true });
      const hadFolder = await rename(target, old).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return false;
          throw err;
        },
      );
      try {
        await mkdir(dirname(target), { recursive: true });
        await rename(dir, target);
        await this.options.documents.edit(projectId, (doc) => applyProjectToDoc(doc, project));
      } catch (err) {
        // The old files go back: the project stays as it was.
        if (hadFolder) {
          await rm(target, { recursive: true, force: true });
          await rename(old, target);
        }
        throw err;
      }
      await rm(old, { recursive: true, force: true });
      await history.history(projectId).commit(await history.currentFiles(projectId), {
        kind: 'import',
        message: 'Updated from a project folder',
        author,
        // The same folder again (a run that changed nothing) adds no version.
        allowEmpty: false,
      });
      const record = await this.engine.projects.updateProject(projectId, {
        name: project.manifest.name,
        description: project.manifest.description ?? null,
        updatedAt: Date.now(),
      });
      this.options.logger.info({ projectId }, 'project updated from a project folder');
      return this.summary(record!);
    });
  }

  /**
   * A project from a git bundle of a project folder (`git bundle create x.bundle main`), with its history: the
   * bundle's `main` (else HEAD, else its first branch) becomes the project's history, and an `import` version on
   * top holds what the project document made of it. Nothing is left of a refused bundle.
   */
  async importGitBundle(
    body: Readable,
    name?: string,
    author: VersionAuthor = localAuthor(),
  ): Promise<ProjectSummary> {
    await this.removeStaleImports();
    const staging = join(this.incomingDir, newProjectId());
    this.importing.add(staging);
    try {
      await mkdir(staging, { recursive: true });
      const file = join(staging, 'import.bundle');
      await pipeline(body, byteLimit(this.options.maxImportBytes), createWriteStream(file));
      const scratch = new ProjectHistory(join(staging, 'repo.git'));
      await scratch.init();
      const heads = await scratch.run(['bundle', 'list-heads', file]).catch((err: unknown) => {
        throw badRequest('body', `not a git bundle: ${(err as Error).message}`);
      });
      const refs = heads.stdout
        .toString()
        .split('\n')
        .map((l) => l.split(' ')[1])
        .filter((r): r is string => !!r);
      const ref = ['refs/heads/main', 'HEAD', 'refs/heads/master'].find((r) => refs.includes(r)) ?? refs[0];
      if (ref === undefined) throw badRequest('body', 'the git bundle has no branch');
      await scratch.run(['fetch', '--quiet', '--no-tags', file, `${ref}:${HISTORY_BRANCH}`]);
      const head = (await scratch.head())!;
      const read = await readProjectFiles(await scratch.files(head), this.engine.operationReader);
      if (!read.ok) {
        const errors = read.diagnostics.filter((d) => d.severity === 'error');
        throw new HttpError(
          400,
          'bad-request',
          `body: ${ref} of the bundle is not a valid project folder: ${errors.map((d) => `${d.file ? `${d.file}: ` : ''}${d.message}`).join('; ')}`,
          { field: 'body', diagnostics: errors },
        );
      }
      const project = read.project;
      if (name !== undefined) project.manifest.name = name;
      return await this.register(project, (dir) => writeFolderFiles(dir, read.extras), {
        kind: 'import',
        message: `Imported ${ref} of a git bundle`,
        author,
        fill: (target) => scratch.copyTo(target, head),
      });
    } finally {
      this.importing.delete(staging);
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Staging folders a crash left behind (no import of this process is using them). */
  private async removeStaleImports(): Promise<void> {
    const entries = await readdir(this.incomingDir).catch(() => [] as string[]);
    for (const e of entries) {
      const dir = join(this.incomingDir, e);
      if (!this.importing.has(dir)) await rm(dir, { recursive: true, force: true });
    }
  }

  /** `extrasDir`: a folder already holding the other files of the project folder, moved into place. */
  private async importFiles(
    files: FileMap,
    field: string,
    name?: string,
    description?: string,
    extrasDir?: string,
    start: HistoryStart = { kind: 'import', message: 'Imported a project folder', author: localAuthor() },
  ): Promise<ProjectSummary> {
    const read = await readProjectFiles(files, this.engine.operationReader);
    if (!read.ok) throw invalidFolder(field, read.diagnostics);
    const project = read.project;
    if (name !== undefined) project.manifest.name = name;
    if (description !== undefined) project.manifest.description = description;
    return this.register(
      project,
      async (dir) => {
        if (extrasDir === undefined) return writeFolderFiles(dir, read.extras);
        await writeFiles(extrasDir, read.extras);
        await rm(dir, { recursive: true, force: true });
        await mkdir(dirname(dir), { recursive: true });
        await rename(extrasDir, dir);
      },
      start,
    );
  }

  /**
   * Stores a new project: its folder files (`placeFiles` puts them in the folder given), its document, then its
   * registry row (what makes it exist).
   */
  private async register(
    project: Project,
    placeFiles: (dir: string) => Promise<void>,
    start: HistoryStart,
  ): Promise<ProjectSummary> {
    const id = newProjectId();
    const now = Date.now();
    const history = this.options.history;
    try {
      await placeFiles(this.filesDir(id));
      await this.options.documents.create(id, project);
      if (start.forkedFrom || start.fill) {
        if (start.forkedFrom) {
          await history
            .history(start.forkedFrom.projectId)
            .copyTo(history.history(id), start.forkedFrom.version);
        } else {
          await start.fill!(history.history(id));
        }
        // The version the new project starts from, on top of the history it came with.
        await history.history(id).commit(await history.filesOf(id, project), {
          kind: start.kind,
          message: start.message,
          author: start.author,
          allowEmpty: true,
          ...(start.forkedFrom
            ? {
                trailers: {
                  'DeepForge-Forked-From': `${start.forkedFrom.projectId} ${start.forkedFrom.version}`,
                },
              }
            : {}),
        });
      } else {
        await history.start(id, project, start.kind, start.author, start.message);
      }
      const record = await this.engine.projects.insertProject({
        id,
        name: project.manifest.name,
        description: project.manifest.description ?? null,
        createdAt: now,
        updatedAt: now,
        forkedFrom: start.forkedFrom ?? null,
      });
      this.options.logger.info({ projectId: id, name: project.manifest.name }, 'project created');
      return this.summary(record);
    } catch (err) {
      await this.engine.documents.deleteDocument(id).catch(() => undefined);
      await rm(this.filesDir(id), { recursive: true, force: true }).catch(() => undefined);
      await history.remove(id).catch(() => undefined);
      throw err;
    }
  }

  async update(projectId: string, body: UpdateProjectBody): Promise<ProjectSummary> {
    await this.get(projectId);
    await this.options.documents.edit(projectId, (doc) => {
      if (body.name !== undefined) setManifestName(doc, body.name);
      if (body.description === null) sections.manifest(doc).delete('description');
      else if (body.description !== undefined) sections.manifest(doc).set('description', body.description);
    });
    const record = await this.engine.projects.updateProject(projectId, {
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
      updatedAt: Date.now(),
    });
    return this.summary(record!);
  }

  /** Marks a project changed (its content was edited). */
  async touch(projectId: string): Promise<void> {
    await this.engine.projects.updateProject(projectId, { updatedAt: Date.now() });
  }

  /**
   * Deletes a project with everything it owns: running executions are canceled, executions and artifacts
   * forgotten (artifact bytes only when nothing else uses them), the document and the folder files removed.
   */
  async delete(projectId: string): Promise<void> {
    await this.get(projectId);
    for (;;) {
      const { items } = await this.engine.queryExecutions({ projectId, limit: 500, offset: 0 });
      if (items.length === 0) break;
      for (const e of items) {
        if (isActiveExecutionStatus(e.status)) {
          await this.engine.cancelExecution(e.id).catch(() => undefined);
        }
        await this.engine.deleteExecution(e.id);
      }
    }
    for (;;) {
      const artifacts = await this.engine.listArtifacts({ projectId, limit: 500 });
      if (artifacts.length === 0) break;
      for (const a of artifacts) await this.engine.deleteArtifact(a.id);
    }
    await this.engine.projects.deleteProject(projectId);
    await this.options.documents.remove(projectId);
    await rm(this.filesDir(projectId), { recursive: true, force: true });
    await this.options.history.remove(projectId);
    this.options.logger.info({ projectId }, 'project deleted');
  }

  /**
   * A new project from a version of this one (`version`, or a checkpoint of its live state made now, so forking
   * while others edit takes what they see), with its history up to there and a `fork` version on top; it
   * remembers where it came from. The files kept beside the content (artifact data) are copied.
   */
  async fork(
    projectId: string,
    body: { name: string; version?: string | undefined },
    author: VersionAuthor,
  ): Promise<ProjectSummary> {
    await this.get(projectId);
    const history = this.options.history;
    const version = body.version ?? (await history.checkpoint(projectId, author));
    const source = history.history(projectId);
    const files = await source
      .resolve(version)
      .then((id) => source.files(id))
      .catch((err: unknown) => {
        if (err instanceof HistoryError) throw notFound(err.message);
        throw err;
      });
    const project = await history.parse(files, `version ${version}`);
    project.manifest.name = body.name;
    const extras = await readFolderFiles(this.filesDir(projectId));
    return this.register(project, (dir) => writeFolderFiles(dir, extras), {
      kind: 'fork',
      message: `Forked from ${projectId} at ${version.slice(0, 10)}`,
      author,
      forkedFrom: { projectId, version },
    });
  }

  /** The project folder as a zip: its content as the document holds it, and the files kept beside it. */
  async exportZip(projectId: string): Promise<{ fileName: string; data: Uint8Array }> {
    const project = await this.project(projectId);
    const files: FileMap = await readFolderFiles(this.filesDir(projectId));
    const encoder = new TextEncoder();
    for (const [path, text] of projectToFiles(project)) files.set(path, encoder.encode(text));
    const root = folderName(project.manifest.name);
    return { fileName: `${root}.zip`, data: zipProject(files, root) };
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The 400 of a project folder that does not read as a project, naming each file and its problem. */
function invalidFolder(field: string, diagnostics: readonly Diagnostic[]): HttpError {
  const errors = diagnostics.filter((d) => d.severity === 'error');
  return new HttpError(
    400,
    'bad-request',
    `${field}: not a valid project folder: ${errors.map((d) => `${d.file ? `${d.file}: ` : ''}${d.message}`).join('; ')}`,
    { field, diagnostics: errors },
  );
}

/** A file name made of the project name: what is safe everywhere, else `project`. */
export function folderName(name: string): string {
  const cleaned = name
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+|-+$/g, '');
  return cleaned || 'project';
}

/** An example project folder as GET /api/examples lists it; undefined when it has no readable manifest. */
async function exampleOf(dir: string, name: string): Promise<Example | undefined> {
  const manifest = await readFile(join(dir, 'deepforge.json'), 'utf8').then(
    (t) => JSON.parse(t) as { description?: string },
    () => undefined,
  );
  if (!manifest) return undefined;
  const pipelines = (await readdir(join(dir, 'pipelines')).catch(() => []))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
  return {
    name,
    ...(typeof manifest.description === 'string' ? { description: manifest.description } : {}),
    pipelines,
  };
}
