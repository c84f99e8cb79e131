import { z } from 'zod';
import { parseJsonText } from './json-text.js';
import { PROJECT_FORMAT_VERSION, PythonNameSchema } from './model.js';
import type { Diagnostic, Project } from './model.js';
import { formatIssuePath, MANIFEST_FILE, projectFromFiles, projectFromFilesUnread } from './project-files.js';

/**
 * DeepForge extensions (docs/extensions.md, docs/adr/0025): a folder with a manifest, `deepforge-extension.json`,
 * and the libraries it brings in the project folder format (operations/, utils/, serializers/, resources/), plus
 * example projects under examples/<name>/. This module is the pure part: the manifest's schema, the version range
 * check and the reading of an extension's files. Copying files and installing are the engine's.
 */

export const EXTENSION_MANIFEST_FILE = 'deepforge-extension.json';
export const EXTENSION_EXAMPLES_DIR = 'examples';
/** Ranges are short; a longer one is refused before it is read. */
export const VERSION_RANGE_MAX_LENGTH = 256;
const VERSION_RANGE_MAX_COMPARATORS = 32;

const VERSION_PATTERN = /^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$/;

/** `1.2.3` → [1, 2, 3]; null for anything else (pre-releases and build tags are not extension versions). */
export function parseVersion(text: string): [number, number, number] | null {
  const m = VERSION_PATTERN.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

type Comparator = { op: '<' | '<=' | '>' | '>=' | '='; version: [number, number, number] };

/** `1`, `1.2`, `1.2.3`, `1.x`, `1.2.*`: the parts given, or null. */
function parsePartial(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length > 3) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (p === 'x' || p === 'X' || p === '*') break;
    if (!/^(0|[1-9]\d{0,8})$/.test(p)) return null;
    out.push(Number(p));
  }
  return out;
}

const pad = (parts: readonly number[]): [number, number, number] => [
  parts[0] ?? 0,
  parts[1] ?? 0,
  parts[2] ?? 0,
];

/** The comparators one term of a range stands for (`^1.2` is `>=1.2.0 <2.0.0`), or an error message. */
function termComparators(term: string): Comparator[] | string {
  if (term === '*' || term === 'x' || term === 'X') return [];
  const m = /^(\^|~|>=|<=|>|<|=)?v?(.+)$/.exec(term);
  if (!m) return `"${term}" is not a version or comparison`;
  const op = m[1] ?? '';
  const parts = parsePartial(m[2] as string);
  if (parts === null) return `"${term}" is not a version or comparison (versions are like 1.2.3)`;
  const low = pad(parts);
  const bumped = (i: number): [number, number, number] =>
    i === 0 ? [low[0] + 1, 0, 0] : i === 1 ? [low[0], low[1] + 1, 0] : [low[0], low[1], low[2] + 1];
  if (op === '^') {
    // The first part that is not 0 may not change (npm's caret).
    const first = parts.length === 0 ? 0 : low[0] !== 0 ? 0 : low[1] !== 0 || parts.length < 3 ? 1 : 2;
    const upTo = parts.length === 0 ? null : first === 1 && parts.length === 1 ? bumped(0) : bumped(first);
    return upTo
      ? [
          { op: '>=', version: low },
          { op: '<', version: upTo },
        ]
      : [];
  }
  if (op === '~') {
    if (parts.length === 0) return [];
    return [
      { op: '>=', version: low },
      { op: '<', version: bumped(parts.length === 1 ? 0 : 1) },
    ];
  }
  if (parts.length === 3) return [{ op: (op || '=') as Comparator['op'], version: low }];
  // A partial version: `1.2` is every 1.2.x, `<1.2` below 1.2.0, `<=1.2` up to every 1.2.x.
  if (parts.length === 0) return op === '<' || op === '>' ? [{ op: '<', version: [0, 0, 0] }] : [];
  const next = bumped(parts.length - 1);
  switch (op) {
    case '':
    case '=':
      return [
        { op: '>=', version: low },
        { op: '<', version: next },
      ];
    case '>':
      return [{ op: '>=', version: next }];
    case '>=':
      return [{ op: '>=', version: low }];
    case '<':
      return [{ op: '<', version: low }];
    default:
      return [{ op: '<', version: next }];
  }
}

