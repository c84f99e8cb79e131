import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts project secrets (AES-256-GCM) with a key kept in a file of the data dir (`secret.key`, mode 0600),
 * never in the database: a copy of the database alone (a backup, a dump) reveals no secret. The secret's project
 * and name are authenticated with it, so a ciphertext moved to another row does not decrypt.
 */
export class SecretBox {
  private digestKey: Buffer | undefined;

  private constructor(private readonly key: Buffer) {}

  /** Reads the key, or makes one (only this user may read it) when there is none. */
  static async open(keyFile: string): Promise<SecretBox> {
    try {
      const key = Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64');
      if (key.length !== KEY_BYTES) throw new Error(`${keyFile} does not hold a ${KEY_BYTES}-byte key`);
      return new SecretBox(key);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await mkdir(dirname(keyFile), { recursive: true });
    const key = randomBytes(KEY_BYTES);
    try {
      await writeFile(keyFile, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process made it first: use theirs.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return SecretBox.open(keyFile);
      throw err;
    }
    await chmod(keyFile, 0o600);
    return new SecretBox(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  /**
   * A keyed digest (HMAC-SHA256, hex) of `text`, with a key derived from this box's key for this use only: equal
   * texts give equal digests on this data dir, and without the key file nobody can tell which text gave one.
   */
  digest(text: string): string {
    this.digestKey ??= Buffer.from(hkdfSync('sha256', this.key, '', 'deepforge job cache key', 32));
    return createHmac('sha256', this.digestKey).update(text, 'utf8').digest('hex');
  }

  open(sealed: string, context: string): string {
    const raw = Buffer.from(sealed, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('a stored secret is damaged');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new Error("a stored secret does not decrypt with this data dir's secret.key");
    }
  }
}
