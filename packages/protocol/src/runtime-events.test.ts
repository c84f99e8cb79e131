import { describe, expect, it } from 'vitest';
import {
  JobSpecSchema,
  OUTPUT_INLINE_MAX_BYTES,
  OutputEventSchema,
  outputExpectedHash,
} from './runtime-events.js';

const hex = 'ab'.repeat(32);
const MiB = 1024 * 1024;
const output = {
  v: 1,
  t: 0,
  type: 'output',
  name: 'x',
  file: 'x',
  serializer: 'pickle',
  pyType: 'int',
} as const;

/** The fields every job spec has. */
const spec = {
  v: 1,
  codeDir: '/c',
  operation: { file: 'operations/A.py', className: 'A' },
  attributes: {},
  references: {},
  inputs: {},
  outputs: ['x'],
  outputDir: '/o',
  workDir: '/w',
};

describe('output content ids (docs/adr/0006)', () => {
  it('carries a sha256t: or sha256: id in `hash`, and says what is wrong with a malformed one', () => {
    expect(OutputEventSchema.parse({ ...output, size: 9 * MiB, hash: `sha256t:${hex}` }).hash).toBe(
      `sha256t:${hex}`,
    );
    expect(OutputEventSchema.parse({ ...output, size: 2 * MiB, hash: `sha256:${hex}` }).hash).toBe(
      `sha256:${hex}`,
    );
    const bad = OutputEventSchema.safeParse({ ...output, size: 9 * MiB, hash: 'sha256t:xyz' });
    expect(bad.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['hash', 'sha256t: must be followed by 64 lowercase hex digits (0-9, a-f), not "xyz"'],
    ]);
  });

  it('is asked for with outputContentIds, next to outputHashes', () => {
    expect(JobSpecSchema.parse({ ...spec, outputHashes: true, outputContentIds: true })).toMatchObject({
      outputHashes: true,
      outputContentIds: true,
    });
    expect(JobSpecSchema.safeParse({ ...spec, outputContentIds: 'yes' }).success).toBe(false);
  });

  it('vouches for the id, or the sha256 only where that is the id', () => {
    // A harness that knows content ids.
    expect(outputExpectedHash({ size: 20 * MiB, hash: `sha256t:${hex}` })).toBe(`sha256t:${hex}`);
    expect(outputExpectedHash({ size: 2 * MiB, hash: `sha256:${hex}`, sha256: 'ff'.repeat(32) })).toBe(
      `sha256:${hex}`,
    );
    // An older harness: the plain sha256, for any size; the id only up to 8 MiB.
    expect(outputExpectedHash({ size: 8 * MiB, sha256: hex })).toBe(`sha256:${hex}`);
    expect(outputExpectedHash({ size: 8 * MiB + 1, sha256: hex })).toBeUndefined();
    // No hash at all: the engine hashes the file itself.
    expect(outputExpectedHash({ size: 20 * MiB })).toBeUndefined();
  });
});

describe('small outputs in their events (docs/adr/0035)', () => {
  it('carries base64 bytes in `data`, and refuses what is not base64 or is longer than any engine asks', () => {
    expect(OutputEventSchema.parse({ ...output, size: 3, data: 'gAVLKi4=' }).data).toBe('gAVLKi4=');
    expect(OutputEventSchema.safeParse({ ...output, size: 3, data: 'not base64!' }).success).toBe(false);
    const tooLong = 'A'.repeat(Math.ceil(OUTPUT_INLINE_MAX_BYTES / 3) * 4 + 4);
    expect(OutputEventSchema.safeParse({ ...output, size: 3, data: tooLong }).success).toBe(false);
  });

  it('is asked for with outputInlineMaxBytes, up to OUTPUT_INLINE_MAX_BYTES', () => {
    expect(JobSpecSchema.parse({ ...spec, outputInlineMaxBytes: 65536 }).outputInlineMaxBytes).toBe(65536);
    for (const wrong of [-1, 1.5, OUTPUT_INLINE_MAX_BYTES + 1]) {
      expect(JobSpecSchema.safeParse({ ...spec, outputInlineMaxBytes: wrong }).success).toBe(false);
    }
  });
});
