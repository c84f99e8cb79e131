import { realpath } from 'node:fs/promises';
import type { Project } from '@deepforge/core';
import { projectDocumentUpdate } from '@deepforge/protocol/engine';
import { ProjectFolderError } from './errors.js';
import type { DocumentStore } from './store/document.store.js';
import { newId } from './store/new-id.js';
import type { ProjectRecord, ProjectStore } from './store/project.store.js';

export interface FolderProjectRegistration {
  /** The folder project, as registered now. */
  project: ProjectRecord;
  /** Registered by this call (the folder had no project yet). */
  created: boolean;
  /** Its content in the data dir was changed to the folder's (false: it held it already). */
  updated: boolean;
}

interface FolderProjectStores {
  projects: ProjectStore;
  documents: DocumentStore;
  now(): number;
}

/**
 * The project of a project folder (docs/adr/0028), registered the first time and found by the folder's real path
 * after, with its content in the data dir (the project document the web IDE opens) made the same as the
 * folder's. The folder is only read. The document changes by one appended Yjs update of what differs, so a server
 * holding it live merges it like a collaborator's edit; the registry row is written after the document, so a
 * project never exists without content.
 */
export async function registerFolderProject(
  stores: FolderProjectStores,
  dir: string,
  project: Project,
): Promise<FolderProjectRegistration> {
  const folder = await realpath(dir).catch((err: NodeJS.ErrnoException) => {
    throw new ProjectFolderError(
      dir,
      `cannot read the project folder ${dir}: ${err.code ?? err.message}`,
      [],
    );
  });
  const name = project.manifest.name;
  const description = project.manifest.description ?? null;
  for (let attempt = 0; ; attempt++) {
    const found = await stores.projects.getProjectByFolder(folder);
    if (found) {
      const stored = await stores.documents.loadUpdates(found.id);
      const update = projectDocumentUpdate(
        stored.map((u) => u.update),
        project,
      );
      if (update !== null) await stores.documents.appendUpdate(found.id, update);
      const renamed = found.name !== name || found.description !== description;
      if (update === null && !renamed) return { project: found, created: false, updated: false };
      const record = await stores.projects.updateProject(found.id, {
        name,
        description,
        updatedAt: stores.now(),
      });
      // Deleted in the web IDE meanwhile: register it again.
      if (record) return { project: record, created: false, updated: true };
    }
    const id = newId();
    await stores.documents.appendUpdate(id, projectDocumentUpdate([], project)!);
    const now = stores.now();
    try {
      const record = await stores.projects.insertProject({
        id,
        name,
        description,
        createdAt: now,
        updatedAt: now,
        folder,
      });
      return { project: record, created: true, updated: true };
    } catch (err) {
      await stores.documents.deleteDocument(id);
      // Another run of the same folder registered it first (the unique folder index): use that one.
      if (attempt === 0 && (await stores.projects.getProjectByFolder(folder))) continue;
      throw err;
    }
  }
}
