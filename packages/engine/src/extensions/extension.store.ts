import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import {
  EXTENSION_EXAMPLES_DIR,
  EXTENSION_MANIFEST_FILE,
  extensionOperationFiles,
  extensionVersionProblem,
  readExtensionFiles,
  readExtensionManifest,
  type Diagnostic,
  type ExtensionContent,
  type ExtensionManifest,
} from '@deepforge/core';
import { EngineError } from '../errors.js';
import {
  DEFAULT_TAR_LIMITS,
  entryPathProblem,
  readTarGz,
  TarArchiveError,
  type TarLimits,
} from './tar-archive.js';

const execFileAsync = promisify(execFile);

/** Why an extension cannot be added, read or removed; the message says what is wrong and where. */
export class ExtensionError extends EngineError {
  readonly diagnostics: Diagnostic[];
  /** `not-found` for an extension, operation or example that is not installed. */
  constructor(
    message: string,
    diagnostics: Diagnostic[] = [],
    code: 'extension' | 'not-found' = 'extension',
  ) {
    super(code, message);
    this.name = 'ExtensionError';
    this.diagnostics = diagnostics;
  }
}

/** An installed extension as listed: its manifest, or why it cannot be read. */
export interface InstalledExtension {
  name: string;
  dir: string;
  manifest: ExtensionManifest | null;
  /** Set when the folder's manifest is missing or broken, or it does not fit this DeepForge. */
  problem?: string;
}

export interface ExtensionStoreOptions {
  /** `<dataDir>/extensions`: one folder per installed extension, named like it. */
  dir: string;
  /** The version of DeepForge that checks the manifests' ranges. */
  deepforgeVersion: string;
  limits?: TarLimits;
  /** The npm command `add` runs for a package name (`npm pack`). */
  npm?: string;
}

/** Top-level names the staging and removal folders use; never an extension's name (names start with a letter). */
const STAGING_PREFIX = '.staging-';
const REMOVING_PREFIX = '.removing-';
/** Folders a source folder may hold that are not part of an extension. */
const SKIPPED = new Set(['node_modules', '__pycache__', '.git']);

function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics
    .filter((d) => d.severity === 'error')
    .map((d) => `  ${d.message}${d.line !== undefined ? ` (line ${d.line}, column ${d.column ?? 1})` : ''}`)
    .join('\n');
}

/** Files that become the extension's text model (the manifest, libraries, example projects' model files). */
function isModelFile(path: string): boolean {
  if (path === EXTENSION_MANIFEST_FILE) return true;
  const parts = path.split('/');
  const inProject = (p: string[]): boolean =>
    p.length === 1
      ? p[0] === 'deepforge.json'
      : ['operations', 'pipelines', 'utils', 'serializers', 'resources'].includes(p[0] as string) ||
        (p[0] === 'artifacts' && p.length === 2 && (p[1] as string).endsWith('.json'));
  if (parts[0] === EXTENSION_EXAMPLES_DIR && parts.length >= 3) return inProject(parts.slice(2));
  return (
    parts.length >= 2 && ['operations', 'utils', 'serializers', 'resources'].includes(parts[0] as string)
  );
}

function isIgnorable(path: string): boolean {
  return path.split('/').some((p) => p.startsWith('.') || SKIPPED.has(p)) || path.endsWith('.pyc');
}

/**
 * Installed extensions under the data dir (docs/extensions.md). Adding copies the source into a staging folder
 * beside the installed ones, reads and checks it there, then renames it into place, so an extension is either
 * fully installed or not at all. Projects never read from here at run time: adding an extension's operation to a
 * project copies its files in.
 */
export class ExtensionStore {
  private readonly limits: TarLimits;

  constructor(private readonly options: ExtensionStoreOptions) {
    this.limits = options.limits ?? DEFAULT_TAR_LIMITS;
  }

  get dir(): string {
    return this.options.dir;
  }