function satisfies(version: [number, number, number], c: Comparator): boolean {
  const d = compareVersions(version, c.version);
  switch (c.op) {
    case '<':
      return d < 0;
    case '<=':
      return d <= 0;
    case '>':
      return d > 0;
    case '>=':
      return d >= 0;
    default:
      return d === 0;
  }
}

/** A range read: alternatives (`||`), each a set of comparators that must all hold. */
export type VersionRange = Comparator[][];

/**
 * Reads an npm-style range of versions: `>=0.1.0 <1.0.0`, `^0.1.0`, `~1.2`, `0.1.x`, `1.2.3`, `*`, alternatives
 * joined by `||`, also `1.0.0 - 2.0.0`. Bounded by length and number of comparators, so reading it costs nothing.
 */
export function parseVersionRange(
  text: string,
): { ok: true; range: VersionRange } | { ok: false; message: string } {
  if (text.length > VERSION_RANGE_MAX_LENGTH) {
    return { ok: false, message: `longer than ${VERSION_RANGE_MAX_LENGTH} characters` };
  }
  if (text.trim() === '') return { ok: false, message: 'must not be empty (use "*" for every version)' };
  const range: VersionRange = [];
  let count = 0;
  for (const alternative of text.split('||')) {
    const hyphen = /^\s*(\S+)\s+-\s+(\S+)\s*$/.exec(alternative);
    // `>= 1.0` is written with a space now and then: join operators to their version first.
    const terms = hyphen
      ? [`>=${hyphen[1]}`, `<=${hyphen[2]}`]
      : alternative
          .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
          .trim()
          .split(/\s+/)
          .filter((t) => t !== '');
    if (terms.length === 0) return { ok: false, message: 'has an empty alternative around "||"' };
    const all: Comparator[] = [];
    for (const term of terms) {
      const comparators = termComparators(term);
      if (typeof comparators === 'string') return { ok: false, message: comparators };
      count += comparators.length;
      if (count > VERSION_RANGE_MAX_COMPARATORS) {
        return { ok: false, message: `has more than ${VERSION_RANGE_MAX_COMPARATORS} comparisons` };
      }
      all.push(...comparators);
    }
    range.push(all);
  }
  return { ok: true, range };
}

/** Whether `version` (1.2.3; a pre-release tag is ignored) is in `range`. */
export function versionInRange(version: string, range: VersionRange): boolean {
  const v = parseVersion(version.replace(/[-+].*$/, ''));
  if (!v) return false;
  return range.some((all) => all.every((c) => satisfies(v, c)));
}

/** An extension's name: its folder under the data dir's extensions/ and the group it shows under. */
export const ExtensionNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(
    /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/,
    'must be lowercase letters and digits in words joined by "-", starting with a letter (like image-classification)',
  );

/** A module of utils/ as its path without `.py`: `images` or `vision/transforms`. */
const ModulePathSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(200)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*(\/[A-Za-z_][A-Za-z0-9_]*)*$/,
    'must be a module path like images or vision/transforms',
  );

const ExampleNameSchema = ExtensionNameSchema;

/** What one operation of the extension needs beside itself when copied into a project. */
export const ExtensionOperationSchema = z.strictObject({
  description: z.string().max(1000).optional(),
  utils: z.array(ModulePathSchema).max(100).optional(),
  serializers: z.array(PythonNameSchema).max(100).optional(),
  resources: z.array(PythonNameSchema).max(100).optional(),
});
export type ExtensionOperation = z.infer<typeof ExtensionOperationSchema>;

export const ExtensionManifestSchema = z.strictObject({
  name: ExtensionNameSchema,
  version: z.string().refine((v) => parseVersion(v) !== null, 'must be a version like 1.0.0'),
  description: z.string().max(2000).optional(),
  /** The DeepForge versions it fits, as an npm-style range (`>=0.1.0 <1.0.0`, `^0.1.0`). */
  deepforge: z.string().check((ctx) => {
    const read = parseVersionRange(ctx.value);
    if (!read.ok) {
      ctx.issues.push({ code: 'custom', message: `not a version range: ${read.message}`, input: ctx.value });
    }
  }),
  provides: z.strictObject({
    /** Operation name (operations/<Name>.py) → what it needs copied with it. */
    operations: z.record(PythonNameSchema, ExtensionOperationSchema).optional(),
    utils: z.array(ModulePathSchema).max(200).optional(),
    serializers: z.array(PythonNameSchema).max(200).optional(),
    /** Architectures (resources/<Name>.json); their custom layers come from the utils they import. */
    resources: z.array(PythonNameSchema).max(200).optional(),
    /** Example projects: examples/<name>/ project folders. */
    examples: z.array(ExampleNameSchema).max(100).optional(),
  }),
});
export type ExtensionManifest = z.infer<typeof ExtensionManifestSchema>;

