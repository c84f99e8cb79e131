// The cost of authentication per request: the same GETs against DeepForge with accounts off and with accounts on
// (a session cookie, an access token), in one run, interleaved request by request, over real HTTP on loopback
// with keep-alive (one connection per kind, one request in flight at a time).
import { Agent, get } from 'node:http';
import { performance } from 'node:perf_hooks';
import { quantile, table } from '../ui/stats.js';
import type { AuthBenchContext, AuthBenchResult } from './context.js';
import { fmtMs, signedMs } from './context.js';

/** Target: accounts on add at most this much at p99. */
const TARGET_P99_MS = 1;

interface Kind {
  label: string;
  url: string;
  headers: Record<string, string>;
  agent: Agent;
}

interface Route {
  label: string;
  path: (projectId: string) => string;
}

const ROUTES: Route[] = [
  { label: 'GET /api/health', path: () => '/api/health' },
  { label: 'GET /api/projects/:id', path: (id) => `/api/projects/${id}` },
];

/** One GET on a kept-alive connection: the time from the call to the last byte of the body. */
function timedGet(kind: Kind, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = get(`${kind.url}${path}`, { agent: kind.agent, headers: kind.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        // A 401 or 404 would be quick and measure nothing: every answer must be the real one.
        if (res.statusCode !== 200) {
          reject(
            new Error(`${kind.label} ${path}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8')}`),
          );
          return;
        }
        resolve(ms);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

export async function requestCost(ctx: AuthBenchContext): Promise<AuthBenchResult> {
  const { host, rounds, blocks, warmup, log } = ctx;
  const agent = (): Agent => new Agent({ keepAlive: true, maxSockets: 1 });
  const kinds: Kind[] = [
    { label: 'accounts off', url: host.off.url, headers: {}, agent: agent() },
    {
      label: 'accounts on, session cookie',
      url: host.on.url,
      headers: { cookie: host.on.cookies[0]! },
      agent: agent(),
    },
    {
      label: 'accounts on, access token',
      url: host.onToken.url,
      headers: { authorization: `Bearer ${host.onToken.token}` },
      agent: agent(),
    },
  ];
  const projects = [host.off.projectId, host.on.projectId, host.onToken.projectId];
  const projectOf = (k: Kind): string => projects[kinds.indexOf(k)]!;
  const cells = ROUTES.flatMap((route) => kinds.map((kind) => ({ route, kind })));
  /** samples[cell][block] */
  const samples: number[][][] = cells.map(() => []);

  // A new random order every round (the same in every run): each kind follows each other kind equally often, so
  // no kind always pays for the garbage collection its predecessor started.
  let seed = 0x9e3779b9;
  const random = (): number => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  const order = cells.map((_, i) => i);
  const round = async (into: number | undefined): Promise<void> => {
    for (let j = order.length - 1; j > 0; j--) {
      const r = Math.floor(random() * (j + 1));
      [order[j], order[r]] = [order[r]!, order[j]!];
    }
    for (const c of order) {
      const { route, kind } = cells[c]!;
      const ms = await timedGet(kind, route.path(projectOf(kind)));
      if (into !== undefined) samples[c]![into]!.push(ms);
    }
  };

  for (let i = 0; i < warmup; i++) await round(undefined);
  const statsBefore = await ctx.hostStats();
  const t0 = performance.now();
  for (let b = 0; b < blocks; b++) {
    for (const s of samples) s.push([]);
    for (let i = 0; i < rounds; i++) await round(b);
    log(`  block ${b + 1}/${blocks}: ${rounds} rounds of ${cells.length} requests`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const statsAfter = await ctx.hostStats();
  for (const k of kinds) k.agent.destroy();

  const all = (c: number): number[] => samples[c]!.flat();
  const cellIndex = (r: number, k: number): number => r * kinds.length + k;
  const rows: string[][] = [];
  const added: { route: string; kind: string; p99: number; addedP99: number }[] = [];
  for (let r = 0; r < ROUTES.length; r++) {
    const offAll = all(cellIndex(r, 0));
    const offP50 = quantile(offAll, 0.5);
    const offP99 = quantile(offAll, 0.99);
    for (let k = 0; k < kinds.length; k++) {
      const values = all(cellIndex(r, k));
      const p50 = quantile(values, 0.5);
      const p99 = quantile(values, 0.99);
      const blockP99 = samples[cellIndex(r, k)]!.map(
        (block, b) => quantile(block, 0.99) - quantile(samples[cellIndex(r, 0)]![b]!, 0.99),
      );
      if (k > 0) added.push({ route: ROUTES[r]!.label, kind: kinds[k]!.label, p99, addedP99: p99 - offP99 });
      rows.push([
        ROUTES[r]!.label,
        kinds[k]!.label,
        fmtMs(p50),
        fmtMs(p99),
        k === 0 ? '–' : signedMs(p50 - offP50),
        k === 0 ? '–' : signedMs(p99 - offP99),
        k === 0 ? '–' : blockSpread(blockP99),
        k === 0 ? '–' : p99 <= offP99 ? 'none added' : `${((p99 - offP99) / TARGET_P99_MS).toFixed(2)}×`,
      ]);
    }
  }
  const worst = Math.max(...added.map((a) => a.addedP99));
  const n = rounds * blocks;
  const writes =
    `Writes by the accounts stores while measuring: session touches ` +
    `${statsAfter.sessionTouches - statsBefore.sessionTouches}, token touches ` +
    `${statsAfter.tokenTouches - statsBefore.tokenTouches}, audit rows ${statsAfter.auditRows - statsBefore.auditRows}`;
  const markdown = [
    `${n.toLocaleString('en-US')} requests of each kind (${blocks} blocks of ${rounds} rounds, after ${warmup} ` +
      `warm-up rounds; ${seconds.toFixed(0)} s). Every round sends each route to each server once, in a new ` +
      `random order; one request in flight at a time, each kind on its own kept-alive connection (node:http ` +
      `Agent), time from the call to the body's last byte. Each kind has its DeepForge server in a process of ` +
      `its own (its own heap and garbage collections, a third of the requests each), the clients are in a ` +
      `fourth; the project is the \`hello\` example; with accounts ` +
      `on the caller is its owner. \`/api/health\` is public, but the hook still resolves who is asking: its ` +
      `difference is the identity lookup alone; the project route adds the membership lookup.`,
    '',
    table(
      [
        'request',
        'server',
        'p50',
        'p99',
        'added p50',
        'added p99',
        'added p99 per block: median (min–max)',
        'of the 1 ms target',
      ],
      rows,
    ),
    '',
    `Target: accounts on add ≤ ${TARGET_P99_MS} ms at p99. Worst added p99: ${signedMs(worst)} ` +
      `(${worst <= TARGET_P99_MS ? 'met' : 'missed'}). ${writes} (a session is touched at most once a minute, ` +
      `a token's use audited at most every 10 minutes: such writes, when due, are in the samples).`,
  ].join('\n');
  const summaryLine =
    added.map((a) => `${a.route} ${a.kind.replace('accounts on, ', '')}: p99 ${fmtMs(a.p99)}`).join('; ') +
    ` — worst added p99 ${signedMs(worst)} (target ≤ ${TARGET_P99_MS} ms: ${worst <= TARGET_P99_MS ? 'met' : 'MISSED'})`;
  log(`  ${writes}`);
  for (const row of rows) log(`  ${row.slice(0, 6).join(' | ')}`);
  return {
    summaryLine,
    markdown,
    raw: { cells: cells.map((c) => `${c.route.label} ${c.kind.label}`), samples },
  };
}

function blockSpread(values: number[]): string {
  return `${signedMs(quantile(values, 0.5))} (${signedMs(Math.min(...values))} – ${signedMs(Math.max(...values))})`;
}
