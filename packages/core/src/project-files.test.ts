import { describe, expect, it } from 'vitest';
import type { ArtifactRef, JsonValue, Pipeline, PipelineNode, Project } from './model.js';
import { newOperationSource } from './python-interface.edit.js';
import {
  formatIssuePath,
  parseProjectOperations,
  ProjectFilesError,
  projectFromFiles,
  projectToFiles,
} from './project-files.js';
import { GEN_ARRAY, TRAIN_VALIDATE } from './seed-operations.fixture.js';

const MANIFEST = '{\n  "name": "redshift",\n  "formatVersion": 1\n}\n';

const HELLO = {
  name: 'hello',
  nodes: [
    { id: 'gen', operation: 'GenArray', attributes: { length: 5 } },
    { id: 'save', operation: 'Output', attributes: { saveName: 'numbers' } },
  ],
  connections: [{ from: { node: 'gen', port: 'arr' }, to: { node: 'save', port: 'data' } }],
};

function folder(extra: Record<string, string> = {}): Map<string, string> {
  return new Map(
    Object.entries({
      'deepforge.json': MANIFEST,
      'operations/GenArray.py': GEN_ARRAY,
      'pipelines/hello.json': JSON.stringify(HELLO, null, 2),
      ...extra,
    }),
  );
}

