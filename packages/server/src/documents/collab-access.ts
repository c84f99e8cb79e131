import type { Extension, onConnectPayload } from '@hocuspocus/server';
import type { AccountService } from '@deepforge/engine';
import { projectRoleOf, type RequestAuth } from '../auth/request-auth.js';

/** What the upgrade handed to Hocuspocus: who opened the socket. */
export interface CollabContext {
  auth: RequestAuth;
}

/**
 * Who may open a project document (the document name is the project id): members only, and readers read-only
 * (Hocuspocus then drops their document updates; their presence still shows). Refused like a document that does
 * not exist, so ids cannot be probed.
 */
export class CollabAccess implements Extension {
  readonly extensionName = 'deepforge-collab-access';
  // Before persistence: a refused connection never loads the document.
  readonly priority = 1000;

  constructor(private readonly accounts: AccountService) {}

  async onConnect(data: onConnectPayload): Promise<void> {
    const auth = (data.context as Partial<CollabContext> | undefined)?.auth;
    if (auth === undefined) throw new Error('no caller on this connection');
    if (auth.mode === 'off') return;
    const role = await projectRoleOf(this.accounts, auth, data.documentName);
    if (role === undefined) throw new Error(`there is no project ${data.documentName}`);
    if (role === 'reader') data.connectionConfig.readOnly = true;
  }
}
