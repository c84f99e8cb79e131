import type { Diagnostic } from '@codemirror/lint';
import {
  hoverTooltips,
  LSPClient,
  LSPPlugin,
  serverCompletionSource,
  serverDiagnostics,
  signatureHelp,
  type LSPClientExtension,
  type Transport,
} from '@codemirror/lsp-client';
import { autocompletion, type CompletionSource } from '@codemirror/autocomplete';
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { socketUrl } from '../api/events-client.js';
import { backoffDelay } from '../lib/backoff.js';
import { setLintSource } from './lint-sources.js';
import { definitionTarget, projectFileUri, WORKSPACE_URI, type DefinitionTarget } from './lsp-locations.js';

export type { DefinitionTarget } from './lsp-locations.js';

/** How long a request may take: the server's first completion of torch (while it warms up) takes seconds. */
const REQUEST_TIMEOUT_MS = 20_000;
/** An editor switch closes one editor and opens another: the connection lingers through it. */
const LINGER_MS = 10_000;

const SEVERITY: Record<number, Diagnostic['severity']> = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' };

interface PublishDiagnostics {
  uri: string;
  version?: number;
  diagnostics: {
    range: { start: LspPosition; end: LspPosition };
    severity?: number;
    message: string;
    source?: string;
  }[];
}
interface LspPosition {
  line: number;
  character: number;
}

/**
 * The language server's diagnostics go into the editor's "server" lint source (lint-sources.ts), beside the
 * editor's own checks, instead of replacing them as serverDiagnostics() would; its automatic sync is kept.
 */
function mergedDiagnostics(): LSPClientExtension {
  const base = serverDiagnostics();
  return {
    ...base,
    notificationHandlers: {
      'textDocument/publishDiagnostics': (client, params: PublishDiagnostics) => {
        const file = client.workspace.getFile(params.uri);
        if (!file || (params.version != null && params.version !== file.version)) return false;
        const view = file.getView();
        const plugin = view && LSPPlugin.get(view);
        if (!view || !plugin) return false;
        // pylsp publishes without a version: a late lint of an older text can name lines this one lacks, so
        // positions are clamped to the text the server has, then mapped over what it has not been sent yet.
        const synced = plugin.syncedDoc;
        const at = (p: LspPosition): number => {
          if (p.line >= synced.lines) return plugin.unsyncedChanges.mapPos(synced.length);
          const line = synced.line(p.line + 1);
          return plugin.unsyncedChanges.mapPos(Math.min(line.from + Math.max(0, p.character), line.to));
        };
        if (plugin.unsyncedChanges.length !== synced.length) return true;
        setLintSource(
          view,
          'server',
          params.diagnostics.map((d) => ({
            from: at(d.range.start),
            to: at(d.range.end),
            severity: SEVERITY[d.severity ?? 1] ?? 'error',
            message: d.source ? `${d.message} (${d.source})` : d.message,
          })),
        );
        return true;
      },
    },
  };
}

/**
 * One project's connection to its language server (/api/lsp), shared by the project's code editors and
 * reconnected with backoff when it drops (the server restarts a crashed language server for the next connection).
 */
class ProjectLanguageClient {
  readonly client: LSPClient;
  private ws: WebSocket | undefined;
  private attempt = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  users = 0;
  linger: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly projectId: string) {
    this.client = new LSPClient({
      rootUri: WORKSPACE_URI.slice(0, -1),
      timeout: REQUEST_TIMEOUT_MS,
      extensions: [mergedDiagnostics()],
      // Hover and completion documentation is Markdown from the server: no raw HTML gets through.
      sanitizeHTML: (html) => sanitize(html),
    });
    this.open();
  }

  private open(): void {
    if (this.disposed) return;
    const ws = new WebSocket(socketUrl(`/api/lsp?project=${encodeURIComponent(this.projectId)}`));
    this.ws = ws;
    const handlers = new Set<(value: string) => void>();
    const transport: Transport = {
      send: (message) => {
        if (ws.readyState !== WebSocket.OPEN) throw new Error('the language server connection is closed');
        ws.send(message);
      },
      subscribe: (h) => handlers.add(h),
      unsubscribe: (h) => handlers.delete(h),
    };
    ws.onmessage = (e: MessageEvent<string>) => {
      for (const h of handlers) h(e.data);
    };
    ws.onopen = () => {
      this.attempt = 0;
      this.client.connect(transport);
      // A refused initialize is the editor's loss of smarts, not a page error: the editor keeps working.
      this.client.initializing.catch((err: unknown) =>
        console.warn(
          'the Python language server did not start:',
          (err as { message?: string }).message ?? err,
        ),
      );
    };
    ws.onclose = () => {
      if (this.client.connected) this.client.disconnect();
      if (this.disposed) return;
      this.retry = setTimeout(() => this.open(), backoffDelay(this.attempt++, { base: 1000, max: 30_000 }));
    };
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retry);
    if (this.client.connected) this.client.disconnect();
    this.ws?.close();
  }
}

