import type { Extension, onChangePayload } from '@hocuspocus/server';
import type { CollabContext } from '../documents/collab-access.js';
import { authorOf, type HistoryService } from './history.service.js';

/**
 * Counts every change to a project document (a browser's or a REST edit's) towards the project's next automatic
 * checkpoint (docs/adr/0020). Set `history` once the service exists: Hocuspocus is made before it.
 */
export class HistoryRecorder implements Extension {
  readonly extensionName = 'deepforge-history-recorder';
  history: HistoryService | undefined;

  async onChange(data: onChangePayload): Promise<void> {
    const auth = (data.context as Partial<CollabContext> | undefined)?.auth;
    this.history?.noteChange(data.documentName, auth ? authorOf(auth) : undefined);
  }
}
