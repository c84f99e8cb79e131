import { describe, expect, it } from 'vitest';
import {
  CONTENT_HASH_BLOCK_BYTES,
  ContentHashSchema,
  contentHashHex,
  contentHashProblem,
  contentHashSchemeFor,
  isContentHash,
  splitContentHash,
} from './content-hash.js';
import { ArtifactRefSchema } from './model.js';

const hex = '0123456789abcdef'.repeat(4);

describe('content ids', () => {
  it('chooses the scheme from the size: plain sha256 up to 8 MiB, the block tree above', () => {
    expect(CONTENT_HASH_BLOCK_BYTES).toBe(8 * 1024 * 1024);
    expect(contentHashSchemeFor(0)).toBe('sha256');
    expect(contentHashSchemeFor(8 * 1024 * 1024)).toBe('sha256');
    expect(contentHashSchemeFor(8 * 1024 * 1024 + 1)).toBe('sha256t');
  });

  it('accepts both schemes and splits them', () => {
    for (const scheme of ['sha256', 'sha256t'] as const) {
      const id = `${scheme}:${hex}`;
      expect(isContentHash(id)).toBe(true);
      expect(contentHashProblem(id)).toBeUndefined();
      expect(ContentHashSchema.parse(id)).toBe(id);
      expect(splitContentHash(`${scheme}:${hex}`)).toEqual({ scheme, hex });
      expect(contentHashHex(`${scheme}:${hex}`)).toBe(hex);
    }
  });

  it.each([
    ['sha256t:xyz', 'sha256t: must be followed by 64 lowercase hex digits (0-9, a-f), not "xyz"'],
    ['sha256t:abc', 'sha256t: must be followed by 64 hex digits, not 3'],
    [`sha256:${hex}0`, 'sha256: must be followed by 64 hex digits, not 65'],
    [`sha256:${hex.toUpperCase()}`, 'the 64 hex digits after sha256: must be lowercase'],
    [`sha512:${hex}`, 'unknown scheme "sha512": must be sha256: (content up to 8 MiB) or sha256t: (more)'],
    [`SHA256:${hex}`, 'unknown scheme "SHA256": must be sha256: (content up to 8 MiB) or sha256t: (more)'],
    [hex, 'must start with its scheme, sha256: or sha256t: (64 hex digits alone do not say which)'],
    ['', 'must be sha256: (content up to 8 MiB) or sha256t: (more) followed by 64 lowercase hex digits'],
    [
      `sha256t: ${hex}`,
      `sha256t: must be followed by 64 lowercase hex digits (0-9, a-f), not " ${hex.slice(0, 19)}…"`,
    ],
  ])('says what is wrong with %j', (text, problem) => {
    expect(isContentHash(text)).toBe(false);
    expect(contentHashProblem(text)).toBe(problem);
    const parsed = ContentHashSchema.safeParse(text);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toBe(problem);
  });

  it('is what artifact references in a project folder may name', () => {
    expect(ArtifactRefSchema.parse({ name: 'big', hash: `sha256t:${hex}` }).hash).toBe(`sha256t:${hex}`);
    const bad = ArtifactRefSchema.safeParse({ name: 'big', hash: 'sha256t:xyz' });
    expect(bad.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['hash', 'sha256t: must be followed by 64 lowercase hex digits (0-9, a-f), not "xyz"'],
    ]);
  });
});
