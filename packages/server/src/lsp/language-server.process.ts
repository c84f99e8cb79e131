import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { frameMessage, LspFrameReader } from './lsp-framing.js';

/** A JSON-RPC message as it travels (validated as far as the bridge needs: see lsp.socket.ts). */
export interface RpcMessage {
  jsonrpc: '2.0';
  id?: number | string | null;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** One browser connection as a language server process sees it. */
export interface LspPeer {
  readonly id: number;
  /** Readers' texts are never written into the workspace folder (they cannot change the project). */
  readonly canWrite: boolean;
  send(message: RpcMessage): void;
  close(code: number, reason: string): void;
}

export interface LanguageServerProcessOptions {
  /** The interpreter that runs the project's jobs. */
  python: string;
  /** The directory holding the `deepforge` package (python/). */
  runtimeDir: string;
  /** The project's workspace folder (materialized from the project document). */
  root: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** The largest message either side may send, in bytes. */
  maxMessageBytes: number;
}

/** Requests a browser may make; anything else (executeCommand, workspace edits…) is refused. */
const FORWARDED_REQUESTS: ReadonlySet<string> = new Set([
  'textDocument/completion',
  'completionItem/resolve',
  'textDocument/hover',
  'textDocument/signatureHelp',
  'textDocument/definition',
  'textDocument/declaration',
  'textDocument/typeDefinition',
  'textDocument/references',
  'textDocument/documentHighlight',
  'textDocument/documentSymbol',
]);

/** The server capabilities of the requests the bridge forwards: editors do not offer what would be refused. */
const OFFERED_CAPABILITIES = [
  'completionProvider',
  'hoverProvider',
  'signatureHelpProvider',
  'definitionProvider',
  'declarationProvider',
  'typeDefinitionProvider',
  'referencesProvider',
  'documentHighlightProvider',
  'documentSymbolProvider',
];

function offered(capabilities: unknown): Record<string, unknown> {
  const all = (capabilities ?? {}) as Record<string, unknown>;
  return Object.fromEntries(OFFERED_CAPABILITIES.filter((k) => k in all).map((k) => [k, all[k]]));
}

/** Requests of one browser still waiting for the language server: more are refused (a flooding tab). */
const MAX_IN_FLIGHT_PER_PEER = 64;
/** stdin the language server has not read yet: beyond this a peer that keeps sending is cut off. */
const MAX_PENDING_STDIN_BYTES = 8 * 1024 * 1024;

/**
 * What the warm-up completes, one request each: Jedi's first completion of `torch.nn.` takes 2–4 s and of
 * `matplotlib.pyplot.` up to 9 s on a loaded 2-core machine, later ones a fraction of that, and the first user of an
 * editor should not wait for it. Requests of editors queue between these steps, not behind all of them.
 */
const WARM_UP =
  'import torch\nimport numpy\nimport matplotlib.pyplot\nimport deepforge\ntorch.nn.\nnumpy.\nmatplotlib.pyplot.\ndeepforge.\n';
const WARM_UP_POSITIONS = [
  { line: 4, character: 9 },
  { line: 5, character: 6 },
  { line: 6, character: 18 },
  { line: 7, character: 10 },
];

/** The pylsp settings: Jedi finds the runtime; style checkers are off (their noise is not what we are after). */
function settings(runtimeDir: string): unknown {
  return {
    pylsp: {
      plugins: {
        jedi: { extra_paths: [runtimeDir] },
        // Labels are names, not signatures (resolving 25 signatures per completion costs ~1 s on torch); the
        // documentation comes with completionItem/resolve when an item is selected.
        jedi_completion: { include_params: false, fuzzy: false, eager: false, resolve_at_most: 0 },
        pycodestyle: { enabled: false },
        mccabe: { enabled: false },
        pydocstyle: { enabled: false },
        autopep8: { enabled: false },
        yapf: { enabled: false },
        flake8: { enabled: false },
        pylint: { enabled: false },
        pyflakes: { enabled: true },
        rope_autoimport: { enabled: false },
      },
    },
  };
}

interface OpenDocument {
  /** The peer whose text the language server has; the others' texts wait in case it closes. */
  owner: LspPeer;
  texts: Map<LspPeer, string>;
  languageId: string;
  version: number;
}

type Pending =
  | { kind: 'peer'; peer: LspPeer; id: number | string; method: string }
  | { kind: 'internal'; resolve: (m: RpcMessage) => void };

/**
 * One pylsp process for one project, shared by every open editor of that project. The bridge answers
 * `initialize` itself (the process is initialized once), renumbers requests so that peers' ids cannot collide,
 * and keeps one text per document: when two tabs edit the same file (through the shared Yjs document) the server
 * takes the changes of one of them, the owner, and switches to another's text when the owner closes it.
 */
export class LanguageServerProcess {
  private child: ChildProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly inFlight = new Map<LspPeer, number>();
  /** Per peer with a completion at the server: the newest one typed since, which goes next. */
  private readonly completions = new Map<LspPeer, { queued?: RpcMessage }>();
  private readonly documents = new Map<string, OpenDocument>();
  private readonly peers = new Set<LspPeer>();
  private readonly diskWrites = new Map<string, NodeJS.Timeout>();
  private ready: Promise<unknown> | undefined;
  private exited = false;
  /** Called once when the process is gone (crash or stop). */
  onExit: ((reason: string) => void) | undefined;

