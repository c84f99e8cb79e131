import type { z } from 'zod';
import { artifactFileProblem } from './artifact-file.js';
import { locateJsonPath, parseJsonText } from './json-text.js';
import {
  ARCHITECTURE_LIMITS,
  ArchitectureSchema,
  ArtifactRefSchema,
  EntityNameSchema,
  IdentifierSchema,
  INPUT_OPERATION,
  JsonValueSchema,
  OUTPUT_OPERATION,
  PipelineSchema,
  PROJECT_FORMAT_VERSION,
  ProjectManifestSchema,
} from './model.js';
import type {
  Architecture,
  ArtifactRef,
  Diagnostic,
  OperationInterface,
  Pipeline,
  Project,
} from './model.js';
import { identifierProblem, isPythonIdentifier } from './python-identifier.js';
import { lineColumn } from './python-interface.parser.js';
import { fileDiagnostic, OPERATIONS_DIR, readOperationFile } from './operation-file.reader.js';
import type { OperationReading } from './operation-file.reader.js';

export { OPERATIONS_DIR, readOperationFile };
export type { OperationReading };

/**
 * The project folder format: a pure mapping between file contents (relative POSIX path → UTF-8 text) and a
 * `Project`. Reading and writing the files is the caller's business.
 *
 *   deepforge.json            the manifest
 *   operations/<Name>.py      one operation class per file, named like the file
 *   pipelines/<name>.json     a pipeline, `name` equal to the file name
 *   utils/<module>.py         importable as `utils.<module>` (sub-folders keep their path: `pkg/mod`)
 *   serializers/<name>.py     custom serializers
 *   artifacts/<name>.json     artifact references; other files there are artifact data
 *   resources/<name>.json     neural-network architectures, `name` equal to the file name
 *
 * Written files are stable for good diffs: 2-space JSON in the schema's key order with record keys sorted, and
 * a trailing newline.
 */

export const MANIFEST_FILE = 'deepforge.json';
export const PIPELINES_DIR = 'pipelines';
export const UTILS_DIR = 'utils';
export const SERIALIZERS_DIR = 'serializers';
export const ARTIFACTS_DIR = 'artifacts';
export const RESOURCES_DIR = 'resources';
/** An operation's Python dependencies, as a conda environment file beside it: operations/<Name>.environment.yml. */
export const DEPENDENCIES_SUFFIX = '.environment.yml';

export interface ProjectFromFilesResult {
  /**
   * Null when a structural file is broken (manifest, pipeline or artifact JSON, file names). Problems in Python
   * code leave the project usable: they are errors of the operations concerned, shown where they are.
   */
  project: Project | null;
  diagnostics: Diagnostic[];
}

/** projectFromFilesUnread's result: the operations are found but their code is not read. */
export interface UnreadProjectFiles extends ProjectFromFilesResult {
  /** The operations found, also when the project is broken, for the caller to read. */
  operations: Project['operations'];
}

/** Thrown by `projectToFiles` for a project that cannot be written (names that are not file names). */
export class ProjectFilesError extends Error {
  override readonly name = 'ProjectFilesError';
}

const BUILT_INS: ReadonlySet<string> = new Set([INPUT_OPERATION, OUTPUT_OPERATION]);

/** `nodes[2].id`, `attributes["learning rate"]`: a zod issue path as one would write it in JavaScript. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else {
      const name = String(key);
      out += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name)
        ? `${out === '' ? '' : '.'}${name}`
        : `[${JSON.stringify(name)}]`;
    }
  }
  return out;
}

function schemaDiagnostics(file: string, text: string, error: z.ZodError): Diagnostic[] {
  return error.issues.map((issue) => {
    // An unknown key is best pointed at by the key itself; anything else by the value at the path.
    const extraKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
    const fullPath = extraKey !== undefined ? [...issue.path, extraKey] : issue.path;
    const offset = locateJsonPath(text, fullPath, extraKey !== undefined);
    const at = offset === null ? undefined : lineColumn(text, offset);
    const path = formatIssuePath(issue.path);
    return fileDiagnostic(
      'error',
      'schema',
      file,
      path === '' ? issue.message : `${path}: ${issue.message}`,
      at,
    );
  });
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function readJson(
  file: string,
  text: string,
  diagnostics: Diagnostic[],
): { ok: true; value: unknown; source: string } | { ok: false } {
  const source = stripBom(text);
  const parsed = parseJsonText(source);
  if (parsed.ok) return { ok: true, value: parsed.value, source };
  const at = parsed.offset === null ? undefined : lineColumn(source, parsed.offset);
  const where = at ? ` at line ${at.line}, column ${at.column}` : '';
  diagnostics.push(fileDiagnostic('error', 'json', file, `invalid JSON${where}: ${parsed.message}`, at));
  return { ok: false };
}

function stemOf(name: string, extension: string): string | null {
  return name.endsWith(extension) && name.length > extension.length ? name.slice(0, -extension.length) : null;
}

/** Files nobody put there on purpose: editor and OS droppings, Python caches. */
function isIgnorable(rest: string): boolean {
  return (
    rest.split('/').some((part) => part.startsWith('.') || part === '__pycache__') || rest.endsWith('.pyc')
  );
}

