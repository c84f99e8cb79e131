import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  ArchitectureCodeError,
  architectureOrder,
  formatArchitectureSummary,
  generateArchitectureCode,
  projectToFiles,
  type Architecture,
  type Diagnostic,
  type Project,
} from '@deepforge/core';
import {
  ArchitectureService,
  findRuntimeDir,
  loadProjectFolder,
  loadSettings,
  resolvePython,
} from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../usage-error.js';

async function architectureOf(
  ctx: CliContext,
  dir: string,
  name: string,
): Promise<{ project: Project; arch: Architecture }> {
  const { project } = await loadProjectFolder(resolve(ctx.cwd, dir));
  const resources = project.resources ?? {};
  const arch = Object.hasOwn(resources, name) ? resources[name] : undefined;
  if (!arch) {
    const known = Object.keys(resources).sort();
    throw new UsageError(
      `there is no architecture "${name}" in ${join(dir, 'resources')}/` +
        (known.length > 0 ? ` (there are: ${known.join(', ')})` : ' (it has none)'),
    );
  }
  return { project, arch };
}

/** The first problem in graph order (layers the graph cannot order come last, in file order). */
function firstBroken(arch: Architecture, errors: Diagnostic[]): Diagnostic | undefined {
  const order = architectureOrder(arch) ?? arch.layers.map((l) => l.id);
  const rank = (d: Diagnostic): number => {
    const i = d.layer === undefined ? -1 : order.indexOf(d.layer);
    return d.layer === undefined ? -1 : i < 0 ? order.length : i;
  };
  return [...errors].sort((a, b) => rank(a) - rank(b))[0];
}

async function serviceFor(ctx: CliContext): Promise<ArchitectureService> {
  const settings = await loadSettings({ env: ctx.env });
  const runtimeDir = findRuntimeDir();
  const python = await resolvePython(settings.values.python, { runtimeDir, env: ctx.env });
  return new ArchitectureService({
    python: python.command,
    // Per interpreter and torch version: reading torch.nn takes seconds, this makes it once.
    cacheDir: join(settings.dataDir, 'layer-catalog'),
    runtimeDir,
    env: ctx.env,
  });
}

/** `N,1,28,28` → ["N", 1, 28, 28]. */
function parseShape(text: string): (number | string)[] {
  return text.split(',').map((part) => {
    const t = part.trim();
    if (/^\d+$/.test(t)) return Number(t);
    if (/^[A-Za-z_]\w*$/.test(t)) return t;
    throw new UsageError(`--shape ${text}: "${t}" is not a size or a name (e.g. N,1,28,28)`);
  });
}

export function registerResourcesCommand(program: Command, ctx: CliContext): void {
  const resources = program
    .command('resources')
    .description("a project's neural-network architectures (resources/<name>.json)");

  resources
    .command('check')
    .description(
      'check an architecture: layer classes and arguments, then output shapes and parameter counts computed by PyTorch (meta tensors, no memory); exits 1 naming the first broken layer',
    )
    .argument('<project-dir>', 'a project folder')
    .argument('<name>', 'the architecture (resources/<name>.json)')
    .option('--json', 'print the shapes and problems as JSON')
    .addHelpText(
      'after',
      `
Examples:
  deepforge resources check examples/fashion-mnist FashionCNN
  deepforge resources check my-project ResNet --json`,
    )
    .action(async (dir: string, name: string, opts: { json?: boolean }) => {
      const { project, arch } = await architectureOf(ctx, dir, name);
      const check = await (await serviceFor(ctx)).check(project, name);
      const errors = check.diagnostics.filter((d) => d.severity === 'error');
      const shapeErrors: Diagnostic[] = (check.shapes?.layers ?? [])
        .filter((l) => l.error !== undefined)
        .map((l) => ({
          severity: 'error',
          code: 'pytorch',
          message: `${name}: layer "${l.id}" (${l.layer}): ${l.error}${l.fix ? ` (set ${l.fix.argument} to ${l.fix.value})` : ''}`,
          resource: name,
          layer: l.id,
        }));
      const all = [...errors, ...shapeErrors];
      if (opts.json) {
        ctx.out.write(
          `${JSON.stringify({ diagnostics: check.diagnostics, shapes: check.shapes }, null, 2)}\n`,
        );
      } else {
        if (check.shapes) ctx.out.write(formatArchitectureSummary(name, check.shapes));
        for (const d of check.diagnostics.filter((x) => x.severity === 'warning')) {
          ctx.err.write(`warning: ${d.message}\n`);
        }
        for (const d of errors) ctx.err.write(`${d.message}\n`);
      }
      const first = firstBroken(arch, all);
      if (first) {
        ctx.err.write(`error: ${first.message}\n`);
        ctx.exitCode = 1;
      }
    });

  resources
    .command('code')
    .description('print the PyTorch module an architecture compiles to (what operations referencing it get)')
    .argument('<project-dir>', 'a project folder')
    .argument('<name>', 'the architecture (resources/<name>.json)')
    .action(async (dir: string, name: string) => {
      const { arch } = await architectureOf(ctx, dir, name);
      try {
        ctx.out.write(generateArchitectureCode(arch));
      } catch (err) {
        if (err instanceof ArchitectureCodeError) throw new UsageError(err.message);
        throw err;
      }
    });

  resources
    .command('import')
    .description(
      "turn a plain nn.Module class of the project's utils/ into an architecture (torch.fx); what cannot be traced is refused with the reason",
    )
    .argument('<project-dir>', 'a project folder')
    .argument('<class>', 'the class, e.g. utils.models.FashionCNN')
    .requiredOption(
      '--shape <dims...>',
      "the shape of forward's input, e.g. N,1,28,28 (one per input, in order)",
    )
    .option('--name <name>', 'the architecture to write (resources/<name>.json); the class name by default')
    .option('--force', 'replace an architecture of that name')
    .action(
      async (dir: string, className: string, opts: { shape: string[]; name?: string; force?: boolean }) => {
        const root = resolve(ctx.cwd, dir);
        const { project } = await loadProjectFolder(root);
        const name = opts.name ?? className.slice(className.lastIndexOf('.') + 1);
        const file = join(root, 'resources', `${name}.json`);
        if (!opts.force && (Object.hasOwn(project.resources ?? {}, name) || existsSync(file))) {
          throw new UsageError(`resources/${name}.json exists already (--force replaces it)`);
        }
        // forward's arguments are named by the Python side; shapes are given in order.
        const shapes = opts.shape.map(parseShape);
        const service = await serviceFor(ctx);
        const arch = await service
          .importModule(project, {
            className,
            name,
            inputShapes: Object.fromEntries(shapes.map((s, i) => [String(i), s])),
          })
          .catch((err: unknown) => {
            throw new UsageError(`cannot import ${className}: ${(err as Error).message}`);
          });
        // Only the new file is written: the rest of the folder stays exactly as it is.
        const text = projectToFiles({ ...project, resources: { [name]: arch } }).get(
          `resources/${name}.json`,
        )!;
        await mkdir(join(root, 'resources'), { recursive: true });
        await writeFile(file, text);
        ctx.out.write(
          `wrote resources/${name}.json: ${arch.layers.length} layers, computing what ${className} computes\n`,
        );
      },
    );
}
