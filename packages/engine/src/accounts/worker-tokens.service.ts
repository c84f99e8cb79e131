import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId } from '../store/new-id.js';
import type { WorkerStore, WorkerTokenRecord } from '../store/worker.store.js';
import { AccountError } from './accounts.service.js';

/** Worker tokens start so, apart from access tokens (`dfp_`): one is never taken for the other. */
export const WORKER_TOKEN_PREFIX = 'dfw_';

/** A token's use is recorded at most this often. */
const TOUCH_EVERY_MS = 60_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface NewWorkerToken {
  /** Shown once: only its sha256 is stored. */
  token: string;
  record: WorkerTokenRecord;
}

/**
 * Worker tokens (docs/adr/0015): an admin makes one per machine or pool; a worker presents it to connect. It
 * belongs to no user and grants nothing of the REST API: only the worker socket and the worker routes, and there
 * only the jobs leased to the worker holding it.
 */
export class WorkerTokens {
  constructor(
    private readonly store: WorkerStore,
    private readonly now: () => number = Date.now,
  ) {}

  async create(name: string, createdBy: string): Promise<NewWorkerToken> {
    const trimmed = name.trim();
    if (trimmed.length === 0 || trimmed.length > 100) {
      throw new AccountError('bad-token-name', 'a worker token needs a name of 1 to 100 characters');
    }
    const live = (await this.store.listWorkerTokens()).filter((t) => t.revokedAt === null);
    if (live.some((t) => t.name === trimmed)) {
      throw new AccountError('exists', `there is a worker token named ${JSON.stringify(trimmed)} already`);
    }
    const token = `${WORKER_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record: WorkerTokenRecord = {
      id: newId(),
      name: trimmed,
      tokenHash: sha256(token),
      prefix: token.slice(0, WORKER_TOKEN_PREFIX.length + 6),
      createdAt: this.now(),
      createdBy,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.insertWorkerToken(record);
    return { token, record };
  }

  /** The token's record, or undefined when it is unknown or revoked. */
  async resolve(token: string): Promise<WorkerTokenRecord | undefined> {
    if (!token.startsWith(WORKER_TOKEN_PREFIX) || token.length > 200) return undefined;
    const digest = sha256(token);
    const record = await this.store.getWorkerTokenByHash(digest);
    // The lookup is by hash; compare again in constant time so no timing tells how much of a guess matched.
    if (!record || !timingSafeEqual(Buffer.from(record.tokenHash), Buffer.from(digest))) return undefined;
    if (record.revokedAt !== null) return undefined;
    const at = this.now();
    if (record.lastUsedAt === null || at - record.lastUsedAt >= TOUCH_EVERY_MS) {
      await this.store.touchWorkerToken(record.id, at);
    }
    return record;
  }

  /** Still valid: a worker connected with it is cut off when it is revoked. */
  async isLive(id: string): Promise<boolean> {
    const record = await this.store.getWorkerToken(id);
    return record !== undefined && record.revokedAt === null;
  }

  list(): Promise<WorkerTokenRecord[]> {
    return this.store.listWorkerTokens();
  }

  /** By id, or by the name of a token not revoked. */
  async revoke(idOrName: string): Promise<WorkerTokenRecord> {
    const all = await this.store.listWorkerTokens();
    const record =
      all.find((t) => t.id === idOrName) ?? all.find((t) => t.name === idOrName && t.revokedAt === null);
    if (!record || record.revokedAt !== null) {
      throw new AccountError('not-found', `there is no worker token ${JSON.stringify(idOrName)} to revoke`);
    }
    await this.store.revokeWorkerToken(record.id, this.now());
    return { ...record, revokedAt: this.now() };
  }
}
