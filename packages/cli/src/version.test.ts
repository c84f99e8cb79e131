import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { cleanEnv } from '@deepforge/engine/test-support';
import { CLI_MAIN, cli } from './test-support/run-cli.js';

const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('deepforge --version', () => {
  it("prints the version of the CLI's package, from the built entry point and in-process alike", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI_MAIN, '--version']);
    expect(stdout).toBe(`${manifest.version}\n`);
    const short = await promisify(execFile)(process.execPath, [CLI_MAIN, '-v']);
    expect(short.stdout).toBe(`${manifest.version}\n`);
    const r = await cli(['--version'], cleanEnv());
    expect(r.stdout).toBe(`${manifest.version}\n`);
    expect(r.code).toBe(0);
  });
});
