import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { MANIFEST_FILE, planExtensionCopy } from '@deepforge/core';
import { ExtensionError, ExtensionStore, loadSettings } from '@deepforge/engine';
import type { CliContext } from '../cli-context.js';
import { UsageError } from '../usage-error.js';
import { readCliVersion } from '../version.js';

/** `<dataDir>/extensions`, where the web server finds them too. */
export async function extensionStoreFor(ctx: CliContext): Promise<ExtensionStore> {
  const settings = await loadSettings({ env: ctx.env });
  return new ExtensionStore({
    dir: join(settings.dataDir, 'extensions'),
    deepforgeVersion: readCliVersion(),
  });
}

/** Extension problems are the user's input: shown as usage errors (message only, exit code 1). */
async function explained<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ExtensionError) throw new UsageError(err.message);
    throw err;
  }
}

function provided(list: readonly unknown[] | undefined, one: string, many: string): string | undefined {
  const n = list?.length ?? 0;
  return n === 0 ? undefined : `${n} ${n === 1 ? one : many}`;
}

export function registerExtensionsCommand(program: Command, ctx: CliContext): void {
  const extensions = program
    .command('extensions')
    .description(
      'extensions: operation libraries (operations, utils, serializers), architectures and example projects to add to projects',
    );

  extensions
    .command('add')
    .description(
      'install an extension from a folder, a .tgz tarball (npm pack) or an npm package spec; it must have a deepforge-extension.json that fits this DeepForge',
    )
    .argument('<source>', 'a folder, a .tgz file, or an npm package (name, name@version, file:path)')
    .addHelpText(
      'after',
      `
Examples:
  deepforge extensions add extensions/image-classification
  deepforge extensions add ./image-classification-0.1.0.tgz`,
    )
    .action(async (source: string) => {
      const store = await extensionStoreFor(ctx);
      const added = await explained(() => store.add(source, ctx.cwd));
      const m = added.manifest!;
      const what = [
        provided(Object.keys(m.provides.operations ?? {}), 'operation', 'operations'),
        provided(m.provides.resources, 'architecture', 'architectures'),
        provided(m.provides.examples, 'example project', 'example projects'),
      ].filter((x) => x !== undefined);
      ctx.out.write(`added ${m.name} ${m.version}${what.length > 0 ? `: ${what.join(', ')}` : ''}\n`);
    });

  extensions
    .command('copy')
    .description(
      "copy an extension's operation into a project folder, with the utils, serializers and architectures it needs, so the project runs without the extension",
    )
    .argument('<extension>', 'the installed extension')
    .argument('<operation>', 'its operation (extensions list shows them)')
    .argument('<project-dir>', 'a project folder')
    .action(async (name: string, operation: string, dir: string) => {
      const root = resolve(ctx.cwd, dir);
      if (!(await lstat(join(root, MANIFEST_FILE)).catch(() => undefined))?.isFile()) {
        throw new UsageError(`${dir} is not a project folder (it has no ${MANIFEST_FILE})`);
      }
      const store = await extensionStoreFor(ctx);
      const incoming = await explained(() => store.operationFiles(name, operation));
      const existing = new Map<string, string>();
      for (const path of incoming.keys()) {
        const text = await readFile(join(root, path), 'utf8').catch(() => undefined);
        if (text !== undefined) existing.set(path, text);
      }
      const plan = planExtensionCopy(operation, incoming, existing);
      if (!plan.ok) throw new UsageError(`cannot copy ${operation} into ${dir}: ${plan.message}`);
      for (const [path, text] of plan.write) {
        await mkdir(dirname(join(root, path)), { recursive: true });
        await writeFile(join(root, path), text, { flag: 'wx' });
      }
      ctx.out.write(`copied ${[...plan.write.keys()].join(', ')} into ${dir}\n`);
    });

  extensions
    .command('remove')
    .description('uninstall an extension; projects that added its operations keep their copies and still run')
    .argument('<name>', 'the extension (as extensions list shows it)')
    .action(async (name: string) => {
      const store = await extensionStoreFor(ctx);
      await explained(() => store.remove(name));
      ctx.out.write(`removed ${name}\n`);
    });

  extensions
    .command('list')
    .description('the installed extensions, with what they provide')
    .option('--json', 'print them as JSON')
    .action(async (opts: { json?: boolean }) => {
      const store = await extensionStoreFor(ctx);
      const list = await store.list();
      if (opts.json) {
        ctx.out.write(
          `${JSON.stringify(
            list.map((e) => ({
              name: e.name,
              manifest: e.manifest,
              ...(e.problem ? { problem: e.problem } : {}),
            })),
            null,
            2,
          )}\n`,
        );
        return;
      }
      if (list.length === 0) {
        ctx.out.write('no extensions installed (deepforge extensions add <folder|tarball|package>)\n');
        return;
      }
      for (const e of list) {
        const m = e.manifest;
        ctx.out.write(
          `${e.name}${m ? ` ${m.version}` : ''}${e.problem ? ` (cannot be used: ${e.problem})` : ''}\n`,
        );
        if (!m) continue;
        if (m.description) ctx.out.write(`  ${m.description}\n`);
        const rows: [string, readonly string[] | undefined][] = [
          ['operations', Object.keys(m.provides.operations ?? {})],
          ['utils', m.provides.utils],
          ['serializers', m.provides.serializers],
          ['architectures', m.provides.resources],
          ['examples', m.provides.examples],
        ];
        for (const [label, names] of rows) {
          if (names && names.length > 0) ctx.out.write(`  ${label}: ${names.join(', ')}\n`);
        }
      }
    });
}