function readManifest(
  files: ReadonlyMap<string, string>,
  diagnostics: Diagnostic[],
): Project['manifest'] | null {
  const text = files.get(MANIFEST_FILE);
  if (text === undefined) {
    diagnostics.push(
      fileDiagnostic(
        'error',
        'missing-manifest',
        MANIFEST_FILE,
        'missing: a DeepForge project folder has a deepforge.json',
      ),
    );
    return null;
  }
  const json = readJson(MANIFEST_FILE, text, diagnostics);
  if (!json.ok) return null;
  const version = (json.value as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > PROJECT_FORMAT_VERSION) {
    diagnostics.push(
      fileDiagnostic(
        'error',
        'format-version',
        MANIFEST_FILE,
        `formatVersion ${version} is newer than this DeepForge reads (${PROJECT_FORMAT_VERSION}): upgrade DeepForge to open this project`,
      ),
    );
    return null;
  }
  const parsed = ProjectManifestSchema.safeParse(json.value);
  if (!parsed.success) {
    diagnostics.push(...schemaDiagnostics(MANIFEST_FILE, json.source, parsed.error));
    return null;
  }
  return parsed.data;
}

export interface ProjectOperations {
  /** Null for operations whose code has errors: they cannot run until fixed. */
  interfaces: Record<string, OperationInterface | null>;
  diagnostics: Diagnostic[];
}

/** Parses every operation of a project (what pipeline validation and planning need). */
export function parseProjectOperations(project: Pick<Project, 'operations'>): ProjectOperations {
  const readings: Record<string, OperationReading> = {};
  for (const [name, source] of Object.entries(project.operations)) {
    readings[name] = readOperationFile(name, source.code);
  }
  return projectOperationsOf(readings);
}

/** The readings of a project's operations (by name, however they were made) as parseProjectOperations gives them. */
export function projectOperationsOf(readings: Readonly<Record<string, OperationReading>>): ProjectOperations {
  const interfaces: Record<string, OperationInterface | null> = {};
  const diagnostics: Diagnostic[] = [];
  for (const name of Object.keys(readings).sort()) {
    const reading = readings[name] as OperationReading;
    interfaces[name] = reading.interface;
    diagnostics.push(...reading.diagnostics);
  }
  return { interfaces, diagnostics };
}

function checkModulePath(file: string, key: string, diagnostics: Diagnostic[]): void {
  const bad = key.split('/').find((part) => !isPythonIdentifier(part));
  if (bad !== undefined) {
    diagnostics.push(
      fileDiagnostic(
        'warning',
        'module-name',
        file,
        `"${bad}" is not a Python identifier, so this module cannot be imported`,
      ),
    );
  }
}

export function projectFromFiles(files: ReadonlyMap<string, string>): ProjectFromFilesResult {
  const { project, diagnostics } = readProjectFiles(files, true);
  return { project, diagnostics };
}

/**
 * projectFromFiles without parsing operation code, for a server that reads operations off its event loop
 * (readOperationFile in a worker) and then merges their diagnostics with sortDiagnosticsByFile.
 */
export function projectFromFilesUnread(files: ReadonlyMap<string, string>): UnreadProjectFiles {
  return readProjectFiles(files, false);
}

