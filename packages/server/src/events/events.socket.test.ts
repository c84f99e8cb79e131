import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EVENTS_CLOSE_PROTOCOL_ERROR,
  EXECUTION_EVENTS_VERSION,
  type ExecutionDetailsDto,
  type JobLogResponse,
  type JobLogsEvent,
  type ProjectSummary,
} from '@deepforge/protocol';
import { startFixture, type ServerFixture } from '../test-support/server-fixture.js';
import { TestSocket } from '../test-support/ws-client.js';

const v = EXECUTION_EVENTS_VERSION;
let f: ServerFixture;
let url: string;
const sockets: TestSocket[] = [];
beforeAll(async () => {
  f = await startFixture();
  url = (await f.server.listen(0)).replace('http:', 'ws:') + '/api/events';
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await f.cleanup();
});

async function connect(hello = true): Promise<TestSocket> {
  const s = await TestSocket.open(url);
  sockets.push(s);
  await s.next((m) => m.type === 'hello');
  if (hello) s.send({ type: 'hello', v, agent: 'test' });
  return s;
}

async function run(project: ProjectSummary, pipeline: string): Promise<string> {
  const res = await f.server.app.inject({
    method: 'POST',
    url: `/api/projects/${project.id}/executions`,
    payload: { pipeline },
  });
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { id: string }).id;
}

describe('/api/events handshake', () => {
  it('greets with its version, and says which side is too old before closing', async () => {
    const old = await connect(false);
    expect(old.messages[0]).toEqual({ type: 'hello', v, agent: expect.stringMatching(/^deepforge-server/) });
    old.send({ type: 'hello', v: v - 1 });
    expect(await old.next((m) => m.type === 'error')).toMatchObject({
      code: 'client-too-old',
      message: expect.stringMatching(/client too old/),
    });
    expect((await old.whenClosed()).code).toBe(EVENTS_CLOSE_PROTOCOL_ERROR);

    const future = await connect(false);
    future.send({ type: 'hello', v: v + 1 });
    expect(await future.next((m) => m.type === 'error')).toMatchObject({
      code: 'server-too-old',
      message: expect.stringMatching(/server too old/),
    });
    expect((await future.whenClosed()).code).toBe(EVENTS_CLOSE_PROTOCOL_ERROR);

    const rude = await connect(false);
    rude.send({ v, type: 'subscribe', executionId: '*' });
    expect(await rude.next((m) => m.type === 'error')).toMatchObject({ code: 'hello-expected' });
    expect((await rude.whenClosed()).code).toBe(EVENTS_CLOSE_PROTOCOL_ERROR);
  });

  it('validates every frame, naming the field, and keeps the connection', async () => {
    const s = await connect();
    s.send('{not json');
    expect(await s.next((m) => m.type === 'error')).toMatchObject({ code: 'bad-message' });
    const n = s.messages.length;
    s.send({ v, type: 'subscribe', executionId: '*', extra: 1 });
    expect(await s.next((m) => m.type === 'error', 5000, n)).toMatchObject({
      code: 'bad-message',
      message: expect.stringMatching(/extra/),
    });
    const m = s.messages.length;
    s.send({ v, type: 'subscribe' });
    expect(await s.next((x) => x.type === 'error', 5000, m)).toMatchObject({ message: /executionId/ });
    const k = s.messages.length;
    s.send({ v, type: 'subscribe', executionId: 'nosuchexecution' });
    expect(await s.next((x) => x.type === 'error', 5000, k)).toMatchObject({
      code: 'not-found',
      executionId: 'nosuchexecution',
    });
    expect(s.closed).toBeUndefined();
  });

  it('refuses pages of other sites and other local ports, and takes its own pages', async () => {
    await expect(TestSocket.open(url, { origin: 'https://evil.example' })).rejects.toThrow(/403/);
    await expect(TestSocket.open(url, { origin: 'http://localhost:5173' })).rejects.toThrow(/403/);
    const local = await TestSocket.open(url, { origin: new URL(url).origin.replace('ws:', 'http:') });
    sockets.push(local);
    await local.next((m) => m.type === 'hello');
  });
});

