import WebSocket from 'ws';
import { assertNever, isTerminalExecutionStatus } from '@deepforge/core';
import {
  EXECUTION_EVENTS_VERSION,
  EventsServerMessageSchema,
  type ExecutionEvent,
  type LiveEvent,
} from '@deepforge/protocol';

/** Events of executions not followed yet, kept until `follow` names one (the others are then dropped). */
const MAX_EARLY_EVENTS = 20_000;
const OPEN_TIMEOUT_MS = 30_000;

/** The engine's events a live event stands for: batches of lines and metrics become one event each. */
export function executionEventsOf(event: LiveEvent): ExecutionEvent[] {
  switch (event.type) {
    case 'job.logs': {
      const { v, t, executionId, jobId, node } = event;
      return event.lines.map((l) => ({
        type: 'job.log' as const,
        v,
        t,
        executionId,
        jobId,
        node,
        stream: l.stream,
        text: l.text,
        ...(l.transient ? { transient: true } : {}),
      }));
    }
    case 'job.metrics': {
      const { v, executionId, jobId, node } = event;
      return event.points.map((p) => ({
        type: 'job.metric' as const,
        v,
        t: p.t,
        executionId,
        jobId,
        node,
        step: p.step,
        values: p.values,
      }));
    }
    case 'execution.status':
    case 'job.status':
    case 'job.plot':
    case 'job.progress':
      return [event];
    default:
      return assertNever(event);
  }
}

export interface ExecutionFollowerOptions {
  /** The server's origin (`http://host:port`); the socket is its /api/events. */
  origin: string;
  /** An access token (`dfp_…`) for a server with accounts. */
  token?: string;
  onEvent(event: ExecutionEvent): void;
}

/**
 * Follows executions of a server over its /api/events socket, for `deepforge run --server`: it subscribes to every
 * execution the caller may read before the execution it follows exists, so that not one of its console lines is
 * missed, and keeps their events until `follow` names the one it wants.
 */
export class ExecutionFollower {
  private readonly early: ExecutionEvent[] = [];
  private followed: string | undefined;
  private finished: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private ended = false;
  private failure: Error | undefined;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: ExecutionFollowerOptions,
  ) {}

  /** Connects and subscribes; rejects with a message saying why when the server refuses or cannot be reached. */
  static open(options: ExecutionFollowerOptions): Promise<ExecutionFollower> {
    const url = `${options.origin.replace(/^http/, 'ws')}/api/events`;
    const ws = new WebSocket(url, {
      headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      handshakeTimeout: OPEN_TIMEOUT_MS,
    });
    const follower = new ExecutionFollower(ws, options);
    return new Promise((resolve, reject) => {
      let subscribed = false;
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body = (body + c).slice(0, 2000)));
        res.on('end', () =>
          reject(new Error(`${options.origin} refused the events socket: ${res.statusCode} ${body.trim()}`)),
        );
      });
      ws.on('error', (err) => {
        if (!subscribed) reject(new Error(`cannot follow executions on ${options.origin}: ${err.message}`));
        else follower.fail(new Error(`the connection to ${options.origin} failed: ${err.message}`));
      });
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'hello', v: EXECUTION_EVENTS_VERSION, agent: 'deepforge-cli' }));
        ws.send(JSON.stringify({ type: 'subscribe', v: EXECUTION_EVENTS_VERSION, executionId: '*' }));
      });
      ws.on('message', (data) => {
        let parsed;
        try {
          parsed = EventsServerMessageSchema.safeParse(JSON.parse(String(data)));
        } catch {
          return;
        }
        if (!parsed.success) return;
        const message = parsed.data;
        switch (message.type) {
          case 'hello':
          case 'compute':
            return;
          case 'subscribed':
            if (!subscribed) {
              subscribed = true;
              resolve(follower);
            }
            return;
          case 'error':
            if (!subscribed) reject(new Error(`${options.origin}: ${message.message}`));
            else if (message.executionId === undefined || message.executionId === follower.followed)
              follower.fail(new Error(`${options.origin}: ${message.message}`));
            return;
          default:
            for (const e of executionEventsOf(message)) follower.accept(e);
        }
      });
      ws.on('close', (code, reason) => {
        const why = new Error(
          `the connection to ${options.origin} closed (${code}${reason.length ? `: ${reason.toString()}` : ''}) before the execution ended`,
        );
        if (!subscribed) reject(why);
        else follower.fail(why);
      });
    });
  }

  /**
   * Follows one execution: its events so far, then as they come, until it ends (resolves) or the connection
   * is lost (rejects).
   */
  follow(executionId: string): Promise<void> {
    this.followed = executionId;
    const done = new Promise<void>((resolve, reject) => (this.finished = { resolve, reject }));
    for (const e of this.early.splice(0)) this.accept(e);
    if (this.failure && !this.ended) this.finished?.reject(this.failure);
    return done;
  }

  /** Asks the server to cancel the followed execution (false: not connected; use the REST route). */
  cancel(): boolean {
    if (this.followed === undefined || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ type: 'cancel', v: EXECUTION_EVENTS_VERSION, executionId: this.followed }));
    return true;
  }

  close(): void {
    this.ws.removeAllListeners('close');
    this.ws.close(1000, 'done');
  }

  private accept(event: ExecutionEvent): void {
    if (this.followed === undefined) {
      if (this.early.length < MAX_EARLY_EVENTS) this.early.push(event);
      return;
    }
    if (event.executionId !== this.followed || this.ended) return;
    this.options.onEvent(event);
    if (event.type === 'execution.status' && isTerminalExecutionStatus(event.status)) {
      this.ended = true;
      this.finished?.resolve();
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    if (!this.ended) this.finished?.reject(err);
  }
}
