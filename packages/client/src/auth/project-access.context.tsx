import { useQuery, useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import type { ProjectRoleDto } from '@deepforge/protocol';
import { createContext, useContext, useEffect, useMemo } from 'react';
import { listMembers, qk } from '../api/endpoints.js';
import { onApiError } from '../api/http.js';
import type { ProjectCapabilities } from '../lib/project-capabilities.js';
import { capabilitiesOf, FULL_ACCESS } from '../lib/project-capabilities.js';
import { useAuth } from './auth.context.js';

export interface ProjectAccess extends ProjectCapabilities {
  /** The role is known (with accounts on it comes from GET …/members). */
  ready: boolean;
}

const ProjectAccessContext = createContext<ProjectAccess | null>(null);

/** An owner may change roles meanwhile: the role is read again this often, and after any 403. */
const ROLE_REFRESH_MS = 30_000;

/**
 * The caller's role in the open project and what it lets the UI offer. Accounts off: everything. On: `you` of
 * GET /api/projects/:id/members; until it arrives `ready` is false (the layout waits, so a reader never sees
 * edit controls flash by); if it cannot be read, reader (the server decides anyway).
 */
export function ProjectAccessProvider({ projectId, children }: { projectId: string; children: ReactNode }) {
  const { enabled } = useAuth();
  const queryClient = useQueryClient();
  const members = useQuery({
    queryKey: qk.members(projectId),
    queryFn: () => listMembers(projectId),
    enabled,
    refetchInterval: ROLE_REFRESH_MS,
  });
  useEffect(() => {
    if (!enabled) return;
    return onApiError((e) => {
      if (e.status === 403) void queryClient.invalidateQueries({ queryKey: qk.members(projectId) });
    });
  }, [enabled, projectId, queryClient]);

  const role: ProjectRoleDto = !enabled ? 'owner' : (members.data?.you ?? 'reader');
  const ready = !enabled || members.data !== undefined || members.isError;
  const value = useMemo<ProjectAccess>(() => ({ ...capabilitiesOf(role), ready }), [role, ready]);
  return <ProjectAccessContext.Provider value={value}>{children}</ProjectAccessContext.Provider>;
}

/** What the caller may do in the enclosing project; outside one (or accounts off), everything. */
export function useProjectAccess(): ProjectAccess {
  return useContext(ProjectAccessContext) ?? { ...FULL_ACCESS, ready: true };
}