  async list(): Promise<InstalledExtension[]> {
    const entries = await readdir(this.dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const out: InstalledExtension[] = [];
    for (const e of entries.filter((x) => x.isDirectory() && !x.name.startsWith('.'))) {
      const dir = join(this.dir, e.name);
      const text = await readFile(join(dir, EXTENSION_MANIFEST_FILE), 'utf8').catch(() => undefined);
      const read = readExtensionManifest(text);
      if (!read.ok) {
        out.push({
          name: e.name,
          dir,
          manifest: null,
          problem: read.diagnostics.map((d) => d.message).join('; '),
        });
        continue;
      }
      const problem = extensionVersionProblem(read.manifest, this.options.deepforgeVersion);
      out.push({ name: e.name, dir, manifest: read.manifest, ...(problem ? { problem } : {}) });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** An installed extension's content, read and checked as when it was added. */
  async read(name: string): Promise<ExtensionContent & { dir: string }> {
    const dir = await this.installedDir(name);
    const files = await this.readFolder(dir);
    // Checked whole when it was added; operation code is not parsed here (a server reads it off its event loop).
    const content = this.check(files, false);
    // An extension installed for an earlier DeepForge stays listed (with the reason) but gives nothing.
    const problem = extensionVersionProblem(content.manifest, this.options.deepforgeVersion);
    if (problem) throw new ExtensionError(`${name} cannot be used: ${problem}`);
    return { ...content, dir };
  }

  /**
   * The files (project path → bytes) that adding `operation` of extension `name` copies into a project: the
   * operation, its environment file when it has one, and the utils, serializers and architectures it needs.
   */
  async operationFiles(name: string, operation: string): Promise<Map<string, string>> {
    const { manifest, dir } = await this.read(name);
    const paths = extensionOperationFiles(manifest, operation);
    if (paths.length === 0) {
      const known = Object.keys(manifest.provides.operations ?? {}).sort();
      throw new ExtensionError(
        `the extension ${name} has no operation "${operation}" (it has: ${known.join(', ') || 'none'})`,
        [],
        'not-found',
      );
    }
    const out = new Map<string, string>();
    const environment = `operations/${operation}.environment.yml`;
    for (const path of [...paths, environment]) {
      const text = await readFile(join(dir, path), 'utf8').catch(() => undefined);
      if (text !== undefined) out.set(path, text);
      else if (path !== environment) throw new ExtensionError(`${name}: ${path} is missing`);
    }
    return out;
  }

  /** The folder of an installed extension's example project. */
  async exampleDir(name: string, example: string): Promise<string> {
    const { manifest, dir } = await this.read(name);
    if (!(manifest.provides.examples ?? []).includes(example)) {
      throw new ExtensionError(`the extension ${name} has no example "${example}"`, [], 'not-found');
    }
    return join(dir, EXTENSION_EXAMPLES_DIR, example);
  }

  /**
   * Installs from a folder, a `.tgz` / `.tar.gz` (npm pack output) or, for anything else, an npm package spec
   * (`npm pack <spec>`, so a name, `name@1.2`, a `file:` path or a git URL). Relative paths are read from `cwd`.
   */
  async add(source: string, cwd: string): Promise<InstalledExtension> {
    await mkdir(this.dir, { recursive: true });
    const staging = join(this.dir, `${STAGING_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      const path = resolve(cwd, source);
      const stat = await lstat(path).catch(() => undefined);
      if (stat?.isDirectory()) await this.copyFolder(path, staging);
      else if (stat?.isFile()) await this.unpack(path, staging);
      else if (stat) throw new ExtensionError(`${source} is neither a folder nor a tarball`);
      else await this.fromNpm(source, cwd, staging);
      const content = this.check(await this.readFolder(staging));
      const { manifest } = content;
      const problem = extensionVersionProblem(manifest, this.options.deepforgeVersion);
      if (problem) throw new ExtensionError(`cannot add ${manifest.name}: ${problem}`);
      const target = join(this.dir, manifest.name);
      if (await lstat(target).catch(() => undefined)) {
        throw new ExtensionError(
          `an extension named ${manifest.name} is installed already (deepforge extensions remove ${manifest.name} first)`,
        );
      }
      // The rename is the commit: before it nothing is installed, after it everything is.
      await rename(staging, target).catch((err: NodeJS.ErrnoException) => {
        // Another `add` of the same name got there first.
        if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') {
          throw new ExtensionError(`an extension named ${manifest.name} is installed already`);
        }
        throw err;
      });
      return { name: manifest.name, dir: target, manifest };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  /** Removes an installed extension. Projects that used its operations keep their copies and still run. */
  async remove(name: string): Promise<void> {
    const dir = await this.installedDir(name);
    // Renamed away first, so that a removal cut short leaves no half-deleted extension in the list.
    const away = join(this.dir, `${REMOVING_PREFIX}${name}-${randomBytes(4).toString('hex')}`);
    await rename(dir, away);
    await rm(away, { recursive: true, force: true });
  }

  private async installedDir(name: string): Promise<string> {
    const dir = join(this.dir, name);
    if (!/^[a-z][a-z0-9-]*$/.test(name) || !(await lstat(dir).catch(() => undefined))?.isDirectory()) {
      const names = (await this.list()).map((e) => e.name);
      throw new ExtensionError(
        `no extension named ${JSON.stringify(name.slice(0, 100))} is installed (installed: ${names.join(', ') || 'none'})`,
        [],
        'not-found',
      );
    }
    return dir;
  }

  private check(files: Map<string, string>, readOperations = true): ExtensionContent {
    const read = readExtensionFiles(files, { readOperations });
    if (!read.ok) {
      const name = files.has(EXTENSION_MANIFEST_FILE)
        ? 'the extension has errors'
        : `no ${EXTENSION_MANIFEST_FILE}: not a DeepForge extension`;
      throw new ExtensionError(`${name}:\n${formatDiagnostics(read.diagnostics)}`, read.diagnostics);
    }
    return read.extension;
  }

  /** The model files of an extension folder as text (bounded by the tar limits: same rules for both sources). */
  private async readFolder(dir: string): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    for (const rel of await this.walk(dir)) {
      if (isModelFile(rel)) files.set(rel, await readFile(join(dir, rel), 'utf8'));
    }
    return files;
  }

  /** Every file of a folder (relative POSIX paths), refusing links and more than the limits allow. */
  private async walk(root: string): Promise<string[]> {
    const out: string[] = [];
    let bytes = 0;
    const visit = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const full = join(dir, e.name);
        const rel = relative(root, full).split(sep).join('/');
        if (isIgnorable(rel)) continue;
        if (out.length >= this.limits.maxEntries) {
          throw new ExtensionError(`the extension has more than ${this.limits.maxEntries} files`);
        }
        if (e.isSymbolicLink()) {
          throw new ExtensionError(`${rel} is a link: extensions may only hold files and folders`);
        }
        if (e.isDirectory()) await visit(full);
        else if (e.isFile()) {
          bytes += (await lstat(full)).size;
          if (bytes > this.limits.maxBytes) {
            throw new ExtensionError(`the extension is larger than ${this.limits.maxBytes} bytes`);
          }
          out.push(rel);
        } else throw new ExtensionError(`${rel} is not a file or folder`);
      }
    };
    await visit(root);
    return out.sort();
  }

  private async copyFolder(from: string, to: string): Promise<void> {
    for (const rel of await this.walk(from)) {
      const target = join(to, ...rel.split('/'));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, await readFile(join(from, ...rel.split('/'))));
    }
    await mkdir(to, { recursive: true });
  }

  private async unpack(tarball: string, to: string): Promise<void> {
    const size = (await lstat(tarball)).size;
    if (size > this.limits.maxBytes) {
      throw new ExtensionError(`${tarball} is larger than ${this.limits.maxBytes} bytes`);
    }
    let entries;
    try {
      entries = await readTarGz(await readFile(tarball), this.limits);
    } catch (err) {
      if (err instanceof TarArchiveError) throw new ExtensionError(`${tarball}: ${err.message}`);
      throw err;
    }
    // npm pack puts everything under package/: one top folder shared by every entry is the extension's top.
    const tops = new Set(entries.map((e) => e.path.split('/')[0]));
    const strip = tops.size === 1 && entries.every((e) => e.path.includes('/')) ? `${[...tops][0]}/` : '';
    await mkdir(to, { recursive: true });
    for (const entry of entries) {
      const rel = entry.path.slice(strip.length);
      if (rel === '' || isIgnorable(rel) || entryPathProblem(rel)) continue;
      const target = join(to, ...rel.split('/'));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, entry.data, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST') throw new ExtensionError(`${tarball}: "${rel}" is in the tarball twice`);
        throw err;
      });
    }
  }

  private async fromNpm(spec: string, cwd: string, to: string): Promise<void> {
    if (spec.startsWith('-')) throw new ExtensionError(`"${spec}" is not a folder, tarball or npm package`);
    const scratch = await mkdtemp(join(tmpdir(), 'deepforge-npm-pack-'));
    try {
      try {
        await execFileAsync(
          this.options.npm ?? 'npm',
          ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch, spec],
          { cwd, timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
        );
      } catch (err) {
        const detail = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n');
        throw new ExtensionError(
          `${spec} is not a folder or tarball here, and npm could not fetch it as a package: ${detail.slice(-3).join(' ')}`,
        );
      }
      // npm names the tarball (scope-name-version.tgz); the scratch folder holds only it.
      const packed = (await readdir(scratch)).filter((f) => f.endsWith('.tgz'));
      if (packed.length !== 1) throw new ExtensionError(`npm pack ${spec} made no tarball`);
      await this.unpack(join(scratch, packed[0] as string), to);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