function readProjectFiles(files: ReadonlyMap<string, string>, readOperations: boolean): UnreadProjectFiles {
  const diagnostics: Diagnostic[] = [];
  let broken = false;
  const manifest = readManifest(files, diagnostics);
  if (!manifest) broken = true;
  const operations: Project['operations'] = {};
  const pipelines: Record<string, Pipeline> = {};
  const utils: Record<string, string> = {};
  const serializers: Record<string, string> = {};
  const artifacts: Record<string, ArtifactRef> = {};
  const resources: Record<string, Architecture> = {};
  const dependencies = new Map<string, string>();
  const structuralError = (code: string, file: string, message: string): void => {
    diagnostics.push(fileDiagnostic('error', code, file, message));
    broken = true;
  };
  const ignoredWarning = (file: string, message: string): void => {
    diagnostics.push(fileDiagnostic('warning', 'ignored-file', file, `${message}; the file is ignored`));
  };

  for (const path of [...files.keys()].sort()) {
    const text = files.get(path) as string;
    const slash = path.indexOf('/');
    if (slash < 0) continue;
    const dir = path.slice(0, slash);
    const rest = path.slice(slash + 1);
    if (rest === '' || isIgnorable(rest)) continue;
    switch (dir) {
      case OPERATIONS_DIR: {
        const envStem = stemOf(rest, DEPENDENCIES_SUFFIX);
        if (envStem !== null && !envStem.includes('/')) {
          dependencies.set(envStem, stripBom(text));
          break;
        }
        const stem = stemOf(rest, '.py');
        if (stem === '__init__') break;
        if (stem === null) {
          ignoredWarning(path, 'operations are Python files (operations/<Name>.py)');
          break;
        }
        if (stem.includes('/')) {
          ignoredWarning(path, 'operations must be directly in operations/, not in a sub-folder');
          break;
        }
        if (!IdentifierSchema.safeParse(stem).success || !isPythonIdentifier(stem)) {
          const why = identifierProblem(stem) ?? 'it must be a Python identifier';
          structuralError('file-name', path, `not a valid operation name: ${why}`);
          break;
        }
        if (BUILT_INS.has(stem)) {
          structuralError('file-name', path, `"${stem}" is the name of a built-in operation`);
          break;
        }
        operations[stem] = { name: stem, code: stripBom(text) };
        break;
      }
      case PIPELINES_DIR: {
        const stem = stemOf(rest, '.json');
        if (stem === null) {
          ignoredWarning(path, 'pipelines are JSON files (pipelines/<name>.json)');
          break;
        }
        if (stem.includes('/')) {
          ignoredWarning(path, 'pipelines must be directly in pipelines/, not in a sub-folder');
          break;
        }
        const json = readJson(path, text, diagnostics);
        if (!json.ok) {
          broken = true;
          break;
        }
        const parsed = PipelineSchema.safeParse(json.value);
        if (!parsed.success) {
          diagnostics.push(...schemaDiagnostics(path, json.source, parsed.error));
          broken = true;
          break;
        }
        if (parsed.data.name !== stem) {
          structuralError(
            'name-mismatch',
            path,
            `name "${parsed.data.name}" must be the file name ("${stem}")`,
          );
          break;
        }
        pipelines[stem] = parsed.data;
        break;
      }
      case UTILS_DIR:
      case SERIALIZERS_DIR: {
        const key = stemOf(rest, '.py');
        if (key === null) {
          ignoredWarning(path, `${dir}/ holds Python modules (.py files)`);
          break;
        }
        checkModulePath(path, key, diagnostics);
        (dir === UTILS_DIR ? utils : serializers)[key] = stripBom(text);
        break;
      }
      case ARTIFACTS_DIR: {
        const stem = stemOf(rest, '.json');
        // Everything else under artifacts/ is artifact data, referenced by `file`.
        if (stem === null || stem.includes('/')) break;
        const json = readJson(path, text, diagnostics);
        if (!json.ok) {
          broken = true;
          break;
        }
        const parsed = ArtifactRefSchema.safeParse(json.value);
        if (!parsed.success) {
          diagnostics.push(...schemaDiagnostics(path, json.source, parsed.error));
          broken = true;
          break;
        }
        if (parsed.data.name !== stem) {
          structuralError(
            'name-mismatch',
            path,
            `name "${parsed.data.name}" must be the file name ("${stem}")`,
          );
          break;
        }
        const file = parsed.data.file;
        const fileProblem = file !== undefined ? artifactFileProblem(file) : undefined;
        if (fileProblem !== undefined) {
          structuralError('artifact-file', path, `file: ${JSON.stringify(file)} ${fileProblem}`);
          break;
        }
        artifacts[stem] = parsed.data;
        break;
      }
      case RESOURCES_DIR: {
        const stem = stemOf(rest, '.json');
        if (stem === null) {
          ignoredWarning(path, 'architectures are JSON files (resources/<name>.json)');
          break;
        }
        if (stem.includes('/')) {
          ignoredWarning(path, 'architectures must be directly in resources/, not in a sub-folder');
          break;
        }
        if (!isPythonIdentifier(stem)) {
          const why = identifierProblem(stem) ?? 'it must be a Python identifier';
          structuralError('file-name', path, `not a valid architecture name: ${why}`);
          break;
        }
        // Checked before parsing: UTF-16 length ≤ bytes, so only texts near the limit are measured exactly.
        if (
          text.length > ARCHITECTURE_LIMITS.fileBytes / 3 &&
          utf8Length(text) > ARCHITECTURE_LIMITS.fileBytes
        ) {
          structuralError(
            'file-too-large',
            path,
            `larger than the ${ARCHITECTURE_LIMITS.fileBytes / 1024 / 1024} MiB an architecture may be`,
          );
          break;
        }
        const json = readJson(path, text, diagnostics);
        if (!json.ok) {
          broken = true;
          break;
        }
        const parsed = ArchitectureSchema.safeParse(json.value);
        if (!parsed.success) {
          diagnostics.push(...schemaDiagnostics(path, json.source, parsed.error));
          broken = true;
          break;
        }
        if (parsed.data.name !== stem) {
          structuralError(
            'name-mismatch',
            path,
            `name "${parsed.data.name}" must be the file name ("${stem}")`,
          );
          break;
        }
        resources[stem] = parsed.data;
        break;
      }
      default:
        break;
    }
  }

  for (const [name, deps] of dependencies) {
    const op = Object.hasOwn(operations, name) ? operations[name] : undefined;
    if (op) op.dependencies = deps;
    else
      ignoredWarning(
        `${OPERATIONS_DIR}/${name}${DEPENDENCIES_SUFFIX}`,
        `there is no operation ${name} for these dependencies`,
      );
  }
  if (readOperations) diagnostics.push(...parseProjectOperations({ operations }).diagnostics);
  const project: Project | null =
    broken || !manifest
      ? null
      : {
          manifest,
          operations,
          pipelines,
          utils,
          serializers,
          artifacts,
          // Left out when there are none, like a project written before resources existed.
          ...(Object.keys(resources).length > 0 ? { resources } : {}),
        };
  return { project, diagnostics: sortDiagnosticsByFile(diagnostics), operations };
}

