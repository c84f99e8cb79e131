import type { MemberDto } from '@deepforge/protocol';
import { describe, expect, it } from 'vitest';
import {
  capabilitiesOf,
  FULL_ACCESS,
  removalProblem,
  roleAtLeast,
  roleChangeProblem,
  sortMembers,
} from './project-capabilities.js';

const m = (name: string, role: MemberDto['role']): MemberDto => ({ name, role, addedAt: 0 });

describe('capabilitiesOf', () => {
  it('lets readers do nothing but read', () => {
    expect(capabilitiesOf('reader')).toEqual({
      role: 'reader',
      canEdit: false,
      canRun: false,
      canShare: false,
      canManageSecrets: false,
    });
  });
  it('lets writers edit and run, not share', () => {
    expect(capabilitiesOf('writer')).toMatchObject({
      canEdit: true,
      canRun: true,
      canShare: false,
      canManageSecrets: false,
    });
  });
  it('lets owners do everything, as accounts off does', () => {
    expect(capabilitiesOf('owner')).toMatchObject({
      canEdit: true,
      canRun: true,
      canShare: true,
      canManageSecrets: true,
    });
    expect(FULL_ACCESS).toEqual(capabilitiesOf('owner'));
  });
  it('ranks roles', () => {
    expect(roleAtLeast('owner', 'writer')).toBe(true);
    expect(roleAtLeast('writer', 'writer')).toBe(true);
    expect(roleAtLeast('reader', 'writer')).toBe(false);
  });
});

describe('roleChangeProblem', () => {
  const team = [m('ann', 'owner'), m('bob', 'writer'), m('cy', 'reader')];
  it('lets owners change roles', () => {
    expect(roleChangeProblem(team, 'owner', 'bob', 'reader')).toBeNull();
    expect(roleChangeProblem(team, 'owner', 'cy', 'owner')).toBeNull();
  });
  it('refuses others', () => {
    expect(roleChangeProblem(team, 'writer', 'cy', 'writer')).toMatch(/only owners/);
  });
  it('keeps the last owner an owner', () => {
    expect(roleChangeProblem(team, 'owner', 'ann', 'writer')).toMatch(/last owner/);
    expect(roleChangeProblem(team, 'owner', 'ann', 'owner')).toBeNull();
    expect(roleChangeProblem([...team, m('dee', 'owner')], 'owner', 'ann', 'writer')).toBeNull();
  });
});

describe('removalProblem', () => {
  const team = [m('ann', 'owner'), m('bob', 'writer'), m('cy', 'reader')];
  it('lets owners remove others and anyone leave', () => {
    expect(removalProblem(team, { name: 'ann', role: 'owner' }, 'bob')).toBeNull();
    expect(removalProblem(team, { name: 'cy', role: 'reader' }, 'cy')).toBeNull();
    expect(removalProblem(team, { name: 'bob', role: 'writer' }, 'bob')).toBeNull();
  });
  it('refuses non-owners removing others', () => {
    expect(removalProblem(team, { name: 'bob', role: 'writer' }, 'cy')).toMatch(/only owners/);
  });
  it('keeps the last owner', () => {
    expect(removalProblem(team, { name: 'ann', role: 'owner' }, 'ann')).toMatch(/last owner/);
    expect(removalProblem([...team, m('dee', 'owner')], { name: 'ann', role: 'owner' }, 'ann')).toBeNull();
  });
});

describe('sortMembers', () => {
  it('lists owners, writers, readers, by name within each', () => {
    const sorted = sortMembers([m('zed', 'reader'), m('bob', 'owner'), m('amy', 'writer'), m('al', 'owner')]);
    expect(sorted.map((x) => x.name)).toEqual(['al', 'bob', 'amy', 'zed']);
  });
});