describe('/api/events live', () => {
  it('pushes status, log lines and the final state while hello runs, and the state to late subscribers', async () => {
    const project = await f.createProject({ name: 'live', example: 'hello' });
    const s = await connect();
    s.send({ v, type: 'subscribe', executionId: '*' });
    await s.next((m) => m.type === 'subscribed' && m.executionId === '*');
    const id = await run(project, 'hello');
    const ended = await s.next(
      (m) => m.type === 'execution.status' && m.executionId === id && m.status === 'success',
    );
    expect(ended).toMatchObject({ v, pipeline: 'hello', project: 'live', projectId: project.id });
    const mine = s.messages.filter((m) => (m as { executionId?: string }).executionId === id) as Record<
      string,
      unknown
    >[];
    expect(mine.some((m) => m.type === 'execution.status' && m.status === 'running')).toBe(true);
    expect(mine.some((m) => m.type === 'job.status' && m.node === 'print' && m.status === 'running')).toBe(
      true,
    );
    const printed = (mine as unknown as JobLogsEvent[])
      .filter((m) => m.type === 'job.logs' && m.node === 'print')
      .flatMap((m) => m.lines.map((l) => l.text));
    expect(printed.some((text) => /16!/.test(text))).toBe(true);

    const late = await connect();
    late.send({ v, type: 'subscribe', executionId: id });
    await late.next((m) => m.type === 'subscribed' && m.executionId === id);
    const state = await late.next((m) => m.type === 'job.status' && m.node === 'result');
    expect(state).toMatchObject({ status: 'success', executionId: id });
    expect(late.messages.find((m) => (m as { type: string }).type === 'execution.status')).toMatchObject({
      status: 'success',
    });
    // Cancel over the socket: the execution is not running any more.
    late.send({ v, type: 'cancel', executionId: id });
    expect(await late.next((m) => m.type === 'error')).toMatchObject({
      code: 'execution-state',
      executionId: id,
    });
    // After unsubscribing, nothing more of it arrives.
    late.send({ v, type: 'unsubscribe', executionId: id });
  });

  it('sends only the types a subscription asks for (a list of all executions wants no log lines)', async () => {
    const project = await f.createProject({ name: 'quiet', example: 'hello' });
    const s = await connect();
    s.send({ v, type: 'subscribe', executionId: '*', types: ['execution.status', 'job.status'] });
    await s.next((m) => m.type === 'subscribed' && m.executionId === '*');
    const id = await run(project, 'hello');
    await s.next((m) => m.type === 'execution.status' && m.executionId === id && m.status === 'success');
    const types = new Set(
      s.messages
        .filter((m) => (m as { executionId?: string }).executionId === id)
        .map((m) => (m as { type: string }).type),
    );
    expect(types).toEqual(new Set(['execution.status', 'job.status']));
    // A type that does not exist is refused, naming the field; so is version 1's one-line `job.log`.
    s.send({ v, type: 'subscribe', executionId: '*', types: ['job.log'] });
    expect((await s.next<{ message: string }>((m) => m.type === 'error')).message).toMatch(/types/);
    const n = s.messages.length;
    s.send({ v, type: 'subscribe', executionId: '*', types: ['job.gossip'] });
    const refused = await s.next<{ code: string; message: string }>((m) => m.type === 'error', 5000, n);
    expect(refused.code).toBe('bad-message');
    expect(refused.message).toMatch(/types/);
  });

  it('pushes plots from the plots example', async () => {
    const project = await f.createProject({ name: 'figures', example: 'plots' });
    const s = await connect();
    s.send({ v, type: 'subscribe', executionId: '*' });
    await s.next((m) => m.type === 'subscribed');
    const id = await run(project, 'plots');
    const plot = await s.next<{ node: string; axes: unknown[]; png?: string; svg?: string }>(
      (m) => m.type === 'job.plot' && m.executionId === id,
      60_000,
    );
    expect(plot.axes.length).toBeGreaterThan(0);
    expect(plot.png ?? plot.svg).toBeTruthy();
    await s.next(
      (m) => m.type === 'execution.status' && m.executionId === id && m.status !== 'running',
      60_000,
    );
    const plots = await f.server.app.inject({
      url: `/api/projects/${project.id}/executions/${id}/jobs/${plot.node}/plots`,
    });
    expect((plots.json() as { items: unknown[] }).items.length).toBeGreaterThan(0);
  });
});

