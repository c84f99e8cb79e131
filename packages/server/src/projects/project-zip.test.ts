import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { strToU8, Zip, ZipDeflate, zipSync, type Zippable } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTree } from '@deepforge/engine/test-support';
import type { HttpError } from '../http/http-error.js';
import { zeroBombZip } from '../test-support/zip-bomb.js';
import { isContentPath } from './project-folder-files.js';
import { unzipProject, type UnzipProjectOptions } from './project-zip.js';

const MiB = 1024 * 1024;
const MANIFEST = strToU8(JSON.stringify({ name: 'p', formatVersion: 1 }));

let tmp: string;
let n = 0;
beforeAll(async () => {
  tmp = await makeTempDir('unzip');
});
afterAll(() => removeTree(tmp));

/** The zip as a request body would bring it: in pieces of 64 KiB. */
function body(zip: Uint8Array): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < zip.length; i += 65536) pieces.push(Buffer.from(zip.subarray(i, i + 65536)));
  return Readable.from(pieces);
}

async function unzip(zip: Uint8Array, options: Partial<UnzipProjectOptions> = {}) {
  const stagingDir = join(tmp, `s${n++}`);
  const result = await unzipProject(body(zip), {
    maxBytes: 64 * MiB,
    maxBodyBytes: 64 * MiB,
    stagingDir,
    inMemory: isContentPath,
    ...options,
  });
  return { ...result, stagingDir };
}

async function refusal(zip: Uint8Array, options: Partial<UnzipProjectOptions> = {}) {
  const stagingDir = join(tmp, `s${n++}`);
  const err = await unzipProject(body(zip), {
    maxBytes: 64 * MiB,
    maxBodyBytes: 64 * MiB,
    stagingDir,
    inMemory: isContentPath,
    ...options,
  }).then(
    () => undefined as never,
    (e: HttpError) => e,
  );
  // Nothing is left behind by a refused zip.
  expect(await readdir(stagingDir).catch(() => 'gone')).toBe('gone');
  return err;
}

/** A zip as streaming writers make it: sizes in data descriptors, entries as given (the same name twice too). */
function streamedZip(entries: readonly [string, Uint8Array][]): Buffer {
  const parts: Uint8Array[] = [];
  const zip = new Zip((err, chunk) => {
    if (err) throw err;
    parts.push(chunk);
  });
  for (const [name, data] of entries) {
    const f = new ZipDeflate(name, { level: 6 });
    zip.add(f);
    f.push(data, true);
  }
  zip.end();
  return Buffer.concat(parts);
}

