import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { z } from 'zod';
import { NotFoundError, type Engine } from '@deepforge/engine';
import {
  EVENTS_CLOSE_PROTOCOL_ERROR,
  EXECUTION_EVENTS_VERSION,
  EventsClientMessageSchema,
  EventsHelloSchema,
  type EventsError,
  type EventsServerMessage,
  type ExecutionEvent,
  type ComputeStateDto,
  type ExecutionStatusEvent,
  type JobStatusEvent,
  type LiveEventType,
} from '@deepforge/protocol';
import { assertNever } from '@deepforge/core';
import { EventBatcher } from './events.batcher.js';

/**
 * A client that reads slower than events come is cut off rather than buffered without end. Log lines and
 * metrics are skipped long before (BatcherLimits.slowBytes); this catches what is never skipped (plots).
 */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/** The LiveEvent type an engine event goes out as (lines and metrics in batches). */
function liveType(type: ExecutionEvent['type']): LiveEventType {
  return type === 'job.log' ? 'job.logs' : type === 'job.metric' ? 'job.metrics' : type;
}

function issueText(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid message';
  const field = first.path.length > 0 ? first.path.join('.') : 'message';
  return `${field}: ${first.message}`;
}

/**
 * One client of `/api/events`: the version handshake, then subscribe / unsubscribe / cancel commands in, live
 * execution events out, log lines and metrics in batches (EventBatcher). A subscription to one execution starts
 * with its current state (execution.status and each job.status), so a client that subscribes late needs no extra
 * request; events that happen meanwhile are held back until that state is sent, so nothing arrives out of order.
 */
/**
 * What the client of a socket may see and do, by execution (accounts: its project's role). Undefined: everything
 * (accounts off).
 */
export interface EventsAccess {
  canRead(executionId: string): Promise<boolean>;
  canCancel(executionId: string): Promise<boolean>;
}

/** How long a decision about an execution holds before it is asked again (a member removed meanwhile). */
const ACCESS_TTL_MS = 10_000;

type Decision = { allowed: boolean; at: number } | { pending: ExecutionEvent[] };

/**
 * Filters the events of a `*` subscription by access, keeping each execution's events in order: the events of an
 * execution not decided yet wait for the decision.
 */
function accessGate(
  access: EventsAccess,
  deliver: (event: ExecutionEvent) => void,
): (event: ExecutionEvent) => void {
  const decisions = new Map<string, Decision>();
  return (event) => {
    const id = event.executionId;
    const d = decisions.get(id);
    if (d && 'pending' in d) {
      d.pending.push(event);
      return;
    }
    if (d && Date.now() - d.at < ACCESS_TTL_MS) {
      if (d.allowed) deliver(event);
      return;
    }
    const pending = [event];
    decisions.set(id, { pending });
    const settle = (allowed: boolean): void => {
      decisions.set(id, { allowed, at: Date.now() });
      if (allowed) for (const e of pending) deliver(e);
    };
    access.canRead(id).then(settle, () => settle(false));
  };
}

/** The Compute view's state for a socket that watches it (`watch-compute`); see ComputeMonitor. */
export interface ComputeWatch {
  watch(send: (state: ComputeStateDto) => void): () => void;
}

