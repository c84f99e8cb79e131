import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { RemoteCompute, WorkerLink, WorkerTokenRecord, WorkerTokens } from '@deepforge/engine';
import {
  WORKER_CLOSE_REFUSED,
  WORKER_PROTOCOL_VERSION,
  WorkerHelloSchema,
  WorkerMessageSchema,
  workerVersionProblem,
  type ServerMessage,
} from '@deepforge/protocol';
import { FrameBatcher, frameMessages } from './frames.js';

/** A worker that reads slower than its logs come is cut off; it reconnects and reports its jobs. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

function refuse(
  ws: WebSocket,
  code: 'worker-too-old' | 'server-too-old' | 'hello-expected' | 'bad-message',
  message: string,
): void {
  ws.send(JSON.stringify({ type: 'refused', code, message } satisfies ServerMessage));
  ws.close(WORKER_CLOSE_REFUSED, code);
}

/**
 * One worker's socket (`/api/workers/connect`, docs/adr/0015), its token already checked at the upgrade: the
 * version handshake, then every message validated and handed to the remote compute, in order. A token revoked
 * while the worker is connected ends the connection at its next heartbeat.
 */
export function handleWorkerSocket(
  ws: WebSocket,
  compute: RemoteCompute,
  tokens: WorkerTokens,
  token: WorkerTokenRecord,
  logger: Logger,
): void {
  const frames = new FrameBatcher<ServerMessage>((frame) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.terminate();
      return;
    }
    ws.send(frame);
  });
  const link: WorkerLink = {
    send: (message) => frames.send(message),
    close: (code, reason) => {
      frames.flush();
      ws.close(code, reason);
    },
  };
  const refuseHere: typeof refuse = (...args) => {
    frames.flush();
    refuse(...args);
  };
  let connected = false;
  // Messages are handled one after another: a job's `finished` never overtakes its last log line.
  let queue: Promise<void> = Promise.resolve();
  ws.on('message', (data: RawData) => {
    queue = queue
      .then(() => handle(data))
      .catch((err: unknown) => {
        logger.error({ err }, 'a worker message failed');
      });
  });
  ws.on('close', () => {
    queue = queue.then(() => {
      if (connected) compute.disconnect(link);
    });
  });
  ws.on('error', () => undefined);

  const handle = async (data: RawData): Promise<void> => {
    let raw: unknown;
    try {
      raw = JSON.parse(String(data));
    } catch {
      refuseHere(ws, 'bad-message', 'not JSON');
      return;
    }
    if (Array.isArray(raw) && !connected) {
      refuseHere(ws, 'hello-expected', 'the first message must be hello, alone in its frame');
      return;
    }
    const messages = frameMessages(raw);
    if (typeof messages === 'string') {
      refuseHere(ws, 'bad-message', messages);
      return;
    }
    for (const message of messages) if (!(await handleOne(message))) return;
  };

  /** One message; false when the connection was refused or closed (what follows it is not looked at). */
  const handleOne = async (raw: unknown): Promise<boolean> => {
    if (!connected) {
      const hello = WorkerHelloSchema.safeParse(raw);
      if (!hello.success) {
        const v = (raw as { type?: unknown; v?: unknown } | null)?.v;
        if ((raw as { type?: unknown } | null)?.type === 'hello' && typeof v === 'number') {
          const problem = workerVersionProblem(v);
          if (problem) {
            refuseHere(ws, problem.code, problem.message);
            return false;
          }
        }
        refuseHere(ws, 'hello-expected', 'the first message must be hello');
        return false;
      }
      const problem = workerVersionProblem(hello.data.v);
      if (problem) {
        refuseHere(ws, problem.code, problem.message);
        return false;
      }
      const welcome = await compute.connect(link, token, hello.data);
      connected = true;
      // Alone in its frame, after what connect sent (a cancel for a job the worker still runs).
      frames.flush();
      ws.send(
        JSON.stringify({ type: 'welcome', v: WORKER_PROTOCOL_VERSION, ...welcome } satisfies ServerMessage),
      );
      return true;
    }
    const parsed = WorkerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      refuseHere(
        ws,
        'bad-message',
        first ? `${first.path.join('.') || 'message'}: ${first.message}` : 'invalid',
      );
      return false;
    }
    if (parsed.data.type === 'heartbeat' && !(await tokens.isLive(token.id))) {
      link.close(WORKER_CLOSE_REFUSED, 'the worker token was revoked');
      return false;
    }
    await compute.receive(link, parsed.data);
    return true;
  };
}
