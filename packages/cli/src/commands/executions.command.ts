import type { Command } from 'commander';
import pc from 'picocolors';
import { isResumableExecutionStatus } from '@deepforge/core';
import type { ExecutionDetails, ExecutionSummary } from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { formatBytes, formatDuration, formatTime, table } from '../render/format.js';
import { openCliEngine, positiveIntegerOption } from './engine-session.js';

const STATUS_COLOR = {
  pending: pc.dim,
  queued: pc.gray,
  running: pc.yellow,
  success: pc.green,
  failed: pc.red,
  canceled: pc.magenta,
  cached: pc.cyan,
} as const;

export function registerExecutionsCommand(program: Command, ctx: CliContext): void {
  program
    .command('executions')
    .alias('ls')
    .description('list executions, newest first, or show one with its operations')
    .argument('[id]', 'an execution id (or a unique prefix of one) to show in detail')
    .option('-n, --limit <n>', 'how many to list', positiveIntegerOption('--limit'), 20)
    .option('--offset <n>', 'skip this many of the newest', (v) => positiveIntegerOption('--offset', 0)(v), 0)
    .option('--json', 'print JSON')
    .option('--log <node>', 'with an id: print the console log of one operation (by node id)')
    .action(
      async (
        id: string | undefined,
        opts: { limit: number; offset: number; json?: boolean; log?: string },
      ) => {
        const engine = await openCliEngine(ctx);
        const c = pc.createColors(Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR && !opts.json);
        try {
          if (id === undefined) {
            const list = await engine.listExecutions({ limit: opts.limit, offset: opts.offset });
            if (opts.json) {
              ctx.out.write(JSON.stringify(list, null, 2) + '\n');
              return;
            }
            if (list.length === 0) {
              ctx.out.write('No executions yet. Run one with: deepforge run <project-dir> <pipeline>\n');
              return;
            }
            ctx.out.write(
              table([
                ['ID', 'STATUS', 'PIPELINE', 'PROJECT', 'STARTED', 'DURATION', 'OPERATIONS'].map((h) =>
                  c.bold(h),
                ),
                ...list.map((e) => summaryRow(e, c)),
              ]) + '\n',
            );
            return;
          }
          const details = await engine.getExecution(id);
          if (opts.log !== undefined) {
            let offset = 0;
            for (;;) {
              const chunk = await engine.readJobLog(details.id, opts.log, { offset, limit: 1 << 20 });
              ctx.out.write(chunk.text);
              if (chunk.nextOffset >= chunk.size || chunk.nextOffset === offset) break;
              offset = chunk.nextOffset;
            }
            return;
          }
          if (opts.json) {
            ctx.out.write(JSON.stringify(details, null, 2) + '\n');
            return;
          }
          ctx.out.write(describe(details, c) + '\n');
        } finally {
          await engine.close();
        }
      },
    );
}

type Colors = ReturnType<typeof pc.createColors>;

function colorStatus(status: keyof typeof STATUS_COLOR, c: Colors): string {
  const paint = c.isColorSupported ? STATUS_COLOR[status] : (s: string) => s;
  return paint(status);
}

function summaryRow(e: ExecutionSummary, c: Colors): string[] {
  const counts = Object.entries(e.jobCounts)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  return [
    e.id,
    colorStatus(e.status, c),
    e.pipeline,
    e.project,
    formatTime(e.startedAt ?? e.createdAt),
    formatDuration(e.durationMs),
    counts,
  ];
}

function describe(d: ExecutionDetails, c: Colors): string {
  const lines = [
    `${c.bold(d.name)}  ${colorStatus(d.status, c)}`,
    `  id        ${d.id}`,
    `  pipeline  ${d.pipeline} (project ${d.project})`,
    `  started   ${formatTime(d.startedAt ?? d.createdAt)}   duration ${formatDuration(d.durationMs)}`,
    `  files     ${d.dir}`,
    '',
    table([
      ['NODE', 'OPERATION', 'STATUS', 'DURATION', 'CPU', 'PEAK MEMORY', 'OUTPUTS / ERROR'].map((h) =>
        c.bold(h),
      ),
      ...d.jobs.map((j) => [
        j.node,
        j.operation,
        colorStatus(j.status, c),
        formatDuration(j.durationMs),
        j.usage ? formatDuration(j.usage.cpuSeconds * 1000) : '',
        j.usage
          ? formatBytes(j.usage.peakRssBytes) +
            (j.usage.peakGpuBytes !== undefined ? ` (GPU ${formatBytes(j.usage.peakGpuBytes)})` : '')
          : '',
        j.error
          ? c.red(
              j.error.message +
                (j.error.location ? ` (${j.error.location.file}:${j.error.location.line})` : ''),
            )
          : j.outputs.map((o) => `${o.name}: ${o.pyType} ${formatBytes(o.size)}`).join(', ') +
            (j.cachedFrom ? c.dim(` (cached from ${j.cachedFrom})`) : ''),
      ]),
    ]),
  ];
  if (d.failure?.error.traceback) {
    lines.push('', c.bold(`Traceback of ${d.failure.node}:`), d.failure.error.traceback.trimEnd());
  }
  if (isResumableExecutionStatus(d.status)) {
    lines.push('', c.dim(`Re-run what did not succeed: deepforge resume ${d.id}`));
  }
  lines.push(c.dim(`A console log: deepforge executions ${d.id} --log <node>`));
  return lines.join('\n');
}
