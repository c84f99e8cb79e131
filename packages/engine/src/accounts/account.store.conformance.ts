import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccountStore, UserRecord } from './account.store.js';

export interface AccountStoreHarness {
  store: AccountStore;
  /** Closes the store and opens the same database again, to check what survives. */
  reopen(): Promise<AccountStore>;
  cleanup(): Promise<void>;
}

const user = (id: string, name: string, admin = false): UserRecord => ({
  id,
  name,
  passwordHash: `$argon2id$fake-${id}`,
  admin,
  createdAt: 1000,
  passwordChangedAt: 1000,
});

/** The behaviour every AccountStore adapter must have. Call it in a test file with the adapter's factory. */
export function describeAccountStoreConformance(
  name: string,
  create: () => Promise<AccountStoreHarness>,
): void {
  describe(`AccountStore conformance: ${name}`, () => {
    let h: AccountStoreHarness;
    let store: AccountStore;
    beforeEach(async () => {
      h = await create();
      store = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('keeps users with unique names, counts admins, updates and removes them', async () => {
      await store.insertUser(user('u1', 'ada', true));
      await store.insertUser(user('u2', 'bob'));
      await expect(store.insertUser(user('u3', 'ada'))).rejects.toThrow();
      expect((await store.listUsers()).map((u) => u.name)).toEqual(['ada', 'bob']);
      expect(await store.countAdmins()).toBe(1);
      expect(await store.countUsers()).toBe(2);
      expect(await store.updateUser('u2', { admin: true, passwordHash: 'h2', passwordChangedAt: 2000 })).toBe(
        true,
      );
      store = await h.reopen();
      expect(await store.getUserByName('bob')).toEqual({
        ...user('u2', 'bob', true),
        passwordHash: 'h2',
        passwordChangedAt: 2000,
      });
      expect(await store.updateUser('nobody', { admin: true })).toBe(false);
      expect(await store.deleteUser('u2')).toBe(true);
      expect(await store.getUser('u2')).toBeUndefined();
      expect(await store.deleteUser('u2')).toBe(false);
    });

    it('keeps sessions by hash, touches and revokes them, one or all of a user', async () => {
      await store.insertUser(user('u1', 'ada'));
      const s = {
        userId: 'u1',
        createdAt: 10,
        lastSeenAt: 10,
        expiresAt: 100,
        revokedAt: null,
        userAgent: 'ua',
      };
      await store.insertSession({ ...s, idHash: 'h1' });
      await store.insertSession({ ...s, idHash: 'h2', userAgent: null });
      await store.touchSession('h1', 20, 200);
      expect(await store.getSession('h1')).toMatchObject({ lastSeenAt: 20, expiresAt: 200, revokedAt: null });
      expect(await store.revokeSession('h1', 30)).toBe(true);
      expect(await store.revokeSession('h1', 31)).toBe(false);
      expect((await store.getSession('h1'))?.revokedAt).toBe(30);
      expect(await store.revokeSessionsOf('u1', 40)).toBe(1);
      expect((await store.getSession('h2'))?.revokedAt).toBe(40);
      expect(await store.getSession('nope')).toBeUndefined();
    });

    it("keeps tokens by hash, lists them newest first, revokes only the owner's", async () => {
      await store.insertUser(user('u1', 'ada'));
      await store.insertUser(user('u2', 'bob'));
      const t = { userId: 'u1', prefix: 'dfp_ab', expiresAt: null, lastUsedAt: null, revokedAt: null };
      await store.insertToken({ ...t, id: 't1', name: 'cli', tokenHash: 'x1', createdAt: 1 });
      await store.insertToken({ ...t, id: 't2', name: 'ci', tokenHash: 'x2', createdAt: 2, expiresAt: 99 });
      expect((await store.listTokens('u1')).map((x) => x.id)).toEqual(['t2', 't1']);
      expect(await store.getTokenByHash('x2')).toMatchObject({ id: 't2', name: 'ci', expiresAt: 99 });
      expect(await store.revokeToken('t1', 'u2', 5)).toBe(false);
      expect(await store.revokeToken('t1', 'u1', 5)).toBe(true);
      await store.touchToken('t2', 7);
      expect(await store.getTokenByHash('x2')).toMatchObject({ lastUsedAt: 7 });
      expect(await store.getTokenByHash('x1')).toMatchObject({ revokedAt: 5 });
    });

    it('keeps members with roles, changes roles in place, and forgets a removed user everywhere', async () => {
      await store.insertUser(user('u1', 'ada'));
      await store.insertUser(user('u2', 'bob'));
      await store.setMember({ projectId: 'p1', userId: 'u1', role: 'owner', addedAt: 1 });
      await store.setMember({ projectId: 'p1', userId: 'u2', role: 'reader', addedAt: 2 });
      await store.setMember({ projectId: 'p2', userId: 'u2', role: 'writer', addedAt: 3 });
      await store.setMember({ projectId: 'p1', userId: 'u2', role: 'writer', addedAt: 9 });
      expect(await store.listMembers('p1')).toEqual([
        { projectId: 'p1', userId: 'u1', role: 'owner', addedAt: 1 },
        { projectId: 'p1', userId: 'u2', role: 'writer', addedAt: 2 },
      ]);
      expect((await store.membershipsOf('u2')).map((m) => m.projectId).sort()).toEqual(['p1', 'p2']);
      expect(await store.removeMember('p2', 'u2')).toBe(true);
      await store.insertSession({
        idHash: 'h',
        userId: 'u2',
        createdAt: 1,
        lastSeenAt: 1,
        expiresAt: 9,
        revokedAt: null,
        userAgent: null,
      });
      await store.insertToken({
        id: 't',
        userId: 'u2',
        name: 'n',
        tokenHash: 'th',
        prefix: 'p',
        createdAt: 1,
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
      });
      await store.deleteUser('u2');
      expect(await store.listMembers('p1')).toHaveLength(1);
      expect(await store.getSession('h')).toBeUndefined();
      expect(await store.getTokenByHash('th')).toBeUndefined();
      await store.removeProjectMembers('p1');
      expect(await store.listMembers('p1')).toEqual([]);
    });

    it('appends audit entries, lists them newest first, filters and pages', async () => {
      for (let i = 0; i < 5; i++) {
        await store.appendAudit({
          at: 100,
          actorId: null,
          actorName: i % 2 ? 'ada' : null,
          action: i < 3 ? 'sign-in' : 'token-use',
          target: `t${i}`,
          detail: null,
          ip: '127.0.0.1',
        });
      }
      const all = await store.listAudit({ limit: 2, offset: 0 });
      expect(all.total).toBe(5);
      expect(all.items.map((e) => e.target)).toEqual(['t4', 't3']);
      expect(
        (await store.listAudit({ limit: 10, offset: 0, action: 'sign-in' })).items.map((e) => e.target),
      ).toEqual(['t2', 't1', 't0']);
      expect((await store.listAudit({ limit: 10, offset: 0, actorName: 'ada' })).total).toBe(2);
    });

    it('keeps secrets per project and name, replaces and removes them', async () => {
      await store.putSecret({ projectId: 'p', name: 'A', ciphertext: 'c1', updatedAt: 1, updatedBy: 'ada' });
      await store.putSecret({ projectId: 'p', name: 'A', ciphertext: 'c2', updatedAt: 2, updatedBy: null });
      await store.putSecret({ projectId: 'q', name: 'A', ciphertext: 'c3', updatedAt: 3, updatedBy: null });
      expect(await store.listSecrets('p')).toEqual([
        { projectId: 'p', name: 'A', ciphertext: 'c2', updatedAt: 2, updatedBy: null },
      ]);
      expect(await store.deleteSecret('p', 'A')).toBe(true);
      expect(await store.deleteSecret('p', 'A')).toBe(false);
      await store.removeProjectSecrets('q');
      expect(await store.listSecrets('q')).toEqual([]);
    });
  });
}