export function handleEventsSocket(
  ws: WebSocket,
  engine: Engine,
  logger: Logger,
  agent: string,
  access?: EventsAccess,
  compute?: ComputeWatch,
): void {
  let greeted = false;
  let unwatchCompute: (() => void) | undefined;
  const subscriptions = new Map<string, () => void>();

  const send = (message: EventsServerMessage): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.close(1013, 'reading too slowly: reconnect and subscribe again');
      return;
    }
    ws.send(JSON.stringify(message));
  };
  const batcher = new EventBatcher({ send, bufferedAmount: () => ws.bufferedAmount });
  const fail = (code: EventsError['code'], message: string, executionId?: string): void =>
    send({ type: 'error', code, message, ...(executionId !== undefined ? { executionId } : {}) });
  const refuse = (code: EventsError['code'], message: string): void => {
    fail(code, message);
    ws.close(EVENTS_CLOSE_PROTOCOL_ERROR, code);
  };

  send({ type: 'hello', v: EXECUTION_EVENTS_VERSION, agent });

  /** The event types each subscription wants (absent: all). */
  const wanted = new Map<string, ReadonlySet<LiveEventType>>();
  const subscribe = async (executionId: string, types?: readonly LiveEventType[]): Promise<void> => {
    if (types) wanted.set(executionId, new Set(types));
    else wanted.delete(executionId);
    if (subscriptions.has(executionId)) {
      send({ type: 'subscribed', executionId });
      return;
    }
    let held: ExecutionEvent[] | null = [];
    const deliver = (event: ExecutionEvent): void => {
      if (held) held.push(event);
      else batcher.accept(executionId, event);
    };
    const gated = access && executionId === '*' ? accessGate(access, deliver) : deliver;
    const unsubscribe = engine.subscribe(executionId, (event) => {
      const only = wanted.get(executionId);
      if (only && !only.has(liveType(event.type))) return;
      gated(event);
    });
    subscriptions.set(executionId, unsubscribe);
    try {
      const state: (ExecutionStatusEvent | JobStatusEvent)[] = [];
      if (executionId !== '*') {
        // Not a member of its project: the same answer as for an execution that does not exist.
        if (access && !(await access.canRead(executionId).catch(() => false))) {
          throw new NotFoundError(`no execution with id "${executionId}"`);
        }
        const e = await engine.getExecution(executionId);
        if (e.id !== executionId) throw new NotFoundError(`no execution with id "${executionId}"`);
        const t = Date.now();
        const base = { v: EXECUTION_EVENTS_VERSION, t, executionId } as const;
        state.push({
          ...base,
          type: 'execution.status',
          status: e.status,
          pipeline: e.pipeline,
          project: e.project,
          projectId: e.projectId,
        });
        for (const j of e.jobs) {
          state.push({
            ...base,
            type: 'job.status',
            jobId: j.id,
            node: j.node,
            operation: j.operation,
            status: j.status,
            attempt: j.attempt,
            ...(j.exitCode !== null ? { exitCode: j.exitCode } : {}),
            ...(j.error ? { error: j.error } : {}),
            ...(j.cachedFrom ? { cachedFrom: j.cachedFrom } : {}),
            ...(j.usage ? { usage: j.usage } : {}),
          });
        }
      }
      send({ type: 'subscribed', executionId });
      for (const event of state) send(event);
    } catch (err) {
      unsubscribe();
      subscriptions.delete(executionId);
      held = null;
      if (err instanceof NotFoundError)
        fail('not-found', `there is no execution "${executionId}"`, executionId);
      else {
        logger.error({ err, executionId }, 'could not subscribe');
        fail('execution-state', (err as Error).message, executionId);
      }
      return;
    }
    const pending = held;
    held = null;
    for (const event of pending) batcher.accept(executionId, event);
  };

  ws.on('message', (data: RawData, isBinary: boolean) => {
    let json: unknown;
    try {
      if (isBinary) throw new Error('binary frames are not part of this protocol');
      json = JSON.parse(data.toString());
    } catch (err) {
      if (!greeted)
        refuse('hello-expected', `the first message must be a JSON hello: ${(err as Error).message}`);
      else fail('bad-message', `not JSON: ${(err as Error).message}`);
      return;
    }
    if (!greeted) {
      const hello = EventsHelloSchema.safeParse(json);
      if (!hello.success) {
        refuse(
          'hello-expected',
          `the first message must be {"type":"hello","v":${EXECUTION_EVENTS_VERSION}}: ${issueText(hello.error)}`,
        );
        return;
      }
      if (hello.data.v < EXECUTION_EVENTS_VERSION) {
        refuse(
          'client-too-old',
          `client too old: it speaks execution events version ${hello.data.v}, this server speaks ${EXECUTION_EVENTS_VERSION}; reload the page or update the client`,
        );
        return;
      }
      if (hello.data.v > EXECUTION_EVENTS_VERSION) {
        refuse(
          'server-too-old',
          `server too old: the client speaks execution events version ${hello.data.v}, this server speaks ${EXECUTION_EVENTS_VERSION}; update the server`,
        );
        return;
      }
      greeted = true;
      return;
    }
    const parsed = EventsClientMessageSchema.safeParse(json);
    if (!parsed.success) {
      fail('bad-message', issueText(parsed.error));
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'hello':
        fail('bad-message', 'hello was already received');
        return;
      case 'subscribe':
        void subscribe(message.executionId, message.types);
        return;
      case 'unsubscribe':
        subscriptions.get(message.executionId)?.();
        subscriptions.delete(message.executionId);
        wanted.delete(message.executionId);
        batcher.drop(message.executionId);
        return;
      case 'cancel':
        void (async () => {
          if (access) {
            if (!(await access.canRead(message.executionId).catch(() => false))) {
              fail('not-found', `there is no execution "${message.executionId}"`, message.executionId);
              return;
            }
            if (!(await access.canCancel(message.executionId).catch(() => false))) {
              fail(
                'forbidden',
                'you can read this project but not run or cancel its executions',
                message.executionId,
              );
              return;
            }
          }
          await engine.cancelExecution(message.executionId);
        })().catch((err: unknown) => {
          if (err instanceof NotFoundError) fail('not-found', (err as Error).message, message.executionId);
          else fail('execution-state', (err as Error).message, message.executionId);
        });
        return;
      case 'watch-compute':
        if (!compute) {
          fail('bad-message', 'this server has no Compute view');
          return;
        }
        unwatchCompute ??= compute.watch((state) => send({ type: 'compute', compute: state }));
        return;
      case 'unwatch-compute':
        unwatchCompute?.();
        unwatchCompute = undefined;
        return;
      default:
        assertNever(message);
    }
  });

  ws.on('close', () => {
    unwatchCompute?.();
    unwatchCompute = undefined;
    for (const unsubscribe of subscriptions.values()) unsubscribe();
    subscriptions.clear();
    batcher.close();
  });
  ws.on('error', (err) => logger.debug({ err }, 'events socket error'));
}
