// Worker protocol 3: the messages of one turn of the sender's event loop travel in one frame, a JSON array when
// there are several, handled in order; a frame that is not one message or a bounded array of them is refused.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_PYTHON, cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { WORKER_FRAME_MAX_MESSAGES, WORKER_PROTOCOL_VERSION } from '@deepforge/protocol';
import { createServer, type DeepForgeServer } from '../server.app.js';
import { TestSocket } from '../test-support/ws-client.js';
import { FrameBatcher, frameMessages } from './frames.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('FrameBatcher', () => {
  it('sends what one turn sent in one frame, in order, a message alone as itself', async () => {
    const frames: string[] = [];
    const batcher = new FrameBatcher<{ n: number }>((frame) => frames.push(frame));
    batcher.send({ n: 1 });
    batcher.send({ n: 2 });
    batcher.send({ n: 3 });
    expect(frames).toEqual([]);
    await turn();
    batcher.send({ n: 4 });
    await turn();
    expect(frames.map((f) => JSON.parse(f) as unknown)).toEqual([[{ n: 1 }, { n: 2 }, { n: 3 }], { n: 4 }]);
  });

  it(`sends a frame at once at ${WORKER_FRAME_MAX_MESSAGES} messages, and on flush()`, async () => {
    const frames: unknown[] = [];
    const batcher = new FrameBatcher<number>((frame) => frames.push(JSON.parse(frame)));
    for (let i = 0; i < WORKER_FRAME_MAX_MESSAGES + 2; i++) batcher.send(i);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toHaveLength(WORKER_FRAME_MAX_MESSAGES);
    batcher.flush();
    expect(frames[1]).toEqual([WORKER_FRAME_MAX_MESSAGES, WORKER_FRAME_MAX_MESSAGES + 1]);
    await turn();
    expect(frames).toHaveLength(2);
  });

  it('reads a frame: one message, or an array of up to the limit', () => {
    expect(frameMessages({ type: 'x' })).toEqual([{ type: 'x' }]);
    expect(frameMessages([1, 2])).toEqual([1, 2]);
    expect(frameMessages([])).toBe('an empty frame');
    expect(frameMessages(Array.from({ length: WORKER_FRAME_MAX_MESSAGES + 1 }, () => 0))).toBe(
      `a frame of ${WORKER_FRAME_MAX_MESSAGES + 1} messages (at most ${WORKER_FRAME_MAX_MESSAGES})`,
    );
  });
});

describe('frames on the workers socket', () => {
  let root: string;
  let server: DeepForgeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await removeTree(root);
  });

  async function connect(): Promise<{ url: string; token: string }> {
    root = await makeTempDir('frames');
    server = await createServer({
      dataDir: join(root, 'server'),
      env: cleanEnv(),
      compute: 'none',
      settings: { python: TEST_PYTHON },
    });
    const base = await server.listen(0, '127.0.0.1');
    const { token } = await server.engine.workerTokens.create('frames', 'test');
    return { url: `${base.replace('http', 'ws')}/api/workers/connect`, token };
  }
  const hello = (workerId: string) => ({
    type: 'hello',
    v: WORKER_PROTOCOL_VERSION,
    workerId,
    name: workerId,
    labels: [],
    slots: 1,
    running: [],
  });
  const stats = { cpuPercent: 1, cpuCount: 2, memoryUsedBytes: 1, memoryTotalBytes: 2 };

  it('takes the messages of an array in order, refuses a hello inside one and a frame past the limit', async () => {
    const { url, token } = await connect();
    const auth = { authorization: `Bearer ${token}` };

    const early = await TestSocket.open(url, auth, { frames: true });
    early.send([hello('early')]);
    expect(await early.next((m) => m.type === 'refused')).toMatchObject({ code: 'hello-expected' });

    const worker = await TestSocket.open(url, auth, { frames: true });
    worker.send(hello('batched'));
    await worker.next((m) => m.type === 'welcome');
    // The second heartbeat's stats are the ones kept: handled after the first.
    worker.send([
      { type: 'heartbeat', running: [], stats: { ...stats, cpuPercent: 10 } },
      { type: 'heartbeat', running: [], stats: { ...stats, cpuPercent: 20 } },
    ]);
    await expect
      .poll(
        () =>
          server!.engine.remoteCompute!.listWorkers().find((w) => w.name === 'batched')?.stats?.cpuPercent,
      )
      .toBe(20);
    // A bad message in an array is refused like one alone, naming it.
    worker.send([
      { type: 'heartbeat', running: [] },
      { type: 'heartbeat', running: 'none' },
    ]);
    const refused = await worker.next((m) => m.type === 'refused');
    expect(refused).toMatchObject({ code: 'bad-message' });
    expect(String(refused.message)).toContain('running');

    const flood = await TestSocket.open(url, auth, { frames: true });
    flood.send(hello('flood'));
    await flood.next((m) => m.type === 'welcome');
    flood.send(
      Array.from({ length: WORKER_FRAME_MAX_MESSAGES + 1 }, () => ({ type: 'heartbeat', running: [] })),
    );
    expect(await flood.next((m) => m.type === 'refused')).toMatchObject({
      code: 'bad-message',
      message: `a frame of ${WORKER_FRAME_MAX_MESSAGES + 1} messages (at most ${WORKER_FRAME_MAX_MESSAGES})`,
    });
  });
});
