import type { Project } from '@deepforge/core';
import { putPipeline, projectToDoc, sections } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  hasProjectContent,
  operationInterfaces,
  parseOperation,
  pipelineNames,
  pipelineOf,
} from './doc-read.js';

const project: Project = {
  manifest: { name: 'hello', formatVersion: 1 },
  operations: {
    Multiply: {
      name: 'Multiply',
      code: 'class Multiply:\n    def execute(self, a, b):\n        p = a * b\n        return p\n',
    },
    Broken: { name: 'Broken', code: 'class Broken:\n    def execute(self, a:\n' },
  },
  pipelines: {},
  utils: {},
  serializers: {},
  artifacts: {},
};

describe('document reads', () => {
  it('reads nothing from an unsynced document, and writes nothing to it', () => {
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => updates.push(u));
    expect(pipelineNames(doc)).toEqual([]);
    expect(pipelineOf(doc, 'x')).toBeNull();
    expect(hasProjectContent(doc)).toBe(false);
    expect(updates).toEqual([]);
  });

  it('reads pipelines written with the edit functions', () => {
    const doc = projectToDoc(project);
    putPipeline(doc, { name: 'b', nodes: [], connections: [] });
    putPipeline(doc, { name: 'a', nodes: [], connections: [] });
    expect(pipelineNames(doc)).toEqual(['a', 'b']);
    expect(pipelineOf(doc, 'a')).toEqual({ name: 'a', nodes: [], connections: [] });
    expect(sections.pipelines(doc).size).toBe(2);
  });

  it('parses operations once per code and hides broken ones from pipelines', () => {
    const code = project.operations.Multiply!.code;
    expect(parseOperation('Multiply', code)).toBe(parseOperation('Multiply', code));
    const ifaces = operationInterfaces({ Multiply: code, Broken: project.operations.Broken!.code });
    expect(ifaces.Multiply?.inputs.map((i) => i.name)).toEqual(['a', 'b']);
    expect(ifaces.Broken).toBeNull();
  });

  it("keeps the last two versions of an operation's code parsed", () => {
    const code = project.operations.Multiply!.code;
    const first = parseOperation('Multiply', code);
    const edited = parseOperation('Multiply', code.replace('a, b', 'a, c'));
    expect(edited.usable?.inputs.map((i) => i.name)).toEqual(['a', 'c']);
    // Undoing the edit finds the earlier reading.
    expect(parseOperation('Multiply', code)).toBe(first);
  });

  it("answers pathological code with core's limits, not a frozen page", () => {
    const huge = parseOperation('Huge', '('.repeat(1024 * 1024));
    expect(huge.usable).toBeNull();
    expect(huge.diagnostics.map((d) => d.code)).toEqual(['code-too-large']);
    const deep = parseOperation('Deep', '['.repeat(64 * 1024));
    expect(deep.diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([['nesting-too-deep', 1, 101]]);
  });
});
