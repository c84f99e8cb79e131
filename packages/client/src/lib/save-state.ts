/** What an editor of the project document says about its text: saved on the server, on its way, or kept here. */
export type SaveState = 'saved' | 'saving' | 'offline';

/**
 * `edited`: this editor's text changed here since the server last confirmed every local change; `status` and
 * `unsynced` are the project document's connection and its local changes the server has not confirmed. Edits sync
 * as they are typed (there is no Save button): "saved" once the server has them all.
 */
export function saveState(edited: boolean, status: string, unsynced: number): SaveState {
  if (!edited) return 'saved';
  if (status !== 'connected') return 'offline';
  return unsynced > 0 ? 'saving' : 'saved';
}

export const SAVE_STATE_LABEL: Readonly<Record<SaveState, string>> = {
  saved: 'Saved',
  saving: 'Saving…',
  offline: 'Not saved yet: reconnecting',
};
