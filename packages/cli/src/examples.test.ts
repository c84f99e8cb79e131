import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  parseProjectOperations,
  projectToFiles,
  validateArchitecture,
  validatePipeline,
} from '@deepforge/core';
import { loadProjectFolder } from '@deepforge/engine';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));
const examples = (await readdir(EXAMPLES, { withFileTypes: true }))
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe.each(examples)('examples/%s', (name) => {
  const dir = join(EXAMPLES, name);

  it('is stored exactly as the project saver writes it, so saving it again changes nothing', async () => {
    const { project, diagnostics } = await loadProjectFolder(dir);
    expect(diagnostics).toEqual([]);
    for (const [path, content] of projectToFiles(project)) {
      expect(await readFile(join(dir, path), 'utf8'), path).toBe(content);
    }
  });

  it('has pipelines without errors or warnings', async () => {
    const { project } = await loadProjectFolder(dir);
    const { interfaces, diagnostics } = parseProjectOperations(project);
    expect(diagnostics).toEqual([]);
    for (const pipeline of Object.values(project.pipelines)) {
      // An artifact exists when the project references it, or once another of its pipelines saved it (the
      // tutorial's flow: run download-normalize, then train on what it saved).
      const savedByOthers = Object.values(project.pipelines)
        .filter((p) => p !== pipeline)
        .flatMap((p) => p.nodes.filter((n) => n.operation === 'Output').map((n) => n.attributes.saveName))
        .filter((name): name is string => typeof name === 'string');
      const artifactNames = new Set([...Object.keys(project.artifacts), ...savedByOthers]);
      const resourceNames = new Set(Object.keys(project.resources ?? {}));
      expect(validatePipeline(pipeline, interfaces, { artifactNames, resourceNames })).toEqual([]);
    }
  });

  it('stores its pipelines with every node clear of the others, as the editor draws them', async () => {
    // The editor's operation node is at least 190 × 84 px (NODE_SIZE in pipeline-editor.view.tsx); issue 13: the
    // plots example had nodes 100 px apart, drawn on top of each other.
    const width = 190;
    const height = 84;
    const { project } = await loadProjectFolder(dir);
    for (const [pipelineName, pipeline] of Object.entries(project.pipelines)) {
      const placed = pipeline.nodes.map((n) => ({ id: n.id, ...(n.position ?? { x: NaN, y: NaN }) }));
      for (const n of placed)
        expect(Number.isFinite(n.x), `${pipelineName}/${n.id} has a position`).toBe(true);
      for (const [i, a] of placed.entries()) {
        for (const b of placed.slice(i + 1)) {
          const crossing = Math.abs(a.x - b.x) < width && Math.abs(a.y - b.y) < height;
          expect(crossing, `${pipelineName}: ${a.id} and ${b.id} overlap`).toBe(false);
        }
      }
    }
  });

  it('has architectures without errors or warnings', async () => {
    const { project } = await loadProjectFolder(dir);
    const resources = project.resources ?? {};
    for (const arch of Object.values(resources))
      expect(validateArchitecture(arch, { resources })).toEqual([]);
  });
});
