import type { Architecture, ArtifactRef, Diagnostic, OperationInterface, Pipeline } from '@deepforge/core';
import { parseOperationSource } from '@deepforge/core';
import type { YArchitecture, YOperation, YPipeline } from '@deepforge/protocol';
import { readArchitecture, readPipeline } from '@deepforge/protocol';
import type * as Y from 'yjs';

/*
 * Reads of the project document that never write to it. project-document.ts's `sections` creates a missing
 * section, which before the first sync would race the server's copy; views read through these instead and
 * write only through project-document.ts's edit functions.
 */

type Section = 'manifest' | 'operations' | 'pipelines' | 'utils' | 'serializers' | 'artifacts' | 'resources';

function section<T>(doc: Y.Doc, key: Section): Y.Map<T> | undefined {
  return doc.getMap<unknown>('project').get(key) as Y.Map<T> | undefined;
}

export function projectName(doc: Y.Doc): string {
  return (section<unknown>(doc, 'manifest')?.get('name') as string | undefined) ?? '';
}

export function pipelineNames(doc: Y.Doc): string[] {
  return [...(section<YPipeline>(doc, 'pipelines')?.keys() ?? [])].sort((a, b) => a.localeCompare(b));
}

export function pipelineOf(doc: Y.Doc, name: string): Pipeline | null {
  const m = section<YPipeline>(doc, 'pipelines')?.get(name);
  return m ? readPipeline(name, m) : null;
}

/** The project's architectures (resources/), by name: references to them are valid, and checked. */
export function architecturesOf(doc: Y.Doc): Record<string, Architecture> {
  const out: Record<string, Architecture> = {};
  for (const [name, a] of section<YArchitecture>(doc, 'resources')?.entries() ?? []) {
    out[name] = readArchitecture(name, a);
  }
  return out;
}

/** One architecture, or null: read on every document update by the editor's checks, so only that one. */
export function architectureOf(doc: Y.Doc, name: string): Architecture | null {
  const a = section<YArchitecture>(doc, 'resources')?.get(name);
  return a ? readArchitecture(name, a) : null;
}

export function operationNames(doc: Y.Doc): string[] {
  return [...(section<YOperation>(doc, 'operations')?.keys() ?? [])].sort((a, b) => a.localeCompare(b));
}

/** Operation name → code, for parsing. */
export function operationCodes(doc: Y.Doc): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, op] of section<YOperation>(doc, 'operations')?.entries() ?? [])
    out[name] = op.get('code')?.toString() ?? '';
  return out;
}

export function operationYText(doc: Y.Doc, name: string): { code: Y.Text; dependencies: Y.Text } | null {
  const op = section<YOperation>(doc, 'operations')?.get(name);
  const code = op?.get('code');
  const dependencies = op?.get('dependencies');
  return code && dependencies ? { code, dependencies } : null;
}

export function moduleNames(doc: Y.Doc, kind: 'utils' | 'serializers'): string[] {
  return [...(section<Y.Text>(doc, kind)?.keys() ?? [])].sort((a, b) => a.localeCompare(b));
}

export function moduleYText(doc: Y.Doc, kind: 'utils' | 'serializers', name: string): Y.Text | null {
  return section<Y.Text>(doc, kind)?.get(name) ?? null;
}

export function artifactRefs(doc: Y.Doc): ArtifactRef[] {
  return [...(section<ArtifactRef>(doc, 'artifacts')?.values() ?? [])].sort((a, b) =>
    a.name.localeCompare(b.name),
  );
}

export function hasProjectContent(doc: Y.Doc): boolean {
  return section(doc, 'manifest') !== undefined;
}

export interface ParsedOperation {
  /** The best reading of the code (shown by the editor even with errors). */
  interface: OperationInterface | null;
  /** What pipelines may use: null while the code has errors. */
  usable: OperationInterface | null;
  diagnostics: Diagnostic[];
}

/**
 * The last two readings of each operation, by name. Not a map keyed by name + code: that key is built and
 * hashed whole on every lookup, and kept for every version (500 versions of 128 KiB code are 64 MB).
 */
const parseCache = new Map<string, { code: string; parsed: ParsedOperation }[]>();

/**
 * Parses an operation's code, memoized on (name, code): views re-read the document on every keystroke, and
 * every view of the project parses every operation. core bounds one parse (size, nesting, error recovery); this
 * makes it one per change of the code.
 */
export function parseOperation(name: string, code: string): ParsedOperation {
  const recent = parseCache.get(name) ?? [];
  const hit = recent.find((r) => r.code === code);
  if (hit) return hit.parsed;
  const parsed = parseOperationSource(code, { className: name });
  const hasError = parsed.diagnostics.some((d) => d.severity === 'error');
  const result: ParsedOperation = {
    interface: parsed.interface,
    usable: hasError ? null : parsed.interface,
    diagnostics: parsed.diagnostics,
  };
  if (parseCache.size > 500) parseCache.clear();
  parseCache.set(name, [{ code, parsed: result }, ...recent.slice(0, 1)]);
  return result;
}

/** Interfaces of every operation of the project (null for those with errors), as validation wants them. */
export function operationInterfaces(
  codes: Readonly<Record<string, string>>,
): Record<string, OperationInterface | null> {
  const out: Record<string, OperationInterface | null> = {};
  for (const [name, code] of Object.entries(codes)) out[name] = parseOperation(name, code).usable;
  return out;
}
