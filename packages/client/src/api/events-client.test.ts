import type { AddressInfo } from 'node:net';
import type { LiveEvent } from '@deepforge/protocol';
import { EXECUTION_EVENTS_VERSION } from '@deepforge/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { SocketLike } from './events-client.js';
import { EventsClient, socketUrl } from './events-client.js';

// A real WebSocket server speaking the /api/events handshake, restarted on the same port mid-test.
interface FakeServer {
  wss: WebSocketServer;
  received: unknown[];
  port: number;
}

function startServer(port = 0, v = EXECUTION_EVENTS_VERSION): Promise<FakeServer> {
  return new Promise((resolve) => {
    const received: unknown[] = [];
    const wss: WebSocketServer = new WebSocketServer({ port, host: '127.0.0.1' }, () => {
      resolve({ wss, received, port: (wss.address() as AddressInfo).port });
    });
    wss.on('connection', (ws: WebSocket) => {
      ws.on('message', (data: Buffer) => {
        const m = JSON.parse(String(data)) as { type: string; executionId?: string };
        received.push(m);
        if (m.type === 'hello') {
          ws.send(JSON.stringify({ type: 'hello', v, agent: 'test' }));
          if (v !== EXECUTION_EVENTS_VERSION) {
            ws.send(JSON.stringify({ type: 'error', code: 'client-too-old', message: 'reload' }));
            ws.close(4000);
          }
        }
        if (m.type === 'subscribe')
          ws.send(JSON.stringify({ type: 'subscribed', executionId: m.executionId }));
      });
    });
  });
}

function broadcast(s: FakeServer, event: LiveEvent): void {
  for (const c of s.wss.clients) c.send(JSON.stringify(event));
}

