import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_PYTHON, cleanEnv, makeTempDir, removeTree } from '@deepforge/engine/test-support';
import { cli } from './test-support/run-cli.js';

let tmp: string;
let env: Record<string, string | undefined>;
let bin: string;

beforeEach(async () => {
  tmp = await makeTempDir('doctor');
  bin = join(tmp, 'bin');
  await mkdir(bin);
  // PATH holds only this folder: what doctor finds there (nvidia-smi) is what the test put in it.
  env = cleanEnv({
    DEEPFORGE_DATA_DIR: join(tmp, 'data'),
    DEEPFORGE_PYTHON: TEST_PYTHON,
    NO_COLOR: '1',
    PATH: bin,
  });
});
afterEach(async () => {
  await removeTree(tmp);
});

async function script(path: string, body: string): Promise<string> {
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

function listening(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

describe('deepforge doctor', () => {
  it('passes on this machine: the interpreter with numpy, matplotlib and torch, a free port, a writable data dir', async () => {
    const r = await cli(['doctor', '--port', '0'], env);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^DeepForge \d+\.\d+\.\d+\n/);
    expect(r.stdout).toMatch(new RegExp(`✓ Python 3\\.\\d+\\.\\d+: ${TEST_PYTHON}`));
    expect(r.stdout).toMatch(/✓ numpy \d[\w.]*, matplotlib \d/);
    expect(r.stdout).toMatch(/✓ torch \d[\w.]* \(CPU only\)|✓ torch \d[\w.]* with CUDA/);
    expect(r.stdout).toContain('– GPUs: none (nvidia-smi is not on PATH)');
    expect(r.stdout).toContain('✓ port 0 on 127.0.0.1 is free');
    expect(r.stdout).toContain(`✓ data dir ${join(tmp, 'data')} is writable`);
    expect(r.stdout).toContain('Nothing wrong found.');
    expect(r.code).toBe(0);
  });

  it('names a port in use and a failing nvidia-smi, with what to do about each, and exits 1', async () => {
    await script(
      join(bin, 'nvidia-smi'),
      'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver" >&2; exit 9',
    );
    const taken = await listening();
    try {
      const port = (taken.address() as AddressInfo).port;
      const r = await cli(['doctor', '--port', String(port)], env);
      expect(r.stdout).toContain(`✗ port ${port} on 127.0.0.1: in use by another program`);
      expect(r.stdout).toContain(
        'fix: stop what listens there, or serve another port: `deepforge start --port',
      );
      expect(r.stdout).toMatch(/✗ GPUs: nvidia-smi is there but failed \(exit 9: NVIDIA-SMI has failed/);
      expect(r.stdout).toContain('fix: check the NVIDIA driver');
      expect(r.stdout).toContain('2 problems found');
      expect(r.code).toBe(1);
    } finally {
      taken.close();
    }
  });

  it('lists the GPUs nvidia-smi reports', async () => {
    await script(join(bin, 'nvidia-smi'), 'echo "0, NVIDIA H100 80GB HBM3, 81559"');
    const r = await cli(['doctor', '--port', '0'], env);
    // This machine's torch has no CUDA: doctor says torch cannot use the GPU nvidia-smi lists.
    expect(r.stdout).toMatch(
      /✗ GPUs: 0: NVIDIA H100 80GB HBM3 \(81559 MiB\), but torch cannot use them|✓ GPUs: 0: NVIDIA H100 80GB HBM3 \(81559 MiB\)/,
    );
  });

  it('says an interpreter without torch lacks it, and one that cannot run is refused', async () => {
    // Debian's interpreter with a torch that fails to import put first on its path.
    const shadow = join(tmp, 'shadow', 'torch');
    await mkdir(shadow, { recursive: true });
    await writeFile(join(shadow, '__init__.py'), 'raise ImportError("torch hidden by the test")\n');
    const noTorch = await script(
      join(tmp, 'python-no-torch'),
      `PYTHONPATH="${join(tmp, 'shadow')}:$PYTHONPATH" exec ${TEST_PYTHON} "$@"`,
    );
    const r = await cli(['doctor', '--port', '0'], { ...env, DEEPFORGE_PYTHON: noTorch });
    expect(r.stdout).toContain(`✓ numpy`);
    expect(r.stdout).toMatch(/✗ torch cannot be imported by \S*python/);
    expect(r.stdout).toContain(
      'fix: install it for that interpreter (Debian: apt-get install python3-torch)',
    );
    expect(r.code).toBe(1);

    const missing = await cli(['doctor', '--port', '0'], {
      ...env,
      DEEPFORGE_PYTHON: join(tmp, 'no-such-python'),
    });
    expect(missing.stdout).toMatch(
      /✗ the configured Python interpreter \S+no-such-python cannot run operations/,
    );
    expect(missing.stdout).toContain('fix: install Debian’s Python');
    expect(missing.code).toBe(1);
  });

  it('says a data dir that cannot be written, and how to choose another', async () => {
    await writeFile(join(tmp, 'a-file'), 'not a folder');
    const r = await cli(['doctor', '--port', '0'], {
      ...env,
      DEEPFORGE_DATA_DIR: join(tmp, 'a-file', 'data'),
    });
    expect(r.stdout).toMatch(/✗ data dir \S+a-file\/data is not writable \(ENOTDIR\)/);
    expect(r.stdout).toContain('fix: make it writable, or use another: DEEPFORGE_DATA_DIR=');
    expect(r.code).toBe(1);
  });
});