/** An extension read from its files: its manifest and the libraries as a project (without pipelines). */
export interface ExtensionContent {
  manifest: ExtensionManifest;
  /** operations, utils, serializers and resources of the extension, in the project model. */
  library: Project;
  /** examples/<name>/ folders, read as projects. */
  examples: Record<string, Project>;
}

export type ExtensionReadResult =
  | { ok: true; extension: ExtensionContent; diagnostics: Diagnostic[] }
  | { ok: false; diagnostics: Diagnostic[] };

function problem(code: string, file: string, message: string): Diagnostic {
  return { severity: 'error', code, file, message: `${file}: ${message}` };
}

/** Reads and checks only the manifest (its JSON, its fields), naming the field that is wrong. */
export function readExtensionManifest(
  text: string | undefined,
): { ok: true; manifest: ExtensionManifest } | { ok: false; diagnostics: Diagnostic[] } {
  const file = EXTENSION_MANIFEST_FILE;
  if (text === undefined) {
    return {
      ok: false,
      diagnostics: [
        problem('missing-manifest', file, 'missing: an extension has a deepforge-extension.json at its top'),
      ],
    };
  }
  const json = parseJsonText(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  if (!json.ok) return { ok: false, diagnostics: [problem('json', file, `invalid JSON: ${json.message}`)] };
  const parsed = ExtensionManifestSchema.safeParse(json.value);
  if (!parsed.success) {
    return {
      ok: false,
      diagnostics: parsed.error.issues.map((issue) => {
        const path = formatIssuePath(issue.path);
        return problem('schema', file, path === '' ? issue.message : `${path}: ${issue.message}`);
      }),
    };
  }
  return { ok: true, manifest: parsed.data };
}

/**
 * Whether the extension fits DeepForge `version`; the message names both versions when it does not.
 */
export function extensionVersionProblem(manifest: ExtensionManifest, version: string): string | null {
  const read = parseVersionRange(manifest.deepforge);
  if (read.ok && versionInRange(version, read.range)) return null;
  return `${manifest.name} ${manifest.version} is for DeepForge ${manifest.deepforge}, and this is DeepForge ${version}`;
}

/**
 * Reads an extension from its files (relative POSIX path → text): the manifest, every file it says it provides
 * (present, and operations whose interface parses), and its example projects. Files it does not list are not
 * part of it. Every problem is returned, each naming its file. `readOperations: false` leaves operation code
 * unparsed (the structure is still checked), for an extension checked whole when it was installed.
 */
export function readExtensionFiles(
  files: ReadonlyMap<string, string>,
  options: { readOperations?: boolean } = {},
): ExtensionReadResult {
  const read = readExtensionManifest(files.get(EXTENSION_MANIFEST_FILE));
  if (!read.ok) return read;
  const { manifest } = read;
  const diagnostics: Diagnostic[] = [];
  const provides = manifest.provides;
  const library = new Map<string, string>([
    [MANIFEST_FILE, JSON.stringify({ name: manifest.name, formatVersion: PROJECT_FORMAT_VERSION })],
  ]);
  const need = (path: string, what: string): void => {
    const text = files.get(path);
    if (text === undefined) {
      diagnostics.push(problem('missing-file', path, `missing: the manifest provides ${what}`));
    } else library.set(path, text);
  };
  const operations = provides.operations ?? {};
  const utils = new Set(provides.utils ?? []);
  const serializers = new Set(provides.serializers ?? []);
  const resources = new Set(provides.resources ?? []);
  for (const name of Object.keys(operations)) {
    need(`operations/${name}.py`, `the operation ${name}`);
    const environment = files.get(`operations/${name}.environment.yml`);
    if (environment !== undefined) library.set(`operations/${name}.environment.yml`, environment);
    const op = operations[name] as ExtensionOperation;
    const undeclared = [
      ...(op.utils ?? []).filter((u) => !utils.has(u)).map((u) => `utils ${u}`),
      ...(op.serializers ?? []).filter((s) => !serializers.has(s)).map((s) => `serializer ${s}`),
      ...(op.resources ?? []).filter((r) => !resources.has(r)).map((r) => `resource ${r}`),
    ];
    for (const u of undeclared) {
      diagnostics.push(
        problem(
          'schema',
          EXTENSION_MANIFEST_FILE,
          `provides.operations.${name} needs the ${u}, which provides does not list`,
        ),
      );
    }
  }
  for (const u of utils) need(`utils/${u}.py`, `the utils module ${u}`);
  for (const s of serializers) need(`serializers/${s}.py`, `the serializer ${s}`);
  for (const r of resources) need(`resources/${r}.json`, `the architecture ${r}`);
  // An installed extension was read whole when it was added: a server reads its operations off the event loop.
  const readProject = options.readOperations === false ? projectFromFilesUnread : projectFromFiles;
  const libraryRead = readProject(library);
  diagnostics.push(...libraryRead.diagnostics);

  const examples: Record<string, Project> = {};
  for (const name of provides.examples ?? []) {
    const prefix = `${EXTENSION_EXAMPLES_DIR}/${name}/`;
    const exampleFiles = new Map<string, string>();
    for (const [path, text] of files) {
      if (path.startsWith(prefix)) exampleFiles.set(path.slice(prefix.length), text);
    }
    if (exampleFiles.size === 0) {
      diagnostics.push(
        problem('missing-file', prefix, 'missing: the manifest provides this example project'),
      );
      continue;
    }
    const example = readProject(exampleFiles);
    diagnostics.push(
      ...example.diagnostics.map((d) => ({
        ...d,
        ...(d.file !== undefined ? { file: `${prefix}${d.file}` } : {}),
        message: `${prefix}${d.message}`,
      })),
    );
    if (example.project) examples[name] = example.project;
  }
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || !libraryRead.project) return { ok: false, diagnostics };
  return { ok: true, extension: { manifest, library: libraryRead.project, examples }, diagnostics };
}

