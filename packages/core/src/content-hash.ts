import { z } from 'zod';

/**
 * Content ids of stored data (docs/adr/0006-block-content-hash.md). The id is a pure function of the bytes; its
 * scheme follows from their size:
 *
 * - at most CONTENT_HASH_BLOCK_BYTES: `sha256:<hex>`, the plain sha256 (what `sha256sum` prints);
 * - more: `sha256t:<hex>`, the sha256 of the concatenated raw 32-byte sha256 digests of consecutive blocks of
 *   CONTENT_HASH_BLOCK_BYTES (the last one may be shorter), so that the blocks can be hashed on several cores.
 *
 * The prefixes keep the two in separate namespaces: a small file whose bytes are some big file's block digests
 * has the same hex, but not the same id. Ids made before the tree existed (`sha256:` of more than one block)
 * still name their blobs; they are checked with the plain sha256.
 *
 * Hashing itself is the engine's (node:crypto) and the Python runtime's (hashlib): core stays pure.
 */
export const CONTENT_HASH_BLOCK_BYTES = 8 * 1024 * 1024;

export const CONTENT_HASH_SCHEMES = ['sha256', 'sha256t'] as const;
export type ContentHashScheme = (typeof CONTENT_HASH_SCHEMES)[number];

/** `sha256:<64 lowercase hex digits>` or `sha256t:<64 lowercase hex digits>`. */
export type ContentHash = `${ContentHashScheme}:${string}`;

export const CONTENT_HASH_PATTERN = /^sha256t?:[0-9a-f]{64}$/;

export function isContentHash(s: string): s is ContentHash {
  return CONTENT_HASH_PATTERN.test(s);
}

/** The scheme of the id of `size` bytes of content. */
export function contentHashSchemeFor(size: number): ContentHashScheme {
  return size > CONTENT_HASH_BLOCK_BYTES ? 'sha256t' : 'sha256';
}

/** The scheme and the hex digits of a content id (which must be one: see isContentHash). */
export function splitContentHash(hash: ContentHash): { scheme: ContentHashScheme; hex: string } {
  const colon = hash.indexOf(':');
  return { scheme: hash.slice(0, colon) as ContentHashScheme, hex: hash.slice(colon + 1) };
}

/** The hex digits of a content id, the part short forms and hash prefixes use. */
export function contentHashHex(hash: ContentHash): string {
  return splitContentHash(hash).hex;
}

const SCHEMES_TEXT = 'sha256: (content up to 8 MiB) or sha256t: (more)';

/** What is wrong with a string given as a content id, in one line; undefined when it is one. */
export function contentHashProblem(s: string): string | undefined {
  if (CONTENT_HASH_PATTERN.test(s)) return undefined;
  const colon = s.indexOf(':');
  if (colon < 0) {
    return /^[0-9a-f]{64}$/.test(s)
      ? 'must start with its scheme, sha256: or sha256t: (64 hex digits alone do not say which)'
      : `must be ${SCHEMES_TEXT} followed by 64 lowercase hex digits`;
  }
  const scheme = s.slice(0, colon);
  if (!(CONTENT_HASH_SCHEMES as readonly string[]).includes(scheme)) {
    return `unknown scheme ${JSON.stringify(scheme.slice(0, 20))}: must be ${SCHEMES_TEXT}`;
  }
  const hex = s.slice(colon + 1);
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return `the 64 hex digits after ${scheme}: must be lowercase`;
  if (/^[0-9a-fA-F]*$/.test(hex)) return `${scheme}: must be followed by 64 hex digits, not ${hex.length}`;
  const shown = hex.length > 20 ? `${hex.slice(0, 20)}…` : hex;
  return `${scheme}: must be followed by 64 lowercase hex digits (0-9, a-f), not ${JSON.stringify(shown)}`;
}

/** A content id (a string), with contentHashProblem's message for anything else. */
export const ContentHashSchema = z.string().superRefine((s, ctx) => {
  const problem = contentHashProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
