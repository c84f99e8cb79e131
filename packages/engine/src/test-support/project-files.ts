import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface TestProjectFiles {
  name?: string;
  operations?: Record<string, string>;
  pipelines?: Record<string, unknown>;
  utils?: Record<string, string>;
  artifacts?: Record<string, unknown>;
  /** Any other file, by path relative to the project folder. */
  files?: Record<string, string | Buffer>;
}

/** Writes a project folder in the project format, the way a user would have it on disk. */
export async function writeProjectFolder(dir: string, p: TestProjectFiles): Promise<string> {
  const put = async (rel: string, content: string | Buffer): Promise<void> => {
    const file = join(dir, rel);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  };
  await put('deepforge.json', JSON.stringify({ name: p.name ?? 'test', formatVersion: 1 }, null, 2) + '\n');
  for (const [name, code] of Object.entries(p.operations ?? {})) await put(`operations/${name}.py`, code);
  for (const [name, pipeline] of Object.entries(p.pipelines ?? {})) {
    await put(`pipelines/${name}.json`, JSON.stringify({ name, ...(pipeline as object) }, null, 2) + '\n');
  }
  for (const [name, code] of Object.entries(p.utils ?? {})) await put(`utils/${name}.py`, code);
  for (const [name, ref] of Object.entries(p.artifacts ?? {})) {
    await put(`artifacts/${name}.json`, JSON.stringify({ name, ...(ref as object) }, null, 2) + '\n');
  }
  for (const [rel, content] of Object.entries(p.files ?? {})) await put(rel, content);
  return dir;
}

/** Python source from lines, so operations read naturally in tests. */
export function py(...lines: string[]): string {
  return lines.join('\n') + '\n';
}

/** The environment without DEEPFORGE_* variables, so a developer's settings cannot change a test. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DEEPFORGE_')) env[k] = v;
  return { ...env, ...extra };
}

/** A pipeline node list and connections from a compact description. */
export function chain(
  nodes: {
    id: string;
    operation: string;
    attributes?: Record<string, unknown>;
    references?: Record<string, string>;
    labels?: string[];
    gpus?: number;
  }[],
  connections: [string, string][],
): { nodes: unknown[]; connections: unknown[] } {
  return {
    nodes,
    connections: connections.map(([from, to]) => {
      const [fn, fp] = from.split('.');
      const [tn, tp] = to.split('.');
      return { from: { node: fn, port: fp }, to: { node: tn, port: tp } };
    }),
  };
}

/**
 * Input six → Double → Report (three metrics and a line) → Output `result`: a small project that exercises the
 * store's every table (jobs, outputs, metrics, logs, artifacts), for tests that move or reopen a data store.
 */
export const REPORTING_CHAIN: TestProjectFiles = {
  operations: {
    Double: py(
      'class Double():',
      '    def execute(self, x):',
      '        doubled = x * 2',
      '        return doubled',
    ),
    Report: py(
      'import deepforge',
      'class Report():',
      '    def execute(self, value):',
      '        for step in range(3):',
      '            deepforge.log(step=step, value=value + step)',
      '        print("value is", value)',
      '        reported = value + 1',
      '        return reported',
    ),
  },
  artifacts: { six: { file: 'six.pkl', type: 'builtins.int' } },
  files: { 'artifacts/six.pkl': 'I6\n.' },
  pipelines: {
    main: chain(
      [
        { id: 'six', operation: 'Input', attributes: { artifact: 'six' } },
        { id: 'double', operation: 'Double' },
        { id: 'report', operation: 'Report' },
        { id: 'save', operation: 'Output', attributes: { saveName: 'result' } },
      ],
      [
        ['six.data', 'double.x'],
        ['double.doubled', 'report.value'],
        ['report.reported', 'save.data'],
      ],
    ),
  },
};
