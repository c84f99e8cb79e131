import { execFileSync } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  TEST_PYTHON,
  cleanEnv,
  makeTempDir,
  py,
  removeTree,
  writeProjectFolder,
} from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

const SHIPPED = fileURLToPath(new URL('../../../extensions/image-classification/', import.meta.url));

let tmp: string;
let env: Record<string, string | undefined>;
let installed: string;

beforeAll(async () => {
  tmp = await makeTempDir('extensions-cli');
});
afterAll(async () => {
  await removeTree(tmp);
});
beforeEach(async () => {
  const data = await makeTempDir('extensions-data');
  installed = join(data, 'extensions');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: data, DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
});

/** A copy of the shipped extension with `change` applied, in a fresh folder. */
async function variant(name: string, change: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(tmp, name);
  await rm(dir, { recursive: true, force: true });
  await cp(SHIPPED, dir, { recursive: true });
  await change(dir);
  return dir;
}

async function editManifest(dir: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  const file = join(dir, 'deepforge-extension.json');
  const m = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(m);
  await writeFile(file, JSON.stringify(m));
}

/** `tar czf` of `dir` under package/, as npm pack lays a tarball out. */
async function tarball(dir: string, name: string): Promise<string> {
  const stage = join(tmp, `${name}-stage`);
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage);
  await cp(dir, join(stage, 'package'), { recursive: true, verbatimSymlinks: true });
  const file = join(tmp, `${name}.tgz`);
  execFileSync('tar', ['-czf', file, '-C', stage, 'package']);
  return file;
}

