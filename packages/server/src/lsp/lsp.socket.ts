import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { LanguageServerProcess, LspPeer, RpcMessage } from './language-server.process.js';
import { isWorkspaceFile } from './lsp-workspace.js';

/**
 * The URI prefix browsers use for the project's files (`file:///workspace/utils/shapes.py`): they never learn
 * where the data dir is, and the bridge maps it to the project's workspace folder and back.
 */
export const VIRTUAL_ROOT = 'file:///workspace/';
/** Nesting deeper than this is no LSP message the editor sends. */
const MAX_DEPTH = 32;

/** A message naming a file outside the project's workspace, or not shaped like JSON-RPC. */
export class LspMessageError extends Error {
  override readonly name = 'LspMessageError';
}

/** Maps every `file:` URI in a browser's message into the workspace folder; throws on one outside it. */
export function confineUris(value: unknown, root: string, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new LspMessageError(`a message nested deeper than ${MAX_DEPTH} levels`);
  if (typeof value === 'string') {
    if (!/^file:/i.test(value)) return value;
    // The workspace itself (an editor's rootUri).
    if (value === VIRTUAL_ROOT || value === VIRTUAL_ROOT.slice(0, -1)) return pathToFileURL(root).href;
    if (!value.startsWith(VIRTUAL_ROOT))
      throw new LspMessageError(
        `${JSON.stringify(value.slice(0, 200))} is not a file of this project (${VIRTUAL_ROOT}…)`,
      );
    let rel: string;
    try {
      rel = decodeURIComponent(value.slice(VIRTUAL_ROOT.length));
    } catch {
      throw new LspMessageError(`${JSON.stringify(value.slice(0, 200))} is not a valid file URI`);
    }
    if (!isWorkspaceFile(rel))
      throw new LspMessageError(
        `${JSON.stringify(value.slice(0, 200))} is not a Python file under operations/, utils/ or serializers/ of this project`,
      );
    return pathToFileURL(join(root, rel)).href;
  }
  if (Array.isArray(value)) return value.map((v) => confineUris(v, root, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = confineUris(v, root, depth + 1);
    return out;
  }
  return value;
}

/** Maps the workspace folder's URIs in a server message back to VIRTUAL_ROOT; other files (torch) stay as they are. */
export function exposeUris(value: unknown, rootUri: string, depth = 0): unknown {
  if (depth > MAX_DEPTH) return value;
  if (typeof value === 'string')
    return value.startsWith(`${rootUri}/`) ? VIRTUAL_ROOT + value.slice(rootUri.length + 1) : value;
  if (Array.isArray(value)) return value.map((v) => exposeUris(v, rootUri, depth + 1));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = exposeUris(v, rootUri, depth + 1);
    return out;
  }
  return value;
}

function rpcShape(json: unknown): RpcMessage {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new LspMessageError('a message must be one JSON-RPC object (batches are not part of LSP)');
  const m = json as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') throw new LspMessageError('jsonrpc must be "2.0"');
  if (m.method !== undefined && typeof m.method !== 'string')
    throw new LspMessageError('method must be a string');
  if (m.id !== undefined && m.id !== null && typeof m.id !== 'number' && typeof m.id !== 'string')
    throw new LspMessageError('id must be a number or a string');
  return m as unknown as RpcMessage;
}

let nextPeerId = 1;

/**
 * One browser editor's LSP connection (`/api/lsp?project=<id>`): JSON-RPC messages, one per text frame, to and from
 * the project's language server. `server` is already acquired; `release` is called when the socket closes.
 */
export function handleLspSocket(
  ws: WebSocket,
  server: LanguageServerProcess,
  root: string,
  canWrite: boolean,
  logger: Logger,
  release: () => void,
): void {
  const rootUri = server.rootUri;
  const peer: LspPeer = {
    id: nextPeerId++,
    canWrite,
    send: (message) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(exposeUris(message, rootUri)));
    },
    close: (code, reason) => ws.close(code, reason),
  };
  server.attach(peer);
  ws.on('message', (data: RawData, isBinary: boolean) => {
    let message: RpcMessage;
    let id: RpcMessage['id'];
    try {
      if (isBinary) throw new LspMessageError('binary frames are not part of this protocol');
      const json: unknown = JSON.parse(data.toString());
      id = (json as { id?: RpcMessage['id'] } | null)?.id;
      message = rpcShape(confineUris(json, root));
    } catch (err) {
      const text = err instanceof SyntaxError ? `not JSON: ${err.message}` : (err as Error).message;
      if (id !== undefined && id !== null && (typeof id === 'number' || typeof id === 'string'))
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32602, message: text } }));
      else ws.send(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: text } }));
      return;
    }
    if (message.method === 'exit') {
      ws.close(1000, 'exit');
      return;
    }
    server.fromPeer(peer, message);
  });
  ws.on('close', () => {
    server.detach(peer);
    release();
  });
  ws.on('error', (err) => logger.debug({ err }, 'lsp socket error'));
}
