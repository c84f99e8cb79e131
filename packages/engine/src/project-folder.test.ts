import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectFolderError } from './errors.js';
import { loadProjectFolder, saveProjectFolder } from './project-folder.js';
import { py, writeProjectFolder } from './test-support/project-files.js';
import { makeTempDir, removeTree } from './test-support/temp-dir.js';

describe('project folders', () => {
  let root: string;
  beforeEach(async () => {
    root = await makeTempDir('folder');
  });
  afterEach(async () => {
    await removeTree(root);
  });

  it('reads every file of the format, and not artifact data or other files', async () => {
    const dir = await writeProjectFolder(join(root, 'p'), {
      name: 'demo',
      operations: { Echo: py('class Echo():', '    def execute(self, value):', '        return value') },
      utils: { helpers: 'X = 1\n', 'pkg/deep': 'Y = 2\n' },
      pipelines: { main: { nodes: [{ id: 'e', operation: 'Echo' }], connections: [] } },
      artifacts: { data: { file: 'data.bin' } },
      files: {
        'artifacts/data.bin': Buffer.from([0, 1, 2, 255]),
        'README.md': '# hi\n',
        'operations/__pycache__/Echo.cpython-311.pyc': Buffer.from([0, 0]),
      },
    });
    const { project, diagnostics } = await loadProjectFolder(dir);
    expect(project.manifest.name).toBe('demo');
    expect(Object.keys(project.operations)).toEqual(['Echo']);
    expect(project.utils).toEqual({ helpers: 'X = 1\n', 'pkg/deep': 'Y = 2\n' });
    expect(project.artifacts.data).toEqual({ name: 'data', file: 'data.bin' });
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('says what is wrong with a folder it cannot read', async () => {
    await expect(loadProjectFolder(join(root, 'missing'))).rejects.toThrow(/no such directory/);
    const dir = await writeProjectFolder(join(root, 'bad'), {
      files: { 'pipelines/main.json': '{ "name": ' },
    });
    const err = await loadProjectFolder(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProjectFolderError);
    const diags = (err as ProjectFolderError).diagnostics;
    expect(diags.some((d) => d.file === 'pipelines/main.json')).toBe(true);
    expect((err as Error).message).toMatch(/pipelines\/main.json/);
    await writeFile(join(root, 'empty-manifest'), '');
    await expect(loadProjectFolder(join(root, 'empty-manifest'))).rejects.toThrow(/not a directory/);
  });

  it('refuses artifact references whose file leaves artifacts/, naming the reference and the field', async () => {
    for (const file of ['../../etc/passwd', '/etc/passwd', 'data/../../x']) {
      const dir = await writeProjectFolder(join(root, `p${file.length}`), {
        artifacts: { secret: { file } },
      });
      const err = await loadProjectFolder(dir).catch((e: unknown) => e);
      expect(err, file).toBeInstanceOf(ProjectFolderError);
      const [diag] = (err as ProjectFolderError).diagnostics;
      expect(diag, file).toMatchObject({ code: 'artifact-file', file: 'artifacts/secret.json' });
      expect(diag?.message, file).toMatch(/file: ".*" must be a (path inside|path relative to) artifacts\//);
    }
  });

  it('saves changed files atomically, removes deleted entities, leaves other files alone', async () => {
    const dir = await writeProjectFolder(join(root, 'p'), {
      operations: {
        A: py('class A():', '    def execute(self):', '        a = 1', '        return a'),
        B: py('class B():', '    def execute(self):', '        b = 1', '        return b'),
      },
      pipelines: { one: { nodes: [], connections: [] }, two: { nodes: [], connections: [] } },
      files: { 'README.md': 'mine\n', 'artifacts/raw.bin': 'data', 'operations/__init__.py': '' },
    });
    const { project } = await loadProjectFolder(dir);
    // First save normalizes formatting; after that, saving the same project writes nothing.
    await saveProjectFolder(dir, project);
    const before = (await stat(join(dir, 'operations', 'A.py'))).mtimeMs;
    expect(await saveProjectFolder(dir, project)).toEqual({ written: [], removed: [] });

    delete project.operations.B;
    delete project.pipelines.two;
    project.operations.A = { name: 'A', code: project.operations.A!.code + '# edited\n' };
    project.utils.tools = 'Z = 3\n';
    const result = await saveProjectFolder(dir, project);
    expect(result.written.sort()).toEqual(['operations/A.py', 'utils/tools.py']);
    expect(result.removed.sort()).toEqual(['operations/B.py', 'pipelines/two.json']);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('mine\n');
    expect(await readFile(join(dir, 'artifacts', 'raw.bin'), 'utf8')).toBe('data');
    expect(await readFile(join(dir, 'operations', '__init__.py'), 'utf8')).toBe('');
    expect((await stat(join(dir, 'operations', 'A.py'))).mtimeMs).toBeGreaterThanOrEqual(before);
    const again = await loadProjectFolder(dir);
    expect(Object.keys(again.project.operations)).toEqual(['A']);
    expect(again.project.utils.tools).toBe('Z = 3\n');
  });
});