describe('projectFromFiles', () => {
  it('reads every part of a project folder', () => {
    const files = folder({
      'operations/TrainValidate.py': TRAIN_VALIDATE,
      'utils/swarp_string.py': 'swarp_config_string = "x"\n',
      'utils/astro/__init__.py': '',
      'utils/astro/coords.py': 'def ra(): pass\n',
      'serializers/keras_model.py': 'import deepforge\n',
      'artifacts/mnist.json': '{"name": "mnist", "file": "data/mnist.npz", "type": "numpy.ndarray"}',
      'artifacts/data/mnist.npz': '(binary data)',
      'artifacts/weights.json': `{"name": "weights", "hash": "sha256:${'a'.repeat(64)}", "serializer": "keras"}`,
      'README.md': '# Redshift',
      'operations/.gitkeep': '',
      'operations/__pycache__/GenArray.cpython-311.pyc': 'x',
      'operations/__init__.py': '',
      'utils/.DS_Store': 'x',
    });
    const { project, diagnostics } = projectFromFiles(files);
    expect(diagnostics).toEqual([]);
    expect(project).toEqual({
      manifest: { name: 'redshift', formatVersion: 1 },
      operations: {
        GenArray: { name: 'GenArray', code: GEN_ARRAY },
        TrainValidate: { name: 'TrainValidate', code: TRAIN_VALIDATE },
      },
      pipelines: {
        hello: {
          name: 'hello',
          nodes: [
            { id: 'gen', operation: 'GenArray', attributes: { length: 5 }, references: {} },
            { id: 'save', operation: 'Output', attributes: { saveName: 'numbers' }, references: {} },
          ],
          connections: [{ from: { node: 'gen', port: 'arr' }, to: { node: 'save', port: 'data' } }],
        },
      },
      utils: {
        swarp_string: 'swarp_config_string = "x"\n',
        'astro/__init__': '',
        'astro/coords': 'def ra(): pass\n',
      },
      serializers: { keras_model: 'import deepforge\n' },
      artifacts: {
        mnist: { name: 'mnist', file: 'data/mnist.npz', type: 'numpy.ndarray' },
        weights: { name: 'weights', hash: `sha256:${'a'.repeat(64)}`, serializer: 'keras' },
      },
    });
  });

  it('needs a manifest', () => {
    const files = folder();
    files.delete('deepforge.json');
    expect(projectFromFiles(files)).toEqual({
      project: null,
      diagnostics: [
        {
          severity: 'error',
          code: 'missing-manifest',
          message: 'deepforge.json: missing: a DeepForge project folder has a deepforge.json',
          file: 'deepforge.json',
        },
      ],
    });
  });

  it('refuses manifests from a newer format and bad manifests', () => {
    const newer = projectFromFiles(folder({ 'deepforge.json': '{"name": "x", "formatVersion": 2}' }));
    expect(newer.project).toBeNull();
    expect(newer.diagnostics[0]?.message).toBe(
      'deepforge.json: formatVersion 2 is newer than this DeepForge reads (1): upgrade DeepForge to open this project',
    );
    const bad = projectFromFiles(folder({ 'deepforge.json': '{\n  "formatVersion": 1,\n  "nam": "x"\n}' }));
    expect(bad.project).toBeNull();
    expect(bad.diagnostics).toEqual([
      expect.objectContaining({
        code: 'schema',
        message: expect.stringMatching(/^deepforge\.json: name: /),
        line: 1,
        column: 1,
      }),
      expect.objectContaining({
        code: 'schema',
        message: 'deepforge.json: Unrecognized key: "nam"',
        line: 3,
        column: 3,
      }),
    ]);
  });

  it('reports malformed JSON with file, line and column', () => {
    const text = '{\n  "name": "hello",\n  "nodes": [],\n  "connections": [],\n}\n';
    const { project, diagnostics } = projectFromFiles(folder({ 'pipelines/hello.json': text }));
    expect(project).toBeNull();
    expect(diagnostics).toEqual([
      {
        severity: 'error',
        code: 'json',
        message:
          'pipelines/hello.json: invalid JSON at line 4, column 20: trailing comma before "}" is not allowed in JSON',
        file: 'pipelines/hello.json',
        line: 4,
        column: 20,
      },
    ]);
  });

  it.each([
    ['{"name": "hello" "nodes": []}', 1, 18, 'unexpected """, expected "," or "}"'],
    ["{'name': 1}", 1, 2, 'strings must use double quotes in JSON'],
    ['{\n  // comment\n}', 2, 3, 'comments are not allowed in JSON'],
    ['{"name": "hel', 1, 10, 'unterminated string'],
    ['{"a": [1, 2', 1, 12, 'unexpected end of file, expected "," or "]"'],
    ['', 1, 1, 'unexpected end of file, expected a value'],
    ['{"a": 01}', 1, 7, 'invalid number'],
    ['{"a": tru}', 1, 7, 'unexpected "t", expected a value'],
    ['{} {}', 1, 4, 'unexpected "{", expected the end of the file after the JSON value'],
    ['{"a": "tab\there"}', 1, 11, 'tab in string (escape it)'],
  ])('locates JSON error in %j', (text, line, column, message) => {
    const { diagnostics } = projectFromFiles(folder({ 'pipelines/hello.json': text }));
    expect(diagnostics).toEqual([
      {
        severity: 'error',
        code: 'json',
        message: `pipelines/hello.json: invalid JSON at line ${line}, column ${column}: ${message}`,
        file: 'pipelines/hello.json',
        line,
        column,
      },
    ]);
  });

  it('names the file and field of schema errors, pointing at the value', () => {
    const pipeline = {
      name: 'hello',
      nodes: [
        { id: 'a', operation: 'GenArray' },
        { id: 'b', operation: 'GenArray' },
        { id: '2nd', operation: 'GenArray', extra: true },
      ],
      connections: [{ from: { node: 'a' }, to: { node: 'b', port: 'x' } }],
    };
    const text = JSON.stringify(pipeline, null, 2);
    const { project, diagnostics } = projectFromFiles(folder({ 'pipelines/hello.json': text }));
    expect(project).toBeNull();
    const line = (needle: string): number => text.slice(0, text.indexOf(needle)).split('\n').length;
    expect(diagnostics).toEqual([
      {
        severity: 'error',
        code: 'schema',
        message:
          'pipelines/hello.json: nodes[2].id: must be a Python identifier (letters, digits, underscore; not starting with a digit)',
        file: 'pipelines/hello.json',
        line: line('"2nd"'),
        column: 13,
      },
      expect.objectContaining({
        message: 'pipelines/hello.json: nodes[2]: Unrecognized key: "extra"',
        line: line('"extra"'),
        column: 7,
      }),
      expect.objectContaining({
        message: expect.stringMatching(/^pipelines\/hello\.json: connections\[0\]\.from\.port: /),
        line: line('"from"'),
        column: 15,
      }),
    ]);
  });

  it('checks that pipeline and artifact names match their files', () => {
    const { project, diagnostics } = projectFromFiles(
      folder({
        'pipelines/hello.json': JSON.stringify({ ...HELLO, name: 'Hello' }),
        'artifacts/data.json': '{"name": "other", "file": "x.bin"}',
      }),
    );
    expect(project).toBeNull();
    expect(diagnostics.map((d) => d.message)).toEqual([
      'artifacts/data.json: name "other" must be the file name ("data")',
      'pipelines/hello.json: name "Hello" must be the file name ("hello")',
    ]);
  });

  it('checks artifact references', () => {
    const both = projectFromFiles(
      folder({ 'artifacts/a.json': `{"name": "a", "file": "x", "hash": "sha256:${'0'.repeat(64)}"}` }),
    );
    expect(both.project).toBeNull();
    expect(both.diagnostics.map((d) => d.message)).toEqual([
      'artifacts/a.json: an artifact reference needs exactly one of `file` or `hash`',
    ]);
    for (const file of ['../secret', '/etc/passwd', 'a/../../b', 'C:/x', 'a\\b', '']) {
      const r = projectFromFiles(folder({ 'artifacts/a.json': JSON.stringify({ name: 'a', file }) }));
      expect(r.project, file).toBeNull();
      expect(r.diagnostics[0]?.code, file).toBe('artifact-file');
    }
    const hash = projectFromFiles(folder({ 'artifacts/a.json': '{"name": "a", "hash": "sha256:ABC"}' }));
    expect(hash.diagnostics[0]?.message).toBe(
      'artifacts/a.json: hash: sha256: must be followed by 64 hex digits, not 3',
    );
    const tree = projectFromFiles(folder({ 'artifacts/a.json': '{"name": "a", "hash": "sha256t:xyz"}' }));
    expect(tree.diagnostics[0]?.message).toBe(
      'artifacts/a.json: hash: sha256t: must be followed by 64 lowercase hex digits (0-9, a-f), not "xyz"',
    );
  });

  it('keeps the project usable when operation code has problems, with errors naming the file', () => {
    const { project, diagnostics } = projectFromFiles(
      folder({
        'operations/Broken.py': 'class Broken:\n    def execute(self, a):\n        return a $ 1\n',
        'operations/Renamed.py': 'class Other:\n    def execute(self):\n        pass\n',
        'operations/Empty.py': '# nothing yet\n',
      }),
    );
    expect(project?.operations.Broken?.code).toContain('class Broken');
    expect(diagnostics).toEqual([
      {
        severity: 'error',
        code: 'syntax',
        message: 'operations/Broken.py: syntax error at line 3, column 18: unexpected "$"',
        file: 'operations/Broken.py',
        line: 3,
        column: 18,
        operation: 'Broken',
      },
      {
        severity: 'error',
        code: 'no-class',
        message:
          'operations/Empty.py: no class named Empty: the file must define class Empty with an execute method',
        file: 'operations/Empty.py',
        operation: 'Empty',
      },
      {
        severity: 'error',
        code: 'class-name-mismatch',
        message:
          'operations/Renamed.py: the operation class is named Other, but it must be named Renamed like its file',
        file: 'operations/Renamed.py',
        operation: 'Renamed',
      },
    ]);
  });

  it('refuses operation files that cannot be operation names', () => {
    for (const [path, message] of [
      [
        'operations/my-op.py',
        'operations/my-op.py: not a valid operation name: "my-op" is not a valid Python identifier (letters, digits, underscore; not starting with a digit)',
      ],
      ['operations/class.py', 'operations/class.py: not a valid operation name: "class" is a Python keyword'],
      [
        `operations/${'A'.repeat(101)}.py`,
        `operations/${'A'.repeat(101)}.py: not a valid operation name: a name must be at most 100 characters (this one has 101)`,
      ],
      ['operations/Input.py', 'operations/Input.py: "Input" is the name of a built-in operation'],
    ] as const) {
      const r = projectFromFiles(folder({ [path]: GEN_ARRAY }));
      expect(r.project).toBeNull();
      expect(r.diagnostics.map((d) => d.message)).toEqual([message]);
    }
  });

  it('warns about files with the wrong extension in the known folders', () => {
    const { project, diagnostics } = projectFromFiles(
      folder({
        'operations/notes.txt': 'x',
        'operations/sub/Deep.py': GEN_ARRAY,
        'pipelines/old.yaml': 'x',
        'pipelines/sub/p.json': '{}',
        'utils/data.csv': 'x',
        'utils/my-mod.py': 'x = 1\n',
        'serializers/README': 'x',
      }),
    );
    expect(project).not.toBeNull();
    expect(diagnostics.map((d) => [d.severity, d.message])).toEqual([
      [
        'warning',
        'operations/notes.txt: operations are Python files (operations/<Name>.py); the file is ignored',
      ],
      [
        'warning',
        'operations/sub/Deep.py: operations must be directly in operations/, not in a sub-folder; the file is ignored',
      ],
      [
        'warning',
        'pipelines/old.yaml: pipelines are JSON files (pipelines/<name>.json); the file is ignored',
      ],
      [
        'warning',
        'pipelines/sub/p.json: pipelines must be directly in pipelines/, not in a sub-folder; the file is ignored',
      ],
      ['warning', 'serializers/README: serializers/ holds Python modules (.py files); the file is ignored'],
      ['warning', 'utils/data.csv: utils/ holds Python modules (.py files); the file is ignored'],
      ['warning', 'utils/my-mod.py: "my-mod" is not a Python identifier, so this module cannot be imported'],
    ]);
    expect(Object.keys(project?.utils ?? {})).toEqual(['my-mod']);
  });

  it("reads an operation's dependencies from operations/<Name>.environment.yml and warns about orphans", () => {
    const deps = 'name: train\ndependencies:\n  - pytorch\n';
    const { project, diagnostics } = projectFromFiles(
      new Map([
        ['deepforge.json', '{"name": "p", "formatVersion": 1}'],
        ['operations/Train.py', 'class Train():\n    def execute(self):\n        pass\n'],
        ['operations/Train.environment.yml', deps],
        ['operations/Gone.environment.yml', deps],
      ]),
    );
    expect(project?.operations.Train?.dependencies).toBe(deps);
    expect(diagnostics).toEqual([
      expect.objectContaining({ severity: 'warning', file: 'operations/Gone.environment.yml' }),
    ]);
    expect(projectToFiles(project!).get('operations/Train.environment.yml')).toBe(deps);
  });

  it('ignores a byte order mark', () => {
    const { project, diagnostics } = projectFromFiles(
      folder({ 'deepforge.json': `\uFEFF${MANIFEST}`, 'operations/GenArray.py': `\uFEFF${GEN_ARRAY}` }),
    );
    expect(diagnostics).toEqual([]);
    expect(project?.operations.GenArray?.code).toBe(GEN_ARRAY);
  });
});