/** Diagnostics in the order projectFromFiles gives them: by file, each file's in the order they were found. */
export function sortDiagnosticsByFile(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  // Stable: diagnostics of one file keep the order they were found in (line order for code).
  return diagnostics
    .map((d, i) => ({ d, i }))
    .sort((a, b) => compareStrings(a.d.file ?? '', b.d.file ?? '') || a.i - b.i)
    .map(({ d }) => d);
}

/** Code-unit order: the same everywhere, unlike locale collation. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/') || path.includes('\\') || /^[A-Za-z]:/.test(path)) return false;
  return path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

// ---- writing ----------------------------------------------------------------------------------------------

interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  innerType?: z.ZodType;
  getter?: () => z.ZodType;
  in?: z.ZodType;
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** A copy of `value` with object keys in the schema's declared order and record keys sorted. */
function orderedBySchema(schema: z.ZodType, value: unknown): unknown {
  // Attribute values are user data: their own key order is kept as written.
  if (schema === JsonValueSchema || value === null || typeof value !== 'object') return value;
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
      return def.innerType ? orderedBySchema(def.innerType, value) : value;
    case 'pipe':
      return def.in ? orderedBySchema(def.in, value) : value;
    case 'lazy':
      return def.getter ? orderedBySchema(def.getter(), value) : value;
    case 'array':
      return Array.isArray(value) && def.element
        ? value.map((v) => orderedBySchema(def.element as z.ZodType, v))
        : value;
    case 'record': {
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => compareStrings(a, b))
        .map(([k, v]) => [k, def.valueType ? orderedBySchema(def.valueType, v) : v]);
      return Object.fromEntries(entries);
    }
    case 'object': {
      const shape = def.shape ?? {};
      const record = value as Record<string, unknown>;
      const known = Object.keys(shape).filter((k) => record[k] !== undefined);
      // Keys the schema does not know are kept (sorted, at the end) so that nothing is silently dropped.
      const unknown = Object.keys(record)
        .filter((k) => !(k in shape) && record[k] !== undefined)
        .sort();
      return Object.fromEntries([
        ...known.map((k) => [k, orderedBySchema(shape[k] as z.ZodType, record[k])]),
        ...unknown.map((k) => [k, record[k]]),
      ]);
    }
    default:
      return value;
  }
}

