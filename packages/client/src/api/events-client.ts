import type { ComputeStateDto, EventsError, EventsServerMessage, LiveEvent } from '@deepforge/protocol';
import { EXECUTION_EVENTS_VERSION, LIFECYCLE_EVENT_TYPES } from '@deepforge/protocol';
import { backoffDelay } from '../lib/backoff.js';
import { serverClock } from '../lib/server-clock.js';

/** Where the events socket stands; `incompatible` (versions differ) needs a page reload, nothing retries it. */
export type EventsStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'incompatible';

export type EventListener = (event: LiveEvent) => void;

/** The subset of the browser's WebSocket this client uses (so tests can pass the `ws` package's). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type SocketFactory = (url: string) => SocketLike;

export interface EventsClientOptions {
  socket?: SocketFactory;
  /** Jitter source for reconnect delays. */
  random?: () => number;
  onError?: (error: EventsError) => void;
}

const OPEN = 1;

/**
 * The `/api/events` WebSocket: `hello` handshake, then subscriptions per execution (or `'*'` for all). It
 * reconnects with exponential backoff when the connection drops (server restart, network), subscribes again to
 * everything it had, and tells `onReconnect` listeners, who refetch what they may have missed.
 * One instance per tab; the socket opens on the first subscription.
 */
export class EventsClient {
  private socket: SocketLike | null = null;
  private listeners = new Map<string, Set<EventListener>>();
  private statusListeners = new Set<(s: EventsStatus) => void>();
  private computeListeners = new Set<(state: ComputeStateDto) => void>();
  private reconnectListeners = new Set<() => void>();
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ready = false;
  private everOpened = false;
  private closed = false;
  private current: EventsStatus = 'idle';

  constructor(
    private readonly url: string,
    private readonly options: EventsClientOptions = {},
  ) {}

  get status(): EventsStatus {
    return this.current;
  }

  onStatus(listener: (s: EventsStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Called after the connection came back (not on the first connect): refetch, events may have been missed. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /**
   * Events of one execution, or with `'*'` the lifecycle events (execution and job statuses) of all of them:
   * not every log line of every job. Returns the unsubscribe function.
   */
  subscribe(executionId: string, listener: EventListener): () => void {
    let set = this.listeners.get(executionId);
    if (!set) {
      set = new Set();
      this.listeners.set(executionId, set);
      if (this.ready) this.send(subscribeCommand(executionId));
    }
    set.add(listener);
    this.ensureConnected();
    return () => {
      const s = this.listeners.get(executionId);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) {
        this.listeners.delete(executionId);
        if (this.ready) this.send({ v: EXECUTION_EVENTS_VERSION, type: 'unsubscribe', executionId });
      }
    };
  }

  /**
   * The Compute view's state (workers, their load and jobs): at once, then whenever it changes, while watched.
   * Returns the function that stops watching.
   */
  watchCompute(listener: (state: ComputeStateDto) => void): () => void {
    this.computeListeners.add(listener);
    if (this.computeListeners.size === 1 && this.ready)
      this.send({ v: EXECUTION_EVENTS_VERSION, type: 'watch-compute' });
    this.ensureConnected();
    return () => {
      if (!this.computeListeners.delete(listener)) return;
      if (this.computeListeners.size === 0 && this.ready)
        this.send({ v: EXECUTION_EVENTS_VERSION, type: 'unwatch-compute' });
    };
  }

  /** Asks the server to cancel an execution; false when not connected (use the REST route then). */
  cancel(executionId: string): boolean {
    if (!this.ready) return false;
    this.send({ v: EXECUTION_EVENTS_VERSION, type: 'cancel', executionId });
    return true;
  }

  /** Reconnects at once (the network came back, the tab became visible) instead of waiting for the backoff. */
  reconnectNow(): void {
    if (this.closed || this.current === 'incompatible' || this.ready) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.socket) this.connect();
  }

  /**
   * Drops the connection and, when something is subscribed, opens a new one: who is signed in changed, and a
   * socket carries the identity it was opened with.
   */
  restart(): void {
    if (this.closed || this.current === 'incompatible') return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    socket?.close(1000, 'identity changed');
    this.attempt = 0;
    if (this.listeners.size > 0 || this.computeListeners.size > 0) this.connect();
    else this.setStatus('idle');
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.close(1000, 'closed');
    this.socket = null;
    this.ready = false;
    this.setStatus('idle');
  }

  private ensureConnected(): void {
    if (this.closed || this.socket || this.timer || this.current === 'incompatible') return;
    this.connect();
  }

  private setStatus(s: EventsStatus): void {
    if (s === this.current) return;
    this.current = s;
    for (const l of this.statusListeners) l(s);
  }

  private send(message: object): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(message));
  }

  private connect(): void {
    this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    const factory: SocketFactory =
      this.options.socket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    let socket: SocketLike;
    try {
      socket = factory(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: 'hello', v: EXECUTION_EVENTS_VERSION, agent: 'deepforge-client' }));
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let message: EventsServerMessage;
      try {
        message = JSON.parse(ev.data) as EventsServerMessage;
      } catch {
        return;
      }
      this.handle(message);
    };
    socket.onerror = () => {
      // onclose follows and does the work.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.ready = false;
      if (this.closed || this.current === 'incompatible') return;
      this.scheduleReconnect();
    };
  }

  private handle(message: EventsServerMessage): void {
    switch (message.type) {
      case 'hello': {
        if (message.v !== EXECUTION_EVENTS_VERSION) return; // the server follows with an error and closes
        const reconnected = this.everOpened;
        this.ready = true;
        this.everOpened = true;
        this.attempt = 0;
        for (const executionId of this.listeners.keys()) this.send(subscribeCommand(executionId));
        if (this.computeListeners.size > 0) this.send({ v: EXECUTION_EVENTS_VERSION, type: 'watch-compute' });
        this.setStatus('open');
        if (reconnected) for (const l of this.reconnectListeners) l();
        return;
      }
      case 'error':
        if (message.code === 'client-too-old' || message.code === 'server-too-old')
          this.setStatus('incompatible');
        this.options.onError?.(message);
        return;
      case 'subscribed':
        return;
      case 'compute':
        serverClock.note(message.compute.at);
        this.computeListeners.forEach((l) => l(message.compute));
        return;
      default: {
        const event = message as LiveEvent;
        serverClock.note(event.t);
        this.listeners.get(event.executionId)?.forEach((l) => l(event));
        if (LIFECYCLE.has(event.type)) this.listeners.get('*')?.forEach((l) => l(event));
      }
    }
  }

  private scheduleReconnect(): void {
    this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    const delay = backoffDelay(this.attempt++, this.options.random ? { random: this.options.random } : {});
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.listeners.size > 0 || this.computeListeners.size > 0 || this.everOpened) this.connect();
    }, delay);
  }
}

/** ws:// or wss:// for a path on the page's own origin. */
export function socketUrl(
  path: string,
  location: Pick<Location, 'protocol' | 'host'> = window.location,
): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;
}

const LIFECYCLE: ReadonlySet<string> = new Set(LIFECYCLE_EVENT_TYPES);

/** `'*'` asks only for lifecycle events; one execution, for everything. */
function subscribeCommand(executionId: string) {
  return executionId === '*'
    ? ({
        v: EXECUTION_EVENTS_VERSION,
        type: 'subscribe',
        executionId,
        types: [...LIFECYCLE_EVENT_TYPES],
      } as const)
    : ({ v: EXECUTION_EVENTS_VERSION, type: 'subscribe', executionId } as const);
}