  constructor(private readonly options: LanguageServerProcessOptions) {}

  get rootUri(): string {
    return pathToFileURL(this.options.root).href;
  }

  get peerCount(): number {
    return this.peers.size;
  }

  /** The process id, once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Starts the process and initializes it; resolves to the server's capabilities. */
  start(): Promise<unknown> {
    this.ready ??= this.launch();
    return this.ready;
  }

  private async launch(): Promise<unknown> {
    const { python, runtimeDir, root, env, logger } = this.options;
    const child = spawn(python, ['-m', 'deepforge.language_server'], {
      cwd: root,
      env: { ...env, PYTHONPATH: [runtimeDir, env.PYTHONPATH].filter(Boolean).join(':') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    const reader = new LspFrameReader(this.options.maxMessageBytes, (json) => this.fromServer(json));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      // Only the tail is kept: it says why a crashed server crashed.
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        logger.error({ err }, 'language server wrote a broken message: stopping it');
        child.kill('SIGKILL');
      }
    });
    child.stdin!.on('error', () => undefined);
    const exited = new Promise<never>((_, reject) => {
      const gone = (why: string): void => {
        if (this.exited) return;
        this.exited = true;
        for (const t of this.diskWrites.values()) clearTimeout(t);
        for (const p of this.pending.values()) {
          if (p.kind === 'internal') p.resolve({ jsonrpc: '2.0', error: { code: -32603, message: why } });
        }
        this.pending.clear();
        for (const peer of this.peers) peer.close(1011, why.slice(0, 120));
        this.peers.clear();
        this.onExit?.(why);
        reject(new Error(why));
      };
      child.on('error', (err) =>
        gone(`the Python language server could not start (${python}): ${err.message}`),
      );
      child.on('exit', (code, signal) => {
        const tail = stderr.trim().split('\n').slice(-3).join(' | ');
        gone(
          `the Python language server stopped (${signal ?? `exit code ${code}`})${tail ? `: ${tail}` : ''}`,
        );
      });
    });
    exited.catch(() => undefined);
    const init = await Promise.race([
      this.request('initialize', {
        processId: process.pid,
        rootUri: this.rootUri,
        rootPath: root,
        workspaceFolders: [{ uri: this.rootUri, name: 'project' }],
        capabilities: {
          textDocument: {
            synchronization: { didSave: true },
            completion: {
              completionItem: { snippetSupport: false, documentationFormat: ['markdown', 'plaintext'] },
            },
            hover: { contentFormat: ['markdown', 'plaintext'] },
            signatureHelp: {
              signatureInformation: {
                documentationFormat: ['markdown', 'plaintext'],
                parameterInformation: { labelOffsetSupport: true },
              },
            },
            definition: {},
            publishDiagnostics: { relatedInformation: false },
          },
          workspace: { configuration: true },
        },
      }),
      exited,
    ]);
    if (init.error) throw new Error(`the Python language server refused to start: ${init.error.message}`);
    this.notify('initialized', {});
    this.notify('workspace/didChangeConfiguration', { settings: settings(runtimeDir) });
    void this.warmUp();
    return (init.result as { capabilities?: unknown } | undefined)?.capabilities ?? {};
  }

  private async warmUp(): Promise<void> {
    const uri = `${this.rootUri}/.deepforge-warm-up.py`;
    this.notify('textDocument/didOpen', {
      textDocument: { uri, languageId: 'python', version: 1, text: WARM_UP },
    });
    const started = Date.now();
    for (const position of WARM_UP_POSITIONS) {
      if (this.exited) return;
      await this.request('textDocument/completion', { textDocument: { uri }, position });
    }
    this.notify('textDocument/didClose', { textDocument: { uri } });
    this.options.logger.info({ ms: Date.now() - started }, 'language server warmed up');
  }

