/** Where the language server's locations are in the project, and which editor shows them (pure). */

/** The URI the server gives the project's files (packages/server/src/lsp/lsp.socket.ts VIRTUAL_ROOT). */
export const WORKSPACE_URI = 'file:///workspace/';

/** A project file's URI: `utils/shapes.py` → file:///workspace/utils/shapes.py. */
export function projectFileUri(path: string): string {
  return WORKSPACE_URI + path.split('/').map(encodeURIComponent).join('/');
}

/** Where a definition is: a file of the project (its path there) or another one (torch's sources). */
export type DefinitionTarget =
  | { kind: 'project'; path: string; line: number; column: number }
  | { kind: 'outside'; file: string; line: number };

/** The target of an LSP location, lines and columns 1-based. */
export function definitionTarget(uri: string, line0: number, character0: number): DefinitionTarget {
  const line = line0 + 1;
  if (uri.startsWith(WORKSPACE_URI)) {
    const path = uri.slice(WORKSPACE_URI.length).split('/').map(decodeURIComponent).join('/');
    return { kind: 'project', path, line, column: character0 + 1 };
  }
  let file = uri;
  try {
    file = decodeURIComponent(new URL(uri).pathname);
  } catch {
    // Not a URL: shown as it came.
  }
  return { kind: 'outside', file, line };
}

/** Where a project file's editor is, at a line: `utils/shapes.py` → /projects/p/utils/shapes?line=3. */
export function projectFileRoute(projectId: string, path: string, line: number): string | undefined {
  const m = /^(operations|utils|serializers)\/([A-Za-z_][A-Za-z0-9_]*)\.py$/.exec(path);
  if (!m) return undefined;
  return `/projects/${projectId}/${m[1]}/${m[2]}?line=${line}`;
}