/** The project files an operation of the extension brings into a project (its own file and what it needs). */
export function extensionOperationFiles(manifest: ExtensionManifest, operation: string): string[] {
  const op = manifest.provides.operations?.[operation];
  if (!op || !Object.hasOwn(manifest.provides.operations ?? {}, operation)) return [];
  return [
    `operations/${operation}.py`,
    ...(op.utils ?? []).map((u) => `utils/${u}.py`),
    ...(op.serializers ?? []).map((s) => `serializers/${s}.py`),
    ...(op.resources ?? []).map((r) => `resources/${r}.json`),
  ];
}

export type ExtensionCopyPlan =
  | { ok: true; write: Map<string, string>; unchanged: string[] }
  | { ok: false; message: string; clashes: string[] };

/**
 * What copying an extension operation's files (`incoming`, from extensionOperationFiles) into a project means,
 * given the project's files at those paths (`existing`: path → text, absent when the project has none). The
 * operation itself must be new: a project operation of that name is a clash. A util, serializer or architecture
 * the project already has with the same text is left alone; with other text it is a clash too, since replacing
 * it would change what the project's own operations run. Clashes refuse the whole copy, naming each file.
 */
export function planExtensionCopy(
  operation: string,
  incoming: ReadonlyMap<string, string>,
  existing: ReadonlyMap<string, string>,
): ExtensionCopyPlan {
  const write = new Map<string, string>();
  const unchanged: string[] = [];
  const clashes: string[] = [];
  const own = `operations/${operation}.py`;
  for (const [path, text] of incoming) {
    const there = existing.get(path);
    if (there === undefined) write.set(path, text);
    else if (path === own) clashes.push(path);
    else if (there.replace(/\r\n/g, '\n') === text.replace(/\r\n/g, '\n')) unchanged.push(path);
    else if (!path.startsWith(`operations/${operation}.`)) clashes.push(path);
  }
  if (clashes.length === 0) return { ok: true, write, unchanged };
  const message = clashes.includes(own)
    ? `the project has an operation named ${operation} already: rename or delete it to add the extension's ${operation}`
    : `the project has other ${clashes.join(', ')}: the extension's ${operation} needs its own version (rename the project's file to add it)`;
  return { ok: false, message, clashes };
}
