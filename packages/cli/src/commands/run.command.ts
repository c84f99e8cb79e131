import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { parseSetOption } from '@deepforge/core';
import type { AttributeOverride } from '@deepforge/core';
import type { SlurmJobOptions } from '@deepforge/protocol';
import { SLURM_OPTION_KEYS, parseSlurmAssignment } from '@deepforge/protocol/engine';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../usage-error.js';
import { openCliEngine, positiveIntegerOption, watchExecution } from './engine-session.js';
import { runOnServer } from './remote-run.js';

export interface RunOptions {
  set: AttributeOverride[];
  cache?: boolean;
  concurrency?: number;
  json?: boolean;
  name?: string;
  timeout?: number;
  color?: boolean;
  slurm?: SlurmFlags;
  server?: string;
  token?: string;
  labels?: string[];
  newProject?: boolean;
  dataDir?: string;
}

/** `--slurm` values: every job's options, and nodes' own (checked by the engine before anything is stored). */
interface SlurmFlags {
  all: Record<string, string | number>;
  nodes: Record<string, Record<string, string | number>>;
}

function collectSlurm(value: string, previous: SlurmFlags = { all: {}, nodes: {} }): SlurmFlags {
  const parsed = parseSlurmAssignment(value);
  if ('error' in parsed) throw new InvalidArgumentError(parsed.error);
  const { node, key, value: v } = parsed;
  if (node === undefined) return { ...previous, all: { ...previous.all, [key]: v } };
  return { ...previous, nodes: { ...previous.nodes, [node]: { ...previous.nodes[node], [key]: v } } };
}

function collectSet(value: string, previous: AttributeOverride[]): AttributeOverride[] {
  const parsed = parseSetOption(value);
  if ('error' in parsed) throw new InvalidArgumentError(parsed.error);
  return [...previous, parsed];
}

function nonNegativeSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(
      `the timeout must be a number of seconds ≥ 0, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export function addExecutionOptions(cmd: Command): Command {
  return cmd
    .option(
      '--cache',
      'reuse the outputs of earlier runs of identical operations (same code, attributes and inputs)',
    )
    .option(
      '-c, --concurrency <n>',
      'run at most n operations at once (default: executions.concurrency)',
      positiveIntegerOption('--concurrency'),
    )
    .option(
      '--timeout <seconds>',
      'stop an operation that runs longer than this (0: no limit)',
      nonNegativeSeconds,
    )
    .option('--json', 'print machine-readable events, one JSON object per line')
    .addOption(new Option('--no-color', 'do not colour the output'));
}

export function registerRunCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('run')
    .description('run a pipeline of a project folder and report each operation live')
    .argument('<project-dir>', 'the project folder (it holds deepforge.json)')
    .argument('<pipeline>', 'the pipeline to run (a file under pipelines/, without .json)')
    .option(
      '-s, --set <node.attr=value>',
      'set an attribute for this run (repeatable); e.g. --set left.number=6',
      collectSet,
      [] as AttributeOverride[],
    )
    .option('--name <name>', 'a name for the execution')
    .option(
      '--server <url>',
      'run it on this DeepForge server (its workers) instead of here: the folder becomes a project there, updated by the next runs',
    )
    .option(
      '--new-project',
      'with --server: import the folder as a new project even when an earlier run made one for it there',
    )
    .option(
      '--token <token>',
      'with --server: an access token (default: the one deepforge login stored for the server, if any)',
    )
    .option(
      '--labels <labels>',
      'with --server: labels a worker must have to run its operations, comma-separated (e.g. gpu)',
      (value: string) =>
        value
          .split(',')
          .map((l) => l.trim())
          .filter(Boolean),
    )
    .option(
      '--slurm <[node.]key=value>',
      `a Slurm option of every job, or of one node's (repeatable; compute.backend = slurm); keys: ${SLURM_OPTION_KEYS.join(', ')}`,
      collectSlurm,
    );
  addExecutionOptions(cmd)
    .addHelpText(
      'after',
      `
Each operation's output is printed prefixed with its name; a summary with durations closes the run.
Exit code: 0 when every operation succeeded, 1 otherwise.

The folder is a folder project of the data dir (registered on its first run, known by its real path after): the
web IDE (deepforge start on the same data dir) lists it with this run and its artifacts, and shows the folder's
content as of the last run. Artifact names resolve in that project first, then among those imported without
--project. The folder is only read.

With --server, the pipeline runs on that server (on its workers, or its own machine under deepforge start); its
output is followed live, the same as here, and Ctrl-C cancels it on the server. The first run of a folder
imports it there as a new project; the next runs of the same folder on the same server update that project to
the folder's content (a version in its history), so --cache reuses the earlier runs' results. The project is
imported anew when it was deleted there; one you may only read is an error. --new-project always imports a new
one (later runs update that). Which project each folder has is kept in server-projects.json in the data dir.
The token is --token, else the one \`deepforge login <url>\` stored.

Examples:
  deepforge run examples/hello hello
  deepforge run examples/hello hello --set left.number=6 --set greeting.artifact=greeting
  deepforge run my-project train --cache --concurrency 2 --json
  deepforge run my-project train --slurm partition=gpu --slurm time=2:00:00 --slurm train.gres=gpu:1
  deepforge run --server https://deepforge.example.org my-project train --labels gpu`,
    )
    .action(async (projectDir: string, pipeline: string, opts: RunOptions) => {
      if (opts.server !== undefined) {
        if (opts.timeout !== undefined) {
          throw new UsageError(
            "--timeout cannot be used with --server: the server's executions.timeout applies",
          );
        }
        ctx.exitCode = await runOnServer(ctx, projectDir, pipeline, { ...opts, server: opts.server });
        return;
      }
      for (const [flag, given] of [
        ['--token', opts.token],
        ['--labels', opts.labels],
        ['--new-project', opts.newProject],
      ] as const) {
        if (given !== undefined) throw new UsageError(`${flag} goes with --server <url>`);
      }
      const dir = resolve(ctx.cwd, projectDir);
      const engine = await openCliEngine(ctx, opts, { warmUp: true });
      try {
        const { project } = await engine.loadProjectFolder(dir);
        if (!Object.hasOwn(project.pipelines, pipeline)) {
          const known = Object.keys(project.pipelines).sort();
          throw new UsageError(
            `project "${project.manifest.name}" (${dir}) has no pipeline "${pipeline}"; ${known.length ? `its pipelines are: ${known.join(', ')}` : 'it has no pipelines'}`,
          );
        }
        // The folder's project in the data dir (docs/adr/0028): the web IDE lists it with this run under it.
        const folderProject = (await engine.registerFolderProject(dir, project)).project;
        const start = () =>
          engine.startExecution({
            project,
            pipelineName: pipeline,
            projectDir: dir,
            projectId: folderProject.id,
            overrides: opts.set,
            ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
            ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
            ...(opts.name !== undefined ? { name: opts.name } : {}),
            ...(opts.slurm
              ? {
                  slurm: opts.slurm.all as SlurmJobOptions,
                  nodeSlurm: opts.slurm.nodes as Record<string, SlurmJobOptions>,
                }
              : {}),
          });
        const jobs = project.pipelines[pipeline]!.nodes.map((n) => ({ node: n.id, operation: n.operation }));
        const details = await watchExecution(engine, ctx, opts, jobs, start);
        ctx.exitCode = details.status === 'success' ? 0 : 1;
      } finally {
        // Output checks still running are redone by the next engine to open the blob store (docs/adr/0005).
        await engine.close({ leaveChecks: true });
      }
    });
}