function jsonFile(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function pipelineJson(pipeline: Pipeline): string {
  const ordered = orderedBySchema(PipelineSchema, pipeline) as Pipeline;
  // Nodes without attributes or references leave the keys out: the schema's defaults bring them back.
  const nodes = ordered.nodes.map((node) => {
    const copy: Record<string, unknown> = { ...node };
    if (Object.keys(node.attributes ?? {}).length === 0) delete copy.attributes;
    if (Object.keys(node.references ?? {}).length === 0) delete copy.references;
    return copy;
  });
  return jsonFile({ ...ordered, nodes });
}

function architectureJson(arch: Architecture): string {
  const ordered = orderedBySchema(ArchitectureSchema, arch) as Architecture;
  // Layers without attributes leave the key out: the schema's default brings it back.
  const layers = ordered.layers.map((layer) => {
    const copy: Record<string, unknown> = { ...layer };
    if (Object.keys(layer.attributes ?? {}).length === 0) delete copy.attributes;
    return copy;
  });
  return jsonFile({ ...ordered, layers });
}

function checkWritable(kind: string, key: string, valid: boolean): void {
  if (!valid)
    throw new ProjectFilesError(`cannot write ${kind} ${JSON.stringify(key)}: not a valid file name`);
}

export function projectToFiles(project: Project): Map<string, string> {
  const files = new Map<string, string>();
  files.set(MANIFEST_FILE, jsonFile(orderedBySchema(ProjectManifestSchema, project.manifest)));
  for (const [key, op] of Object.entries(project.operations)) {
    checkWritable('operation', key, isPythonIdentifier(key) && !BUILT_INS.has(key));
    if (op.name !== key)
      throw new ProjectFilesError(`operation ${JSON.stringify(key)} is named ${JSON.stringify(op.name)}`);
    files.set(`${OPERATIONS_DIR}/${key}.py`, op.code);
    if (op.dependencies) files.set(`${OPERATIONS_DIR}/${key}${DEPENDENCIES_SUFFIX}`, op.dependencies);
  }
  for (const [key, pipeline] of Object.entries(project.pipelines)) {
    checkWritable('pipeline', key, EntityNameSchema.safeParse(key).success);
    if (pipeline.name !== key) {
      throw new ProjectFilesError(
        `pipeline ${JSON.stringify(key)} is named ${JSON.stringify(pipeline.name)}`,
      );
    }
    files.set(`${PIPELINES_DIR}/${key}.json`, pipelineJson(pipeline));
  }
  for (const [dir, modules] of [
    [UTILS_DIR, project.utils],
    [SERIALIZERS_DIR, project.serializers],
  ] as const) {
    for (const [key, code] of Object.entries(modules)) {
      checkWritable(
        dir === UTILS_DIR ? 'util' : 'serializer',
        key,
        isSafeRelativePath(key) && !isIgnorable(key),
      );
      files.set(`${dir}/${key}.py`, code);
    }
  }
  for (const [key, artifact] of Object.entries(project.artifacts)) {
    checkWritable('artifact', key, EntityNameSchema.safeParse(key).success);
    if (artifact.name !== key) {
      throw new ProjectFilesError(
        `artifact ${JSON.stringify(key)} is named ${JSON.stringify(artifact.name)}`,
      );
    }
    files.set(`${ARTIFACTS_DIR}/${key}.json`, jsonFile(orderedBySchema(ArtifactRefSchema, artifact)));
  }
  for (const [key, arch] of Object.entries(project.resources ?? {})) {
    checkWritable('architecture', key, isPythonIdentifier(key));
    if (arch.name !== key) {
      throw new ProjectFilesError(
        `architecture ${JSON.stringify(key)} is named ${JSON.stringify(arch.name)}`,
      );
    }
    files.set(`${RESOURCES_DIR}/${key}.json`, architectureJson(arch));
  }
  return new Map([...files.entries()].sort(([a], [b]) => compareStrings(a, b)));
}
