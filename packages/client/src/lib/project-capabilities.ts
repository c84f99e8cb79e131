import type { MemberDto, ProjectRoleDto } from '@deepforge/protocol';

/** What the UI offers in a project, from the caller's role there (the server enforces the same, ADR 0009). */
export interface ProjectCapabilities {
  role: ProjectRoleDto;
  /** Change the project: code, pipelines, modules, artifacts (the collaboration socket drops a reader's edits). */
  canEdit: boolean;
  /** Start, re-run, resume and cancel executions. */
  canRun: boolean;
  /** Add members, change roles, remove others. */
  canShare: boolean;
  /** See the names of the project's secrets, set and remove them. */
  canManageSecrets: boolean;
}

const RANK: Record<ProjectRoleDto, number> = { reader: 1, writer: 2, owner: 3 };

export const PROJECT_ROLES: readonly ProjectRoleDto[] = ['owner', 'writer', 'reader'];

export const ROLE_DESCRIPTION: Record<ProjectRoleDto, string> = {
  owner: 'edits, runs, shares, holds the secrets',
  writer: 'edits and runs',
  reader: 'sees everything, changes and runs nothing',
};

/** Shown on every run control a reader sees disabled. */
export const READERS_CANNOT_RUN = 'Readers cannot run: ask an owner of the project for the writer role';
/** Shown where a reader would edit. */
export const READERS_CANNOT_EDIT = 'You can read this project but not change it (your role: reader)';

export function roleAtLeast(role: ProjectRoleDto, need: ProjectRoleDto): boolean {
  return RANK[role] >= RANK[need];
}

export function capabilitiesOf(role: ProjectRoleDto): ProjectCapabilities {
  return {
    role,
    canEdit: roleAtLeast(role, 'writer'),
    canRun: roleAtLeast(role, 'writer'),
    canShare: role === 'owner',
    canManageSecrets: role === 'owner',
  };
}

/** With accounts off the one local user may do everything (the server says `owner` too). */
export const FULL_ACCESS: ProjectCapabilities = capabilitiesOf('owner');

/**
 * Why `actor` (role `actorRole`) cannot give `member` the role `to`, or null when the server will accept it. Only
 * owners change roles; the last owner cannot step down (the server answers 409 for it as well).
 */
export function roleChangeProblem(
  members: readonly MemberDto[],
  actorRole: ProjectRoleDto,
  member: string,
  to: ProjectRoleDto,
): string | null {
  if (actorRole !== 'owner') return 'only owners change roles';
  const current = members.find((m) => m.name === member);
  if (current && current.role === 'owner' && to !== 'owner' && ownerCount(members) === 1)
    return 'the last owner cannot step down: make someone else an owner first';
  return null;
}

/**
 * Why `actor` cannot remove `member` (themselves: leaving), or null. Owners remove anyone, any member may leave,
 * and the last owner can do neither to themselves.
 */
export function removalProblem(
  members: readonly MemberDto[],
  actor: { name: string; role: ProjectRoleDto },
  member: string,
): string | null {
  const self = member === actor.name;
  if (!self && actor.role !== 'owner') return 'only owners remove other members';
  const target = members.find((m) => m.name === member);
  if (target?.role === 'owner' && ownerCount(members) === 1)
    return self
      ? 'you are the last owner: make someone else an owner before you leave'
      : 'the last owner cannot be removed';
  return null;
}

function ownerCount(members: readonly MemberDto[]): number {
  return members.filter((m) => m.role === 'owner').length;
}

/** Members in the order the sharing dialog lists them: owners, writers, readers; by name within each. */
export function sortMembers(members: readonly MemberDto[]): MemberDto[] {
  return [...members].sort((a, b) => RANK[b.role] - RANK[a.role] || a.name.localeCompare(b.name));
}
