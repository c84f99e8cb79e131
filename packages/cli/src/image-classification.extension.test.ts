import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_PYTHON, cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

// The example project the shipped image-classification extension brings (docs/extensions.md): its operations run
// for real, on Debian's Fashion-MNIST (installed by `npm test`'s setup), kept short.
const EXAMPLE = fileURLToPath(
  new URL('../../../extensions/image-classification/examples/fashion-classifier/', import.meta.url),
);

let tmp: string;
let env: Record<string, string | undefined>;

beforeAll(async () => {
  tmp = await makeTempDir('image-classification');
  env = cleanEnv({ DEEPFORGE_DATA_DIR: join(tmp, 'data'), DEEPFORGE_PYTHON: TEST_PYTHON, NO_COLOR: '1' });
});
afterAll(async () => {
  await removeTree(tmp);
});

describe('the image-classification extension', () => {
  it('loads, normalises, trains SmallCNN and evaluates it in its example pipeline', async () => {
    const run = await cli(
      [
        'run',
        EXAMPLE,
        'train-evaluate',
        '--set',
        'load.train_limit=1200',
        '--set',
        'load.test_limit=300',
        '--set',
        'train.epochs=1',
        '--set',
        'train.validation=200',
        '--set',
        'train.batch_size=64',
      ],
      env,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('train: 1200 images, test: 300 images, 10 classes');
    expect(run.stdout).toMatch(/pixel mean 0\.\d+, std 0\.\d+ \(1200 training images\)/);
    const accuracy = /correctly classified (\d+) of 300 images/.exec(run.stdout);
    expect(accuracy).not.toBeNull();
    // Ten classes: a model that learnt nothing gets about 30 of 300 right.
    expect(Number(accuracy![1])).toBeGreaterThan(120);
    expect(run.stdout).toContain('saved artifact "classifier-model"');
  }, 240_000);
});