describe('deepforge extensions', () => {
  it('says what it does in --help', async () => {
    const help = await cli(['extensions', '--help'], env);
    expect(help.code).toBe(0);
    for (const command of [
      'add <source>',
      'copy <extension> <operation> <project-dir>',
      'remove <name>',
      'list',
    ]) {
      expect(help.stdout).toContain(command);
    }
    expect((await cli(['extensions', 'add', '--help'], env)).stdout).toContain('deepforge-extension.json');
  });

  it("ships an example project that holds the extension's own files", async () => {
    const example = join(SHIPPED, 'examples', 'fashion-classifier');
    for (const file of [
      'operations/LoadFashionMNIST.py',
      'operations/NormalizeImages.py',
      'operations/TrainClassifier.py',
      'operations/EvaluateClassifier.py',
      'utils/image_data.py',
      'serializers/torch_module.py',
      'resources/SmallCNN.json',
    ]) {
      expect(await readFile(join(example, file), 'utf8'), file).toBe(
        await readFile(join(SHIPPED, file), 'utf8'),
      );
    }
  });

  it('adds the shipped extension from its folder, lists it, refuses it twice and removes it', async () => {
    const add = await cli(['extensions', 'add', SHIPPED], env);
    expect(add.stderr).toBe('');
    expect(add.stdout).toBe(
      'added image-classification 0.1.0: 4 operations, 1 architecture, 1 example project\n',
    );
    expect((await readdir(installed)).sort()).toEqual(['image-classification']);

    const list = await cli(['extensions', 'list'], env);
    expect(list.stdout).toContain('image-classification 0.1.0\n');
    expect(list.stdout).toContain(
      '  operations: LoadFashionMNIST, NormalizeImages, TrainClassifier, EvaluateClassifier\n',
    );
    expect(list.stdout).toContain('  examples: fashion-classifier\n');
    const json = JSON.parse((await cli(['extensions', 'list', '--json'], env)).stdout) as { name: string }[];
    expect(json.map((e) => e.name)).toEqual(['image-classification']);

    const again = await cli(['extensions', 'add', SHIPPED], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      'error: an extension named image-classification is installed already (deepforge extensions remove image-classification first)\n',
    );

    const removed = await cli(['extensions', 'remove', 'image-classification'], env);
    expect(removed).toMatchObject({ code: 0, stdout: 'removed image-classification\n' });
    expect(await readdir(installed)).toEqual([]);
    expect((await cli(['extensions', 'list'], env)).stdout).toMatch(/^no extensions installed/);
    const gone = await cli(['extensions', 'remove', 'image-classification'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(
      'error: no extension named "image-classification" is installed (installed: none)\n',
    );
  });

  it('adds from a tarball (npm pack layout) and from an npm spec (file:, offline)', async () => {
    const tgz = await tarball(SHIPPED, 'shipped');
    const add = await cli(['extensions', 'add', tgz], env);
    expect(add.stderr).toBe('');
    expect(add.stdout).toMatch(/^added image-classification 0\.1\.0/);
    const op = await readFile(
      join(installed, 'image-classification', 'operations', 'NormalizeImages.py'),
      'utf8',
    );
    expect(op).toBe(await readFile(join(SHIPPED, 'operations', 'NormalizeImages.py'), 'utf8'));

    // npm pack of a folder with a package.json needs no registry.
    const pkg = await variant('as-package', async (dir) => {
      await writeFile(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'df-ext-package', version: '0.1.0' }),
      );
      await editManifest(dir, (m) => (m.name = 'from-npm'));
    });
    const fromNpm = await cli(['extensions', 'add', `file:${pkg}`], env);
    expect(fromNpm.stderr).toBe('');
    expect(fromNpm.stdout).toMatch(/^added from-npm 0\.1\.0/);
    expect((await readdir(installed)).sort()).toEqual(['from-npm', 'image-classification']);
  });

  it('refuses bad extensions with a message naming what is wrong, and installs nothing', async () => {
    const refused = async (source: string): Promise<string> => {
      const r = await cli(['extensions', 'add', source], env);
      expect(r.code).toBe(1);
      expect(await readdir(installed).catch(() => [])).toEqual([]);
      return r.stderr;
    };
    const empty = join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    expect(await refused(empty)).toContain(
      'no deepforge-extension.json: not a DeepForge extension:\n  deepforge-extension.json: missing',
    );

    const badField = await variant('bad-field', (d) => editManifest(d, (m) => (m.version = 'latest')));
    expect(await refused(badField)).toContain(
      'deepforge-extension.json: version: must be a version like 1.0.0',
    );

    const badJson = await variant('bad-json', (d) =>
      writeFile(join(d, 'deepforge-extension.json'), '{"name":'),
    );
    expect(await refused(badJson)).toContain('deepforge-extension.json: invalid JSON');

    const tooNew = await variant('too-new', (d) => editManifest(d, (m) => (m.deepforge = '>=2.0.0')));
    expect(await refused(tooNew)).toBe(
      'error: cannot add image-classification: image-classification 0.1.0 is for DeepForge >=2.0.0, and this is DeepForge 0.1.0\n',
    );

    const broken = await variant('broken-op', (d) =>
      writeFile(join(d, 'operations', 'NormalizeImages.py'), 'class NormalizeImages(:\n    pass\n'),
    );
    expect(await refused(broken)).toMatch(/operations\/NormalizeImages\.py: .*\(line 1, column \d+\)/);

    const linked = await variant('linked', (d) => symlink('/etc/passwd', join(d, 'utils', 'passwd.py')));
    expect(await refused(linked)).toContain('utils/passwd.py is a link');
    expect(await refused(await tarball(linked, 'linked'))).toMatch(
      /entry "package\/utils\/passwd\.py" is a link/,
    );

    // A tarball entry that climbs out of the folder it unpacks into.
    const escaping = join(tmp, 'escape');
    await mkdir(join(escaping, 'a'), { recursive: true });
    await writeFile(join(escaping, 'evil.txt'), 'x');
    const evil = join(tmp, 'escape.tgz');
    // -P keeps the name as given (GNU tar strips a leading ../ otherwise).
    execFileSync('tar', ['-czPf', evil, '-C', join(escaping, 'a'), '../evil.txt']);
    expect(await refused(evil)).toMatch(/entry "\.\.\/evil\.txt" has a path going up/);

    const notTar = join(tmp, 'not.tgz');
    await writeFile(notTar, 'hello');
    expect(await refused(notTar)).toContain('not a gzipped tarball');

    // Never handed to npm as an option.
    const option = await cli(['extensions', 'add', '--', '-rf'], env);
    expect(option.stderr).toContain('"-rf" is not a folder, tarball or npm package');
  });

  it('copies an operation into a project folder, refuses a clash, and the project runs after the removal', async () => {
    await cli(['extensions', 'add', SHIPPED], env);
    const project = await writeProjectFolder(join(tmp, 'project'), {
      name: 'uses-extension',
      operations: {
        MakeImages: py(
          'import numpy as np',
          '',
          '',
          'class MakeImages():',
          '    def execute(self):',
          '        rng = np.random.default_rng(0)',
          '        images = rng.integers(0, 256, size=(8, 4, 4)).astype(np.uint8)',
          '        data = {"images": images, "labels": np.arange(8) % 2, "classes": ["a", "b"]}',
          '        return data',
        ),
        Report: py(
          'class Report():',
          '    def execute(self, normalized_train):',
          '        images = normalized_train["images"]',
          '        print("shape", tuple(images.shape), "mean %.3f std %.3f" % (images.mean(), images.std()))',
        ),
      },
      pipelines: {
        normalize: {
          name: 'normalize',
          nodes: [
            { id: 'make', operation: 'MakeImages' },
            { id: 'normalize', operation: 'NormalizeImages' },
            { id: 'report', operation: 'Report' },
          ],
          connections: [
            { from: { node: 'make', port: 'data' }, to: { node: 'normalize', port: 'training_data' } },
            { from: { node: 'make', port: 'data' }, to: { node: 'normalize', port: 'testing_data' } },
            {
              from: { node: 'normalize', port: 'normalized_train' },
              to: { node: 'report', port: 'normalized_train' },
            },
          ],
        },
      },
    });
    const copy = await cli(['extensions', 'copy', 'image-classification', 'NormalizeImages', project], env);
    expect(copy.stderr).toBe('');
    expect(copy.stdout).toBe(`copied operations/NormalizeImages.py, utils/image_data.py into ${project}\n`);

    const clash = await cli(['extensions', 'copy', 'image-classification', 'NormalizeImages', project], env);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('the project has an operation named NormalizeImages already');
    const unknown = await cli(['extensions', 'copy', 'image-classification', 'Nope', project], env);
    expect(unknown.stderr).toContain('the extension image-classification has no operation "Nope" (it has: ');

    expect((await cli(['extensions', 'remove', 'image-classification'], env)).code).toBe(0);
    const run = await cli(['run', project, 'normalize'], env);
    expect(run.stderr).not.toMatch(/error/i);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/shape \(8, 1, 4, 4\) mean -?0\.000 std 1\.000/);
  });
});