/** A project whose `flood` pipeline prints `lines` lines (`<i> ` padded to `width` characters) as fast as it can. */
async function floodProject(name: string, lines: number, width: number): Promise<ProjectSummary> {
  const project = await f.createProject({ name });
  const code = [
    'import sys',
    '',
    'class Flood:',
    `    def __init__(self, lines=${lines}, width=${width}):`,
    '        self.lines = lines',
    '        self.width = width',
    '',
    '    def execute(self):',
    '        out = sys.stdout',
    '        for i in range(self.lines):',
    "            out.write(f'{i} '.ljust(self.width, 'x') + '\\n')",
    '        count = self.lines',
    '        return count',
    '',
  ].join('\n');
  const op = await f.server.app.inject({
    method: 'POST',
    url: `/api/projects/${project.id}/operations`,
    payload: { name: 'Flood', code },
  });
  expect(op.statusCode, op.body).toBe(201);
  const pipeline = await f.server.app.inject({
    method: 'POST',
    url: `/api/projects/${project.id}/pipelines`,
    payload: {
      name: 'flood',
      nodes: [{ id: 'flood', operation: 'Flood', position: { x: 0, y: 0 } }],
      connections: [],
    },
  });
  expect(pipeline.statusCode, pipeline.body).toBe(201);
  return project;
}

/** The execution's messages on `s`, checking that each job.logs batch starts where the one before ended. */
function floodMessages(s: TestSocket, id: string) {
  const mine = s.messages.filter((m) => (m as { executionId?: string }).executionId === id) as {
    type: string;
    status?: string;
  }[];
  const batches = mine.filter((m): m is JobLogsEvent => m.type === 'job.logs');
  let next = 0;
  for (const b of batches) {
    expect(b.seq - (b.skipped ?? 0)).toBe(next);
    next = b.seq + b.lines.length;
  }
  const final = mine.findIndex((m) => m.type === 'job.status' && m.status === 'success');
  const lastBatch = mine.findLastIndex((m) => m.type === 'job.logs');
  return { mine, batches, final, lastBatch, numbered: next };
}

describe('/api/events under a flood of lines', () => {
  it('sends 100,000 printed lines each once, in order, in batches, all before the final status', async () => {
    const lines = 100_000;
    const project = await floodProject('flood', lines, 12);
    const s = await connect();
    s.send({ v, type: 'subscribe', executionId: '*' });
    await s.next((m) => m.type === 'subscribed');
    const id = await run(project, 'flood');
    await s.next(
      (m) => m.type === 'execution.status' && m.executionId === id && m.status !== 'running',
      120_000,
    );
    const { mine, batches, final, lastBatch, numbered } = floodMessages(s, id);
    const texts = batches.flatMap((b) => b.lines.map((l) => l.text));
    expect(batches.every((b) => b.skipped === undefined)).toBe(true);
    expect(texts.length).toBe(lines);
    expect(numbered).toBe(lines);
    for (let i = 0; i < lines; i++) if (texts[i] !== `${i} `.padEnd(12, 'x')) expect(texts[i]).toBe(i);
    // Before batching: one frame per line (100,000 frames).
    expect(batches.length).toBeLessThan(lines / 20);
    expect(final).toBeGreaterThan(lastBatch);
    expect(mine.at(-1)).toMatchObject({ type: 'execution.status', status: 'success' });
  });

  it('skips lines for a client that does not read, saying how many, instead of buffering them', async () => {
    const lines = 400_000;
    const width = 100;
    const project = await floodProject('slow reader', lines, width);
    const s = await connect();
    s.send({ v, type: 'subscribe', executionId: '*' });
    await s.next((m) => m.type === 'subscribed');
    s.ws.pause();
    const id = await run(project, 'flood');
    for (;;) {
      const res = await f.server.app.inject({ url: `/api/projects/${project.id}/executions/${id}` });
      const status = (res.json() as ExecutionDetailsDto).status;
      if (status !== 'running' && status !== 'pending') {
        expect(status).toBe('success');
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    s.ws.resume();
    await s.next(
      (m) => m.type === 'execution.status' && m.executionId === id && m.status === 'success',
      60_000,
    );
    expect(s.closed).toBeUndefined();
    const { batches, final, lastBatch, numbered } = floodMessages(s, id);
    const received = batches.reduce((n, b) => n + b.lines.length, 0);
    const skipped = batches.reduce((n, b) => n + (b.skipped ?? 0), 0);
    expect(skipped).toBeGreaterThan(0);
    expect(received + skipped).toBe(lines);
    expect(numbered).toBe(lines);
    // What arrived is in order: each line's number is past the one before.
    const numbers = batches.flatMap((b) => b.lines.map((l) => Number(l.text.split(' ')[0])));
    expect(numbers.every((x, i) => i === 0 || x > (numbers[i - 1] as number))).toBe(true);
    expect(final).toBeGreaterThan(lastBatch);
    // The stored log, over REST, has every line.
    const log = await f.server.app.inject({
      url: `/api/projects/${project.id}/executions/${id}/jobs/flood/log?offset=0&limit=1`,
    });
    expect((log.json() as JobLogResponse).size).toBe(lines * (width + 1));
  }, 120_000);
});