/** Every file under a folder, relative path → text. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const full = join(e.parentPath, e.name);
      out[full.slice(dir.length + 1)] = await readFile(full, 'utf8');
    }
  }
  return out;
}

describe('unzipProject', () => {
  it('keeps the content in memory and streams other files to disk, in or without a top folder', async () => {
    const files: Zippable = {
      'deepforge.json': MANIFEST,
      'operations/Double.py': strToU8('class Double: pass\n'),
      'artifacts/data.bin': strToU8('bytes'),
      'artifacts/sets/train.txt': strToU8('train'),
      'README.md': strToU8('hi'),
      'empty/': new Uint8Array(0),
      '__MACOSX/._README.md': strToU8('junk'),
    };
    const flat = await unzip(zipSync(files));
    expect([...flat.files.keys()].sort()).toEqual(['deepforge.json', 'operations/Double.py']);
    expect(flat.dir).toBe(flat.stagingDir);
    expect(await tree(flat.dir)).toEqual({
      'README.md': 'hi',
      'artifacts/data.bin': 'bytes',
      'artifacts/sets/train.txt': 'train',
    });
    const nested: Zippable = {};
    for (const [k, v] of Object.entries(files)) nested[k.startsWith('__') ? k : `proj/${k}`] = v;
    const inFolder = await unzip(zipSync(nested));
    expect([...inFolder.files.keys()].sort()).toEqual(['deepforge.json', 'operations/Double.py']);
    expect(inFolder.dir).toBe(join(inFolder.stagingDir, 'proj'));
    expect(await tree(inFolder.dir)).toEqual(await tree(flat.dir));
  });

  it('reads archives written as a stream (sizes in data descriptors after the data)', async () => {
    const { files, dir } = await unzip(
      streamedZip([
        ['deepforge.json', MANIFEST],
        ['artifacts/big.txt', strToU8('x'.repeat(300_000))],
      ]),
    );
    expect(new TextDecoder().decode(files.get('deepforge.json'))).toMatch(/"name":"p"/);
    expect((await readFile(join(dir, 'artifacts', 'big.txt'), 'utf8')).length).toBe(300_000);
  });

  it('stops a bomb at the limit, counting what inflates, whatever the headers claim', async () => {
    for (const declaredSize of [undefined, 1024]) {
      const bomb = zeroBombZip([
        { name: 'deepforge.json', size: MiB },
        { name: 'artifacts/zeros.bin', size: 100 * MiB, declaredSize },
      ]);
      expect(bomb.length).toBeLessThan(MiB);
      const err = await refusal(bomb, { maxBytes: 8 * MiB });
      expect(err.statusCode).toBe(413);
      expect(err.message).toMatch(/unpacks to more than the limit of 8388608 bytes \(server\.uploadLimit\)/);
    }
    // Skipped entries count too.
    const junk = zeroBombZip([{ name: '__MACOSX/zeros', size: 100 * MiB }]);
    expect((await refusal(junk, { maxBytes: 8 * MiB })).statusCode).toBe(413);
    // Content is held in memory only up to its own limit.
    const code = zeroBombZip([{ name: 'operations/Big.py', size: 16 * MiB }]);
    const held = await refusal(code, { maxMemoryBytes: 4 * MiB });
    expect(held.statusCode).toBe(413);
    expect(held.message).toMatch(/code, pipelines and references .* more than 4194304 bytes/);
  });

  it('refuses too many entries, a big body, paths that leave the folder, clashes and non-zips', async () => {
    const many: Zippable = { 'deepforge.json': MANIFEST };
    for (let i = 0; i < 20; i++) many[`artifacts/f${i}`] = new Uint8Array(0);
    expect(await refusal(zipSync(many), { maxEntries: 20 })).toMatchObject({
      statusCode: 413,
      message: expect.stringMatching(/more than 20 entries/),
    });
    expect((await unzip(zipSync(many), { maxEntries: 21 })).files.size).toBe(1);
    expect(await refusal(zipSync(many), { maxBodyBytes: 100 })).toMatchObject({ statusCode: 413 });
    const cases: [Zippable, RegExp][] = [
      [
        { 'deepforge.json': MANIFEST, '../evil.txt': strToU8('x') },
        /outside the project folder: "\.\.\/evil\.txt"/,
      ],
      [{ 'deepforge.json': MANIFEST, '/etc/cron.d/x': strToU8('x') }, /outside the project folder/],
      [{ 'deepforge.json': MANIFEST, 'a\\..\\..\\x': strToU8('x') }, /outside the project folder/],
      [
        { 'deepforge.json': MANIFEST, 'a/b': strToU8('x'), 'a/b/c': strToU8('y') },
        /"a\/b" as a file and as a folder/,
      ],
      [
        { 'deepforge.json': MANIFEST, 'a/b/c': strToU8('x'), 'a/b': strToU8('y') },
        /"a\/b" as a file and as a folder/,
      ],
      [{ 'a/b.txt': strToU8('x') }, /holds no project/],
      [{ 'a/deepforge.json': MANIFEST, 'b/x': strToU8('x') }, /holds no project/],
    ];
    for (const [files, message] of cases) {
      const err = await refusal(zipSync(files));
      expect(err.statusCode, String(message)).toBe(400);
      expect(err.message).toMatch(message);
    }
    const twice = streamedZip([
      ['deepforge.json', MANIFEST],
      ['deepforge.json', MANIFEST],
    ]);
    expect((await refusal(twice)).message).toMatch(/"deepforge\.json" twice/);
    expect((await refusal(strToU8('hello'))).message).toMatch(/not a zip archive/);
    const zip = zipSync({ 'deepforge.json': MANIFEST, 'artifacts/x': new Uint8Array(5000).fill(7) });
    for (const cut of [100, 60, zip.length - 10]) {
      const err = await refusal(zip.subarray(0, cut));
      expect(err.statusCode, String(cut)).toBe(400);
      expect(err.message, String(cut)).toMatch(/cut short|broken/);
    }
    // A directory that lists other entries than the body holds shows other unpackers another project.
    const hiding = Buffer.from(zip);
    hiding.writeUInt16LE(1, hiding.length - 22 + 8);
    hiding.writeUInt16LE(1, hiding.length - 22 + 10);
    expect((await refusal(hiding)).message).toMatch(/directory lists 1 entries, but it holds 2/);
  });
});