function stop(s: FakeServer): Promise<void> {
  for (const c of s.wss.clients) c.terminate();
  return new Promise((resolve) => s.wss.close(() => resolve()));
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const factory = (url: string) => new WebSocket(url) as unknown as SocketLike;
const status = (executionId: string): LiveEvent => ({
  v: EXECUTION_EVENTS_VERSION,
  t: 1,
  executionId,
  type: 'execution.status',
  status: 'running',
  pipeline: 'p',
  project: 'x',
});

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('EventsClient', () => {
  it('says hello, subscribes, and routes events to the right listeners', async () => {
    const server = await startServer();
    cleanup.push(() => stop(server));
    const client = new EventsClient(`ws://127.0.0.1:${server.port}/api/events`, { socket: factory });
    cleanup.push(() => client.close());
    const a: LiveEvent[] = [];
    const all: LiveEvent[] = [];
    client.subscribe('a', (e) => a.push(e));
    client.subscribe('*', (e) => all.push(e));
    await until(() => client.status === 'open' && server.received.length >= 3);
    expect(server.received[0]).toMatchObject({ type: 'hello', v: EXECUTION_EVENTS_VERSION });
    expect(server.received.slice(1)).toEqual(
      expect.arrayContaining([
        { v: EXECUTION_EVENTS_VERSION, type: 'subscribe', executionId: 'a' },
        {
          v: EXECUTION_EVENTS_VERSION,
          type: 'subscribe',
          executionId: '*',
          types: ['execution.status', 'job.status'],
        },
      ]),
    );
    broadcast(server, status('a'));
    broadcast(server, {
      v: EXECUTION_EVENTS_VERSION,
      t: 1,
      executionId: 'a',
      jobId: 'j',
      node: 'n',
      type: 'job.logs',
      seq: 0,
      lines: [{ stream: 'stdout', text: 'one' }],
    });
    broadcast(server, status('b'));
    await until(() => all.length === 2 && a.length === 2);
    // A batch of lines goes to its execution's listeners, not to the list of all executions.
    expect(a.map((e) => e.type)).toEqual(['execution.status', 'job.logs']);
    expect(all.map((e) => e.executionId)).toEqual(['a', 'b']);
  });

  it('reconnects after the server restarts and subscribes again', async () => {
    let server = await startServer();
    const port = server.port;
    const client = new EventsClient(`ws://127.0.0.1:${port}/api/events`, {
      socket: factory,
      random: () => 0,
    });
    cleanup.push(() => client.close());
    let reconnects = 0;
    client.onReconnect(() => reconnects++);
    const got: LiveEvent[] = [];
    client.subscribe('e1', (e) => got.push(e));
    await until(() => client.status === 'open');
    await stop(server);
    await until(() => client.status === 'reconnecting');
    server = await startServer(port);
    const restarted = server;
    cleanup.push(() => stop(restarted));
    await until(() => client.status === 'open', 10_000);
    await until(() => server.received.some((m) => (m as { type: string }).type === 'subscribe'));
    expect(reconnects).toBe(1);
    broadcast(server, status('e1'));
    await until(() => got.length === 1);
  });

  it('opens a new socket on restart (another user signed in) and subscribes again on it', async () => {
    const server = await startServer();
    cleanup.push(() => stop(server));
    const client = new EventsClient(`ws://127.0.0.1:${server.port}/api/events`, { socket: factory });
    cleanup.push(() => client.close());
    let connections = 0;
    server.wss.on('connection', () => connections++);
    client.subscribe('a', () => {});
    await until(() => client.status === 'open');
    client.restart();
    await until(() => client.status === 'open' && connections === 2);
    await until(
      () => server.received.filter((m) => (m as { type: string }).type === 'subscribe').length === 2,
    );
    // The first socket is closed, not left open with the old identity.
    await until(() => server.wss.clients.size === 1);
  });

  it('unsubscribes when the last listener goes', async () => {
    const server = await startServer();
    cleanup.push(() => stop(server));
    const client = new EventsClient(`ws://127.0.0.1:${server.port}/api/events`, { socket: factory });
    cleanup.push(() => client.close());
    const off = client.subscribe('a', () => {});
    await until(() => server.received.length >= 2);
    off();
    await until(() => server.received.some((m) => (m as { type: string }).type === 'unsubscribe'));
  });

  it('stops on a version mismatch and says so', async () => {
    const server = await startServer(0, EXECUTION_EVENTS_VERSION + 1);
    cleanup.push(() => stop(server));
    const errors: string[] = [];
    const client = new EventsClient(`ws://127.0.0.1:${server.port}/api/events`, {
      socket: factory,
      onError: (e) => errors.push(e.code),
    });
    cleanup.push(() => client.close());
    client.subscribe('a', () => {});
    await until(() => client.status === 'incompatible');
    expect(errors).toEqual(['client-too-old']);
  });

  it('builds socket URLs from the page location', () => {
    expect(socketUrl('/api/events', { protocol: 'https:', host: 'x.org' })).toBe('wss://x.org/api/events');
    expect(socketUrl('/api/collab', { protocol: 'http:', host: '127.0.0.1:8888' })).toBe(
      'ws://127.0.0.1:8888/api/collab',
    );
  });

  it('watches the Compute view: asks once, gets each state, asks again after a reconnect, and stops', async () => {
    let server = await startServer();
    const port = server.port;
    cleanup.push(() => stop(server));
    const client = new EventsClient(`ws://127.0.0.1:${port}/api/events`, { socket: factory });
    cleanup.push(() => client.close());
    const states: number[] = [];
    const unwatch = client.watchCompute((s) => states.push(s.at));
    const watches = () =>
      server.received.filter((m) => (m as { type: string }).type === 'watch-compute').length;
    await until(() => watches() === 1);
    const state = (at: number) => ({
      type: 'compute',
      compute: { mode: 'workers', workers: [], waiting: [], at },
    });
    for (const c of server.wss.clients) c.send(JSON.stringify(state(5)));
    await until(() => states.length === 1);
    expect(states).toEqual([5]);

    await stop(server);
    server = await startServer(port);
    await until(() => watches() === 1, 15_000);
    unwatch();
    await until(() => server.received.some((m) => (m as { type: string }).type === 'unwatch-compute'));
  });
});
