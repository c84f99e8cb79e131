import { randomBytes } from 'node:crypto';

/** Random, lowercase, 12 characters: short enough to type a prefix of, unique enough for one data store. */
export function newId(): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  const bytes = randomBytes(12);
  let id = '';
  for (const b of bytes) id += alphabet[b & 31];
  return id;
}