/** Removes what could run script from rendered Markdown (the server is ours, but defence costs little). */
function sanitize(html: string): string {
  const template = document.createElement('template');
  template.innerHTML = html;
  for (const el of template.content.querySelectorAll('script, style, iframe, object, embed, link, meta'))
    el.remove();
  for (const el of template.content.querySelectorAll('*')) {
    for (const attr of [...el.attributes]) {
      const value = attr.value.trim().toLowerCase();
      if (attr.name.startsWith('on') || value.startsWith('javascript:') || value.startsWith('data:text/html'))
        el.removeAttribute(attr.name);
    }
  }
  return template.innerHTML;
}

const clients = new Map<string, ProjectLanguageClient>();

function acquire(projectId: string): ProjectLanguageClient {
  let c = clients.get(projectId);
  if (!c) {
    c = new ProjectLanguageClient(projectId);
    clients.set(projectId, c);
  }
  clearTimeout(c.linger);
  c.users += 1;
  return c;
}

function release(projectId: string, c: ProjectLanguageClient): void {
  c.users -= 1;
  if (c.users > 0) return;
  c.linger = setTimeout(() => {
    if (c.users > 0) return;
    c.dispose();
    if (clients.get(projectId) === c) clients.delete(projectId);
  }, LINGER_MS);
}

interface DefinitionLocation {
  uri?: string;
  targetUri?: string;
  range?: { start: LspPosition };
  targetSelectionRange?: { start: LspPosition };
}

/** Asks the server where the name at the cursor is defined and goes there (onTarget for other files). */
function goToDefinition(view: EditorView, onTarget: (target: DefinitionTarget) => void): boolean {
  const plugin = LSPPlugin.get(view);
  if (!plugin) return false;
  plugin.client.sync();
  const pos = view.state.selection.main.head;
  plugin.client
    .request<unknown, DefinitionLocation | DefinitionLocation[] | null>('textDocument/definition', {
      textDocument: { uri: plugin.uri },
      position: plugin.toPosition(pos),
    })
    .then(
      (response) => {
        const loc = Array.isArray(response) ? response[0] : response;
        const uri = loc?.targetUri ?? loc?.uri;
        const start = loc?.targetSelectionRange?.start ?? loc?.range?.start;
        if (!uri || !start) return;
        if (uri === plugin.uri) {
          const at = plugin.fromPosition(start, view.state.doc);
          view.dispatch({ selection: { anchor: at }, scrollIntoView: true, userEvent: 'select.definition' });
          return;
        }
        onTarget(definitionTarget(uri, start.line, start.character));
      },
      (err: unknown) => plugin.reportError('Go to definition failed', err),
    );
  return true;
}

/**
 * The language server's completions, and none while its connection is down (starting, reconnecting): lsp-client's
 * own source throws "Client not connected" then, which the editor logs as an error on every keystroke.
 */
const connectedCompletion: CompletionSource = (context) => {
  const plugin = context.view ? LSPPlugin.get(context.view) : null;
  if (!plugin?.client.connected) return null;
  return Promise.resolve(serverCompletionSource(context)).catch(() => null);
};

export interface PythonLanguageOptions {
  projectId: string;
  /** The file's path in the project: `operations/Train.py`, `utils/shapes.py`. */
  path: string;
  /** A definition in another file: open its editor (project) or say where it is (outside). */
  onDefinition: (target: DefinitionTarget) => void;
}

/**
 * Completion, hover documentation, signature help, go-to-definition (F12, Ctrl/Cmd-click) and diagnostics from
 * the project's Python language server, for one editor. Returns the extension and a function to call when the
 * editor is destroyed.
 */
export function pythonLanguageServer(options: PythonLanguageOptions): {
  extension: Extension;
  release: () => void;
} {
  const c = acquire(options.projectId);
  const jump = (view: EditorView): boolean => goToDefinition(view, options.onDefinition);
  const extension: Extension = [
    c.client.plugin(projectFileUri(options.path), 'python'),
    autocompletion(),
    EditorState.languageData.of(() => [{ autocomplete: connectedCompletion }]),
    hoverTooltips(),
    signatureHelp(),
    keymap.of([{ key: 'F12', run: jump }]),
    EditorView.domEventHandlers({
      mousedown: (event, view) => {
        if (!(event.ctrlKey || event.metaKey) || event.button !== 0) return false;
        const pos = view.posAtCoords({ x: event.clientX, y: event.clientY });
        if (pos === null) return false;
        view.dispatch({ selection: { anchor: pos } });
        event.preventDefault();
        return jump(view);
      },
    }),
  ];
  let released = false;
  return {
    extension,
    release: () => {
      if (released) return;
      released = true;
      release(options.projectId, c);
    },
  };
}
