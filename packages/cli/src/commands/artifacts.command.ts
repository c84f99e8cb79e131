import { createWriteStream } from 'node:fs';
import { realpath, rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import pc from 'picocolors';
import { assertNever, contentHashHex, type ContentHash } from '@deepforge/core';
import { ContentHasher, type ArtifactInfo, type Engine } from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../usage-error.js';
import { formatBytes, formatTime, table } from '../render/format.js';
import { openCliEngine, positiveIntegerOption } from './engine-session.js';

export function registerArtifactsCommand(program: Command, ctx: CliContext): void {
  const artifacts = program.command('artifacts').description('list, fetch and import stored data');

  artifacts
    .command('list', { isDefault: true })
    .description('list artifacts, newest first')
    .option('--name <name>', 'only the versions of this artifact')
    .option('-p, --project <folder-or-id>', PROJECT_HELP)
    .option('-n, --limit <n>', 'how many to list', positiveIntegerOption('--limit'), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { name?: string; project?: string; limit: number; json?: boolean }) => {
      const engine = await openCliEngine(ctx);
      try {
        const projectId =
          opts.project !== undefined ? await projectScope(engine, ctx, opts.project, false) : undefined;
        const list = await engine.listArtifacts({
          limit: opts.limit,
          ...(opts.name ? { name: opts.name } : {}),
          ...(projectId !== undefined ? { projectId } : {}),
        });
        if (opts.json) {
          ctx.out.write(JSON.stringify(list, null, 2) + '\n');
          return;
        }
        if (list.length === 0) {
          ctx.out.write(
            'No artifacts yet. An Output operation saves one; `deepforge artifacts import` adds a file.\n',
          );
          return;
        }
        const c = pc.createColors(Boolean(ctx.out.isTTY) && !ctx.env.NO_COLOR);
        ctx.out.write(
          table([
            ['NAME', 'TYPE', 'SIZE', 'HASH', 'CREATED', 'FROM'].map((h) => c.bold(h)),
            ...list.map((a) => [
              a.name,
              a.pyType ?? '',
              formatBytes(a.size),
              contentHashHex(a.hash as ContentHash).slice(0, 12),
              formatTime(a.createdAt),
              provenance(a),
            ]),
          ]) + '\n',
        );
      } finally {
        await engine.close();
      }
    });

  artifacts
    .command('get')
    .description(
      "write an artifact's bytes to a file (or to stdout with -o -), checked against its content id on the way",
    )
    .argument(
      '<name-or-hash>',
      'an artifact name (its newest version), or an id prefix, or a content id prefix (sha256:…, sha256t:… or hex)',
    )
    .option('-o, --output <file>', 'where to write it (default: ./<name>; - for stdout)')
    .option('-p, --project <folder-or-id>', PROJECT_HELP)
    .option('--info', 'print what is known about it instead of its bytes')
    .action(async (nameOrHash: string, opts: { output?: string; project?: string; info?: boolean }) => {
      const engine = await openCliEngine(ctx);
      try {
        const info =
          opts.project === undefined
            ? await engine.getArtifact(nameOrHash)
            : await artifactOf(engine, await projectScope(engine, ctx, opts.project, false), nameOrHash);
        if (opts.info) {
          ctx.out.write(JSON.stringify(info, null, 2) + '\n');
          return;
        }
        const source = await engine.openArtifact(info.id);
        const check = verifying(info);
        if (opts.output === '-') {
          await pipeline(source, check.stream, ctx.out, { end: false });
          check.done();
          return;
        }
        const target = resolve(ctx.cwd, opts.output ?? info.name);
        // Write next to the target and rename, so an interrupted download never leaves a truncated file, and a
        // corrupt blob no file at all.
        const tmp = `${target}.${process.pid}.part`;
        try {
          await pipeline(source, check.stream, createWriteStream(tmp, { flags: 'wx' }));
          check.done();
          await rename(tmp, target);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
        ctx.err.write(
          `wrote ${info.name} (${formatBytes(info.size)}, ${info.pyType ?? 'unknown type'}) to ${target}\n`,
        );
      } finally {
        await engine.close();
      }
    });

  artifacts
    .command('import')
    .description('store a file as an artifact that Input operations can read')
    .argument('<file>', 'the file (its bytes are stored as they are)')
    .argument('<name>', 'the artifact name')
    .option('--serializer <name>', 'how operations read the bytes (default: pickle)')
    .option('--type <python-type>', 'the Python type, for display and port checks')
    .option(
      '-p, --project <folder-or-id>',
      `${PROJECT_HELP}; a folder is registered as a folder project if it is not one yet`,
    )
    .action(
      async (file: string, name: string, opts: { serializer?: string; type?: string; project?: string }) => {
        const engine = await openCliEngine(ctx);
        try {
          if (!name.trim()) throw new UsageError('the artifact name must not be empty');
          const projectId =
            opts.project !== undefined ? await projectScope(engine, ctx, opts.project, true) : undefined;
          const info = await engine.importArtifact(resolve(ctx.cwd, file), name, {
            ...(projectId !== undefined ? { projectId } : {}),
            ...(opts.serializer ? { serializer: opts.serializer } : {}),
            ...(opts.type ? { pyType: opts.type } : {}),
          });
          ctx.out.write(`imported ${info.name} (${formatBytes(info.size)}) as ${info.hash}\n`);
        } finally {
          await engine.close();
        }
      },
    );
}

const PROJECT_HELP =
  "the project's artifacts only: a project folder (its folder project, docs/adr/0028) or a project id of the web IDE";

/**
 * The project id `--project` names: a project folder's folder project (registered first when `register`), else a
 * project id. Without --project the commands work on every artifact (list, get) or the CLI's unnamed scope
 * (import), as before folder projects.
 */
async function projectScope(
  engine: Engine,
  ctx: CliContext,
  value: string,
  register: boolean,
): Promise<string> {
  const dir = resolve(ctx.cwd, value);
  if ((await stat(dir).catch(() => undefined))?.isDirectory()) {
    if (register) {
      const { project } = await engine.loadProjectFolder(dir);
      return (await engine.registerFolderProject(dir, project)).project.id;
    }
    const found = await engine.projects.getProjectByFolder(await realpath(dir));
    if (!found) {
      throw new UsageError(
        `${dir} is not a folder project yet: \`deepforge run\` it (or import an artifact into it) first`,
      );
    }
    return found.id;
  }
  if (await engine.projects.getProject(value)) return value;
  throw new UsageError(`--project ${value}: there is no such project folder, and no project with that id`);
}

/** An artifact of one project: its newest version of that name, else one whose id or content id starts so. */
async function artifactOf(engine: Engine, projectId: string, nameOrHash: string): Promise<ArtifactInfo> {
  const [newest] = await engine.listArtifacts({ projectId, name: nameOrHash, limit: 1 });
  if (newest) return newest;
  const info = await engine.getArtifact(nameOrHash).catch(() => undefined);
  if (info?.projectId === projectId) return info;
  throw new UsageError(`the project has no artifact "${nameOrHash}" (by name, id or content id)`);
}

/**
 * Hashes the bytes on their way out (the content id's scheme: docs/adr/0006); `done` throws when they are not
 * what the artifact's id says.
 */
function verifying(info: ArtifactInfo): { stream: Transform; done(): void } {
  const hasher = ContentHasher.toCheck(info.hash as ContentHash);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hasher.update(chunk);
      callback(null, chunk);
    },
  });
  return {
    stream,
    done() {
      const got = hasher.digest();
      if (got.hash !== info.hash || got.size !== info.size) {
        throw new Error(
          `the stored bytes of ${info.name} (${got.size} bytes) hash to ${got.hash}, not to its id ${info.hash}: ` +
            'the data store copy is corrupt',
        );
      }
    },
  };
}

function provenance(a: ArtifactInfo): string {
  const p = a.provenance;
  switch (p.kind) {
    case 'execution':
      return `${p.node}.${p.output} in ${p.executionId}`;
    case 'upload':
      return 'upload';
    case 'import':
      return `import of ${p.source}`;
    default:
      return assertNever(p);
  }
}