describe('parseProjectOperations', () => {
  it('gives interfaces, null for operations with errors', () => {
    const { interfaces, diagnostics } = parseProjectOperations({
      operations: {
        GenArray: { name: 'GenArray', code: GEN_ARRAY },
        Bad: { name: 'Bad', code: 'class Bad:\n    def execute(self, *args):\n        pass\n' },
      },
    });
    expect(interfaces.GenArray?.outputs.map((o) => o.name)).toEqual(['arr']);
    expect(interfaces.Bad).toBeNull();
    expect(diagnostics.map((d) => [d.file, d.code])).toEqual([
      ['operations/Bad.py', 'unsupported-parameter'],
    ]);
  });
});

describe('projectToFiles', () => {
  it('writes JSON in the schema key order with sorted records, whatever order the objects have', () => {
    const node = {
      position: { y: 20, x: 10 },
      gpus: 2,
      labels: ['gpu', 'a100'],
      references: { model: 'mnist-model' },
      attributes: { zeta: 1, alpha: { b: 1, a: 2 } },
      operation: 'GenArray',
      id: 'gen',
    } as unknown as PipelineNode;
    const pipeline = {
      connections: [{ to: { port: 'data', node: 'out' }, from: { port: 'arr', node: 'gen' } }],
      nodes: [node, { id: 'out', operation: 'Output', attributes: { saveName: 'x' }, references: {} }],
      description: 'demo',
      name: 'demo',
    } as unknown as Pipeline;
    const files = projectToFiles({
      manifest: { formatVersion: 1, description: 'd', name: 'p' } as Project['manifest'],
      operations: {},
      pipelines: { demo: pipeline },
      utils: {},
      serializers: {},
      artifacts: { x: { type: 'int', file: 'x.bin', name: 'x' } as ArtifactRef },
    });
    expect([...files.keys()]).toEqual(['artifacts/x.json', 'deepforge.json', 'pipelines/demo.json']);
    expect(files.get('deepforge.json')).toBe(
      '{\n  "name": "p",\n  "formatVersion": 1,\n  "description": "d"\n}\n',
    );
    expect(files.get('artifacts/x.json')).toBe('{\n  "name": "x",\n  "file": "x.bin",\n  "type": "int"\n}\n');
    expect(files.get('pipelines/demo.json')).toBe(
      [
        '{',
        '  "name": "demo",',
        '  "description": "demo",',
        '  "nodes": [',
        '    {',
        '      "id": "gen",',
        '      "operation": "GenArray",',
        '      "attributes": {',
        '        "alpha": {',
        '          "b": 1,',
        '          "a": 2',
        '        },',
        '        "zeta": 1',
        '      },',
        '      "references": {',
        '        "model": "mnist-model"',
        '      },',
        '      "labels": [',
        '        "gpu",',
        '        "a100"',
        '      ],',
        '      "gpus": 2,',
        '      "position": {',
        '        "x": 10,',
        '        "y": 20',
        '      }',
        '    },',
        '    {',
        '      "id": "out",',
        '      "operation": "Output",',
        '      "attributes": {',
        '        "saveName": "x"',
        '      }',
        '    }',
        '  ],',
        '  "connections": [',
        '    {',
        '      "from": {',
        '        "node": "gen",',
        '        "port": "arr"',
        '      },',
        '      "to": {',
        '        "node": "out",',
        '        "port": "data"',
        '      }',
        '    }',
        '  ]',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('writes code files as they are', () => {
    const files = projectToFiles({
      manifest: { name: 'p', formatVersion: 1 },
      operations: { GenArray: { name: 'GenArray', code: GEN_ARRAY } },
      pipelines: {},
      utils: { 'pkg/__init__': '', tools: 'x = 1' },
      serializers: { custom: 'y = 2\r\n' },
      artifacts: {},
    });
    expect(Object.fromEntries(files)).toEqual({
      'deepforge.json': '{\n  "name": "p",\n  "formatVersion": 1\n}\n',
      'operations/GenArray.py': GEN_ARRAY,
      'serializers/custom.py': 'y = 2\r\n',
      'utils/pkg/__init__.py': '',
      'utils/tools.py': 'x = 1',
    });
  });

  it('refuses names that are not file names', () => {
    const base: Project = {
      manifest: { name: 'p', formatVersion: 1 },
      operations: {},
      pipelines: {},
      utils: {},
      serializers: {},
      artifacts: {},
    };
    expect(() => projectToFiles({ ...base, operations: { 'a/b': { name: 'a/b', code: '' } } })).toThrow(
      ProjectFilesError,
    );
    expect(() => projectToFiles({ ...base, operations: { A: { name: 'B', code: '' } } })).toThrow(
      'operation "A" is named "B"',
    );
    expect(() => projectToFiles({ ...base, utils: { '../escape': '' } })).toThrow(ProjectFilesError);
    expect(() => projectToFiles({ ...base, utils: { '.hidden': '' } })).toThrow(ProjectFilesError);
    const p: Pipeline = { name: '../x', nodes: [], connections: [] };
    expect(() => projectToFiles({ ...base, pipelines: { '../x': p } })).toThrow(
      'cannot write pipeline "../x"',
    );
  });
});

describe('formatIssuePath', () => {
  it('writes paths as JavaScript would', () => {
    expect(formatIssuePath(['nodes', 2, 'id'])).toBe('nodes[2].id');
    expect(formatIssuePath(['attributes', 'learning rate'])).toBe('attributes["learning rate"]');
    expect(formatIssuePath([0, 'a'])).toBe('[0].a');
    expect(formatIssuePath([])).toBe('');
  });
});

// ---- round trip over generated projects -------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so that a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  bool(): boolean {
    return this.next() < 0.5;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  ident(prefix = ''): string {
    const first = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_';
    const rest = `${first}0123456789`;
    let s = prefix + this.pick([...first]);
    for (let i = this.int(0, 8); i > 0; i--) s += this.pick([...rest]);
    return s;
  }
  text(): string {
    const chars = ['a', 'Z', ' ', '"', '\\', '\n', '\t', 'é', '😀', '\u2028', '<', '{', '}', '#'];
    let s = '';
    for (let i = this.int(0, 12); i > 0; i--) s += this.pick(chars);
    return s;
  }
  entityName(): string {
    return this.ident() + (this.bool() ? `-${this.int(0, 99)}` : '') + (this.bool() ? ' v2.1' : '');
  }
  json(depth = 0): JsonValue {
    const kind = this.int(0, depth > 2 ? 4 : 6);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return this.bool();
      case 2:
        return this.pick([0, 1, -1, 0.1, 1e-7, 1e21, 123456789, -2.5, Number.MAX_SAFE_INTEGER]);
      case 3:
      case 4:
        return this.text();
      case 5:
        return Array.from({ length: this.int(0, 4) }, () => this.json(depth + 1));
      default: {
        const entries = Array.from(
          { length: this.int(0, 4) },
          () => [this.text(), this.json(depth + 1)] as const,
        );
        return Object.fromEntries(entries);
      }
    }
  }
}

function generateProject(seed: number): Project {
  const g = new Gen(prng(seed));
  const operations: Project['operations'] = {};
  for (let i = g.int(0, 4); i > 0; i--) {
    const name = g.ident('Op');
    operations[name] = {
      name,
      code: g.bool() ? newOperationSource(name) : GEN_ARRAY.replace('GenArray', name),
      ...(g.bool() ? { dependencies: `name: ${name}\ndependencies:\n  - numpy\n` } : {}),
    };
  }
  const opNames = [...Object.keys(operations), 'Input', 'Output'];
  const pipelines: Project['pipelines'] = {};
  for (let i = g.int(0, 3); i > 0; i--) {
    const name = g.entityName();
    const nodes: PipelineNode[] = Array.from({ length: g.int(0, 5) }, (_, k) => ({
      id: `${g.ident()}_${k}`,
      operation: g.pick(opNames),
      attributes: Object.fromEntries(Array.from({ length: g.int(0, 3) }, () => [g.ident(), g.json()])),
      references: Object.fromEntries(Array.from({ length: g.int(0, 2) }, () => [g.ident(), g.entityName()])),
      ...(g.bool()
        ? { labels: Array.from({ length: g.int(0, 2) }, () => g.pick(['gpu', 'a100', 'zone:eu'])) }
        : {}),
      ...(g.bool() ? { gpus: g.int(0, 4) } : {}),
      ...(g.bool() ? { position: { x: g.int(-500, 500), y: g.int(-500, 500) / 4 } } : {}),
    }));
    const connections = nodes.length
      ? Array.from({ length: g.int(0, 4) }, () => ({
          from: { node: g.pick(nodes).id, port: g.ident() },
          to: { node: g.pick(nodes).id, port: g.ident() },
        }))
      : [];
    pipelines[name] = { name, ...(g.bool() ? { description: g.text() } : {}), nodes, connections };
  }
  const modules = (): Record<string, string> =>
    Object.fromEntries(
      Array.from({ length: g.int(0, 3) }, () => [
        g.bool() ? g.ident() : `${g.ident()}/${g.pick(['__init__', g.ident()])}`,
        g.text(),
      ]),
    );
  const artifacts: Project['artifacts'] = {};
  for (let i = g.int(0, 3); i > 0; i--) {
    const name = g.entityName();
    const base: ArtifactRef = g.bool()
      ? { name, file: `${g.ident()}/${g.ident()}.bin` }
      : { name, hash: `sha256:${'0123456789abcdef'[g.int(0, 15)]?.repeat(64)}` };
    artifacts[name] = {
      ...base,
      ...(g.bool() ? { serializer: g.ident() } : {}),
      ...(g.bool() ? { type: 'numpy.ndarray' } : {}),
      ...(g.bool() ? { description: g.text() } : {}),
    };
  }
  return {
    manifest: { name: g.text() || 'p', formatVersion: 1, ...(g.bool() ? { description: g.text() } : {}) },
    operations,
    pipelines,
    utils: modules(),
    serializers: modules(),
    artifacts,
  };
}

describe('project round trip', () => {
  const seeds = Array.from({ length: 60 }, (_, i) => i * 7919 + 1);

  it.each(seeds)('project → files → project is lossless (seed %i)', (seed) => {
    const project = generateProject(seed);
    const files = projectToFiles(project);
    const back = projectFromFiles(files);
    expect(back.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(back.project).toEqual(project);
    // files → project → files is byte-identical for files projectToFiles wrote.
    expect(projectToFiles(back.project as Project)).toEqual(files);
  });

  it('generates varied projects (the property test exercises something)', () => {
    const projects = seeds.map(generateProject);
    const count = (f: (p: Project) => number): number => projects.reduce((n, p) => n + f(p), 0);
    expect(count((p) => Object.keys(p.pipelines).length)).toBeGreaterThan(30);
    expect(
      count((p) => Object.values(p.pipelines).reduce((n, pl) => n + pl.nodes.length, 0)),
    ).toBeGreaterThan(100);
    expect(count((p) => Object.keys(p.utils).filter((k) => k.includes('/')).length)).toBeGreaterThan(5);
    expect(count((p) => Object.keys(p.artifacts).length)).toBeGreaterThan(30);
  });
});

describe('resources/<name>.json (architectures)', () => {
  const NET = {
    name: 'Net',
    layers: [
      { id: 'image', layer: 'Input', shape: ['N', 1, 28, 28] },
      { id: 'conv', layer: 'Conv2d', attributes: { out_channels: 8, in_channels: 1, kernel_size: 3 } },
      { id: 'flat', layer: 'Flatten', position: { x: 0, y: 80 } },
    ],
    edges: [
      { from: 'image', to: 'conv' },
      { from: 'conv', to: 'flat' },
    ],
    outputs: ['flat'],
  };

  it('round-trips through the files in a stable key order', () => {
    const { project, diagnostics } = projectFromFiles(folder({ 'resources/Net.json': JSON.stringify(NET) }));
    expect(diagnostics).toEqual([]);
    expect(project!.resources!.Net!.layers[2]).toEqual({
      id: 'flat',
      layer: 'Flatten',
      attributes: {},
      position: { x: 0, y: 80 },
    });
    const files = projectToFiles(project!);
    const text = files.get('resources/Net.json')!;
    expect(text).toContain(
      '      "attributes": {\n        "in_channels": 1,\n        "kernel_size": 3,\n        "out_channels": 8\n      }',
    );
    // Layers without attributes leave the key out; shapes keep their order.
    expect(JSON.parse(text).layers[0]).toEqual({ id: 'image', layer: 'Input', shape: ['N', 1, 28, 28] });
    expect(projectToFiles(projectFromFiles(files).project!)).toEqual(files);
  });

  it('leaves a project without resources as it was', () => {
    const { project } = projectFromFiles(folder());
    expect(project).not.toHaveProperty('resources');
  });

  it.each([
    ['resources/Net.json', '{"name": "Net", "layers": [', /resources\/Net\.json: invalid JSON at line 1/],
    [
      'resources/Net.json',
      JSON.stringify({ ...NET, layers: [{ id: '1x', layer: 'ReLU' }] }),
      /resources\/Net\.json: layers\[0\]\.id: must be a Python identifier/,
    ],
    [
      'resources/Net.json',
      JSON.stringify({ ...NET, name: 'Other' }),
      /name "Other" must be the file name \("Net"\)/,
    ],
    ['resources/my-net.json', JSON.stringify({ ...NET, name: 'my-net' }), /not a valid architecture name/],
    ['resources/Net.json', JSON.stringify({ ...NET, extra: 1 }), /Unrecognized key: "extra"/],
  ])('refuses a broken %s, naming the file and the field', (file, text, message) => {
    const { project, diagnostics } = projectFromFiles(folder({ [file]: text }));
    expect(project).toBeNull();
    expect(diagnostics.map((d) => d.message).join('\n')).toMatch(message);
  });

  it('refuses an architecture file over the size limit before parsing it', () => {
    const big = JSON.stringify({ ...NET, description: 'x'.repeat(5 * 1024 * 1024) });
    const { diagnostics } = projectFromFiles(folder({ 'resources/Net.json': big }));
    expect(diagnostics[0]!.message).toBe('resources/Net.json: larger than the 4 MiB an architecture may be');
  });

  it('refuses to write an architecture under another name', () => {
    const { project } = projectFromFiles(folder({ 'resources/Net.json': JSON.stringify(NET) }));
    expect(() => projectToFiles({ ...project!, resources: { Other: project!.resources!.Net! } })).toThrow(
      ProjectFilesError,
    );
  });
});