  private write(message: RpcMessage): void {
    if (this.exited || !this.child?.stdin?.writable) return;
    this.child.stdin.write(frameMessage(JSON.stringify(message)));
  }

  private notify(method: string, params: unknown): void {
    this.write({ jsonrpc: '2.0', method, params });
  }

  private request(method: string, params: unknown): Promise<RpcMessage> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { kind: 'internal', resolve });
      this.write({ jsonrpc: '2.0', id, method, params });
    });
  }

  attach(peer: LspPeer): void {
    this.peers.add(peer);
  }

  detach(peer: LspPeer): void {
    if (!this.peers.delete(peer)) return;
    this.inFlight.delete(peer);
    this.completions.delete(peer);
    for (const [id, p] of this.pending) if (p.kind === 'peer' && p.peer === peer) this.pending.delete(id);
    for (const uri of [...this.documents.keys()]) this.closeDocument(peer, uri);
  }

  /** A message from a peer, its file URIs already confined to this workspace (lsp.socket.ts). */
  fromPeer(peer: LspPeer, message: RpcMessage): void {
    const { method } = message;
    const isRequest = message.id !== undefined && message.id !== null;
    const reply = (result: unknown): void => peer.send({ jsonrpc: '2.0', id: message.id!, result });
    const fail = (code: number, text: string): void =>
      peer.send({ jsonrpc: '2.0', id: message.id!, error: { code, message: text } });
    if (method === undefined) return; // answers to server requests are answered by the bridge instead
    const params = (message.params ?? {}) as Record<string, unknown>;
    const doc = params.textDocument as { uri?: unknown; text?: unknown; languageId?: unknown } | undefined;
    const uri = typeof doc?.uri === 'string' ? doc.uri : undefined;
    switch (method) {
      case 'initialize':
        this.start().then(
          (capabilities) =>
            reply({
              // Whole texts: two tabs' incremental changes of one shared document would apply twice.
              capabilities: {
                ...offered(capabilities),
                textDocumentSync: { openClose: true, change: 1, save: true },
              },
              serverInfo: { name: 'pylsp (DeepForge)' },
            }),
          (err: Error) => fail(-32603, err.message),
        );
        return;
      case 'shutdown':
        if (isRequest) reply(null);
        return;
      case 'initialized':
      case 'exit':
        return;
      case 'textDocument/didOpen':
        if (uri !== undefined && typeof doc?.text === 'string')
          this.openDocument(
            peer,
            uri,
            doc.text,
            typeof doc.languageId === 'string' ? doc.languageId : 'python',
          );
        return;
      case 'textDocument/didChange': {
        const changes = params.contentChanges as { text?: unknown; range?: unknown }[] | undefined;
        const last = Array.isArray(changes) ? changes[changes.length - 1] : undefined;
        if (uri !== undefined && typeof last?.text === 'string' && last.range === undefined)
          this.changeDocument(peer, uri, last.text);
        return;
      }
      case 'textDocument/didClose':
        if (uri !== undefined) this.closeDocument(peer, uri);
        return;
      case 'textDocument/didSave':
        if (uri !== undefined && this.documents.get(uri)?.owner === peer)
          this.notify(method, { textDocument: { uri } });
        return;
      case '$/cancelRequest': {
        const target = (params as { id?: unknown }).id;
        for (const [id, p] of this.pending)
          if (p.kind === 'peer' && p.peer === peer && p.id === target) this.notify(method, { id });
        return;
      }
      default:
        break;
    }
    if (!isRequest) return; // other notifications mean nothing to this bridge
    if (!FORWARDED_REQUESTS.has(method)) {
      fail(-32601, `${method} is not offered by DeepForge's language server bridge`);
      return;
    }
    if (method === 'textDocument/completion') {
      const state = this.completions.get(peer);
      if (state) {
        // pylsp answers one request at a time and cannot cancel one it has started: a completion typed over by a
        // newer one is answered empty instead of waiting in line ahead of it (typing `torch.nn.` asks three times).
        if (state.queued) peer.send({ jsonrpc: '2.0', id: state.queued.id!, result: null });
        state.queued = message;
        return;
      }
      this.completions.set(peer, {});
    }
    const count = this.inFlight.get(peer) ?? 0;
    if (count >= MAX_IN_FLIGHT_PER_PEER) {
      fail(-32800, `more than ${MAX_IN_FLIGHT_PER_PEER} requests are waiting: this one is dropped`);
      return;
    }
    if ((this.child?.stdin?.writableLength ?? 0) > MAX_PENDING_STDIN_BYTES) {
      peer.close(1013, 'the language server is not keeping up: reconnect');
      return;
    }
    const id = this.nextId++;
    this.inFlight.set(peer, count + 1);
    this.pending.set(id, { kind: 'peer', peer, id: message.id!, method });
    this.write({ jsonrpc: '2.0', id, method, params: message.params });
  }

  private openDocument(peer: LspPeer, uri: string, text: string, languageId: string): void {
    const open = this.documents.get(uri);
    if (!open) {
      this.documents.set(uri, { owner: peer, texts: new Map([[peer, text]]), languageId, version: 1 });
      this.notify('textDocument/didOpen', { textDocument: { uri, languageId, version: 1, text } });
    } else {
      open.texts.set(peer, text);
      if (open.owner === peer) this.sendText(uri, open, text);
    }
    this.toDisk(peer, uri, text);
  }

  private changeDocument(peer: LspPeer, uri: string, text: string): void {
    const open = this.documents.get(uri);
    if (!open || !open.texts.has(peer)) return;
    open.texts.set(peer, text);
    if (open.owner !== peer) return;
    this.sendText(uri, open, text);
    this.toDisk(peer, uri, text);
  }

  private sendText(uri: string, open: OpenDocument, text: string): void {
    open.version += 1;
    this.notify('textDocument/didChange', {
      textDocument: { uri, version: open.version },
      contentChanges: [{ text }],
    });
  }

  private closeDocument(peer: LspPeer, uri: string): void {
    const open = this.documents.get(uri);
    if (!open || !open.texts.delete(peer)) return;
    if (open.owner !== peer) return;
    const next = open.texts.entries().next();
    if (next.done) {
      this.documents.delete(uri);
      this.notify('textDocument/didClose', { textDocument: { uri } });
      return;
    }
    const [owner, text] = next.value;
    open.owner = owner;
    this.sendText(uri, open, text);
  }

  /**
   * A writer's text of a util or serializer goes to the workspace folder too (debounced): Jedi reads imported
   * modules from disk, so an edit shows in the completions of the files that import it before the document is
   * materialized again.
   */
  private toDisk(peer: LspPeer, uri: string, text: string): void {
    if (!peer.canWrite || !uri.startsWith(`${this.rootUri}/`)) return;
    const path = fileURLToPath(uri);
    clearTimeout(this.diskWrites.get(path));
    this.diskWrites.set(
      path,
      setTimeout(() => {
        this.diskWrites.delete(path);
        void mkdir(dirname(path), { recursive: true })
          .then(() => writeFile(path, text))
          .catch((err: unknown) =>
            this.options.logger.warn({ err, path }, 'could not write a workspace file'),
          );
      }, 300),
    );
  }

  private fromServer(json: string): void {
    let message: RpcMessage;
    try {
      message = JSON.parse(json) as RpcMessage;
    } catch {
      this.options.logger.warn('language server wrote a message that is not JSON');
      return;
    }
    if (message.method !== undefined) {
      if (message.id !== undefined && message.id !== null) {
        // Requests of the server (configuration, progress, registrations): the bridge answers them.
        const result =
          message.method === 'workspace/configuration'
            ? ((message.params as { items?: unknown[] } | undefined)?.items ?? []).map(
                () => (settings(this.options.runtimeDir) as { pylsp: unknown }).pylsp,
              )
            : null;
        this.write({ jsonrpc: '2.0', id: message.id, result });
        return;
      }
      if (message.method === 'textDocument/publishDiagnostics') {
        const uri = (message.params as { uri?: unknown } | undefined)?.uri;
        const open = typeof uri === 'string' ? this.documents.get(uri) : undefined;
        if (open) for (const peer of open.texts.keys()) peer.send(message);
      }
      return;
    }
    if (typeof message.id !== 'number') return;
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    if (p.kind === 'internal') {
      p.resolve(message);
      return;
    }
    this.inFlight.set(p.peer, Math.max(0, (this.inFlight.get(p.peer) ?? 1) - 1));
    p.peer.send({ ...message, id: p.id });
    if (p.method === 'textDocument/completion') {
      const queued = this.completions.get(p.peer)?.queued;
      this.completions.delete(p.peer);
      if (queued && this.peers.has(p.peer)) this.fromPeer(p.peer, queued);
    }
  }

  /** Asks the server to shut down, then kills it if it lingers. */
  async stop(graceMs = 2000): Promise<void> {
    const child = this.child;
    if (!child || this.exited) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    void this.request('shutdown', null).then(() => {
      this.notify('exit', null);
      child.stdin?.end();
    });
    await gone;
    clearTimeout(timer);
  }
}
