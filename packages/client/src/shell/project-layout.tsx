import {
  ActionIcon,
  Avatar,
  Badge,
  Box,
  Button,
  Center,
  Group,
  Loader,
  Stack,
  Text,
  Tooltip,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useHotkeys } from '@mantine/hooks';
import {
  IconBinaryTree2,
  IconCpu,
  IconDatabase,
  IconEye,
  IconFileCode,
  IconGitCommit,
  IconHistory,
  IconKey,
  IconMoon,
  IconShare,
  IconStack2,
  IconSun,
  IconTool,
} from '@tabler/icons-react';
import type { ForkedFrom } from '@deepforge/protocol';
import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { useState } from 'react';
import { Link, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { getProject, qk } from '../api/endpoints.js';
import { ApiRequestError } from '../api/http.js';
import { useAuth } from '../auth/auth.context.js';
import { ProjectAccessProvider, useProjectAccess } from '../auth/project-access.context.js';
import { ShareModal } from '../auth/share.modal.js';
import { UserMenu } from '../auth/user-menu.js';
import {
  ProjectDocGate,
  ProjectDocProvider,
  useDocSelector,
  usePresence,
} from '../collab/project-doc.context.js';
import { projectName } from '../collab/doc-read.js';
import { initials } from '../collab/local-user.js';
import { READERS_CANNOT_EDIT } from '../lib/project-capabilities.js';
import { ConnectionStatus } from './connection-status.js';
import { ForkedFromNote } from './forked-from.js';
import { ShortcutsModal } from './shortcuts.modal.js';
import { Logo } from './logo.js';

/** The six views of the DeepForge docs' "Interface Overview", in their order, then the project's history. */
export const PROJECT_VIEWS = [
  { path: 'pipelines', label: 'Pipelines', icon: IconBinaryTree2 },
  { path: 'executions', label: 'Executions', icon: IconHistory },
  { path: 'resources', label: 'Resources', icon: IconStack2 },
  { path: 'artifacts', label: 'Artifacts', icon: IconDatabase },
  { path: 'utils', label: 'Custom Utils', icon: IconTool },
  { path: 'serializers', label: 'Custom Serialization', icon: IconFileCode },
  { path: 'history', label: 'History', icon: IconGitCommit },
] as const;

export function ProjectLayout() {
  const { projectId = '' } = useParams();
  const navigate = useNavigate();
  const project = useQuery({ queryKey: qk.project(projectId), queryFn: () => getProject(projectId) });
  const { user, enabled } = useAuth();
  const [shortcuts, setShortcuts] = useState(false);
  useHotkeys([
    // Physical keys: Alt+1 types another character on some layouts (macOS).
    ...PROJECT_VIEWS.map((v, i): [string, () => void, { usePhysicalKeys: boolean }] => [
      `alt+digit${i + 1}`,
      () => void navigate(`/projects/${projectId}/${v.path}`),
      { usePhysicalKeys: true },
    ]),
    ['shift+?', () => setShortcuts(true)],
  ]);

  if (project.error instanceof ApiRequestError && project.error.status === 404) {
    return (
      <Center h="100%" data-testid="project-not-found">
        <Stack align="center" gap={4}>
          <Text fw={600}>This project does not exist</Text>
          <Text size="sm" c="dimmed">
            {enabled ? 'It may have been deleted, or not shared with you.' : 'It may have been deleted.'}{' '}
            <Link to="/">See all projects</Link>
          </Text>
        </Stack>
      </Center>
    );
  }

  const opening = (
    <Center h="100%" data-testid="project-loading">
      <Group gap="xs">
        <Loader size="sm" />
        <Text size="sm" c="dimmed">
          Opening the project…
        </Text>
      </Group>
    </Center>
  );
  return (
    <ProjectAccessProvider projectId={projectId}>
      <ProjectDocProvider projectId={projectId} accountName={user?.name ?? null}>
        <ShortcutsModal opened={shortcuts} onClose={() => setShortcuts(false)} />
        <Box style={{ display: 'flex', height: '100vh' }}>
          <IconBar projectId={projectId} />
          <Box style={{ display: 'flex', flexDirection: 'column' }} className="df-fill">
            <Header
              projectId={projectId}
              fallbackName={project.data?.name ?? ''}
              forkedFrom={project.data?.forkedFrom}
              folder={project.data?.folder}
            />
            <Box className="df-fill" style={{ display: 'flex', flexDirection: 'column', overflow: 'hidden' }}>
              <ProjectDocGate fallback={opening}>
                <AccessGate fallback={opening}>
                  <Outlet />
                </AccessGate>
              </ProjectDocGate>
            </Box>
          </Box>
        </Box>
      </ProjectDocProvider>
    </ProjectAccessProvider>
  );
}

function IconBar({ projectId }: { projectId: string }) {
  const { setColorScheme } = useMantineColorScheme();
  const computed = useComputedColorScheme('light');
  const location = useLocation();
  const segment = location.pathname.split('/')[3] ?? '';
  // Operations are edited from pipelines: keep that icon lit there.
  const active = segment === 'operations' ? 'pipelines' : segment;
  return (
    <Stack
      component="nav"
      aria-label="Project views"
      gap={4}
      align="center"
      py="xs"
      style={{ width: 52, borderRight: '1px solid var(--mantine-color-default-border)', flex: '0 0 auto' }}
    >
      <Tooltip label="All projects" position="right">
        <Link to="/" aria-label="All projects" data-testid="nav-home" style={{ marginBottom: 8 }}>
          <Logo size={28} />
        </Link>
      </Tooltip>
      {PROJECT_VIEWS.map((v, i) => (
        <Tooltip key={v.path} label={`${v.label}  (Alt+${i + 1})`} position="right">
          <Link
            to={`/projects/${projectId}/${v.path}`}
            className="df-iconbar-link"
            aria-label={v.label}
            aria-current={active === v.path ? 'page' : undefined}
            data-active={active === v.path}
            data-testid={`nav-${v.path}`}
          >
            <v.icon size={22} stroke={1.6} />
          </Link>
        </Tooltip>
      ))}
      <Box style={{ flex: 1 }} />
      <Tooltip label="Compute: workers and their load" position="right">
        <Link to="/compute" className="df-iconbar-link" aria-label="Compute" data-testid="nav-compute">
          <IconCpu size={22} stroke={1.6} />
        </Link>
      </Tooltip>
      <Tooltip label={computed === 'dark' ? 'Light theme' : 'Dark theme'} position="right">
        <ActionIcon
          size="lg"
          aria-label="Toggle colour scheme"
          onClick={() => setColorScheme(computed === 'dark' ? 'light' : 'dark')}
        >
          {computed === 'dark' ? <IconSun size={18} /> : <IconMoon size={18} />}
        </ActionIcon>
      </Tooltip>
    </Stack>
  );
}

/** The views wait for the caller's role, so a reader never sees edit controls flash by. */
function AccessGate({ children, fallback }: { children: ReactNode; fallback: ReactNode }) {
  const { ready } = useProjectAccess();
  return <>{ready ? children : fallback}</>;
}

function Header({
  projectId,
  fallbackName,
  forkedFrom,
  folder,
}: {
  projectId: string;
  fallbackName: string;
  forkedFrom: ForkedFrom | undefined;
  folder: string | undefined;
}) {
  return (
    <Group
      component="header"
      h={44}
      px="md"
      justify="space-between"
      wrap="nowrap"
      style={{ borderBottom: '1px solid var(--mantine-color-default-border)', flex: '0 0 auto' }}
    >
      <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
        <ProjectTitle fallbackName={fallbackName} />
        {forkedFrom && <ForkedFromNote forkedFrom={forkedFrom} />}
        {folder && <FolderBadge folder={folder} />}
        <ReadOnlyBadge />
      </Group>
      <Group gap="md" wrap="nowrap">
        <PresenceAvatars />
        <ShareButton projectId={projectId} fallbackName={fallbackName} />
        <ConnectionStatus />
        <UserMenu />
      </Group>
    </Group>
  );
}

/** A folder project (docs/adr/0028): where its content comes from, and that edits here stay here. */
function FolderBadge({ folder }: { folder: string }) {
  return (
    <Tooltip
      multiline
      w={360}
      label={`Registered by \`deepforge run\` of ${folder}. This is the folder's content as of its last run; edits here do not change the folder, and the next run of the folder replaces what differs (earlier states stay in History).`}
    >
      <Badge variant="light" color="blue" data-testid="folder-project-badge" style={{ flexShrink: 0 }}>
        folder project
      </Badge>
    </Tooltip>
  );
}

/** Readers see everything and change nothing: the header says so. */
function ReadOnlyBadge() {
  const { ready, canEdit, role } = useProjectAccess();
  if (!ready || canEdit) return null;
  return (
    <Tooltip label={READERS_CANNOT_EDIT}>
      <Badge
        variant="light"
        color="gray"
        leftSection={<IconEye size={12} />}
        data-testid="read-only-badge"
        data-role={role}
      >
        read-only
      </Badge>
    </Tooltip>
  );
}

/**
 * Share (accounts on): the members and their roles, and the secrets for owners. With accounts off there is
 * nobody to share with: owners (everyone) get the secrets alone.
 */
function ShareButton({ projectId, fallbackName }: { projectId: string; fallbackName: string }) {
  const { enabled } = useAuth();
  const { canManageSecrets } = useProjectAccess();
  const name = useDocSelector((doc) => projectName(doc), []);
  const [open, setOpen] = useState(false);
  if (!enabled && !canManageSecrets) return null;
  return (
    <>
      {enabled ? (
        <Button
          variant="default"
          leftSection={<IconShare size={14} />}
          onClick={() => setOpen(true)}
          data-testid="share-button"
        >
          Share
        </Button>
      ) : (
        <Tooltip label="Project secrets: API keys given to jobs as environment variables">
          <ActionIcon
            size="md"
            aria-label="Project secrets"
            onClick={() => setOpen(true)}
            data-testid="secrets-button"
          >
            <IconKey size={16} />
          </ActionIcon>
        </Tooltip>
      )}
      {open && (
        <ShareModal projectId={projectId} projectName={name || fallbackName} onClose={() => setOpen(false)} />
      )}
    </>
  );
}

function ProjectTitle({ fallbackName }: { fallbackName: string }) {
  const name = useDocSelector((doc) => projectName(doc), []);
  return (
    <Group gap={6} wrap="nowrap" style={{ minWidth: 0 }}>
      <Text size="sm" c="dimmed" component={Link} to="/" style={{ textDecoration: 'none' }}>
        Projects
      </Text>
      <Text size="sm" c="dimmed">
        /
      </Text>
      <Text size="sm" fw={600} truncate data-testid="project-name">
        {name || fallbackName}
      </Text>
    </Group>
  );
}

function PresenceAvatars() {
  const people = usePresence();
  if (people.length === 0) return null;
  return (
    <Tooltip.Group>
      <Avatar.Group spacing="xs" data-testid="presence">
        {people.slice(0, 5).map((p) => (
          <Tooltip key={p.clientId} label={p.name}>
            <Avatar size={24} radius="xl" variant="filled" color={p.color} title={p.name}>
              {initials(p.name)}
            </Avatar>
          </Tooltip>
        ))}
        {people.length > 5 && (
          <Avatar size={24} radius="xl">
            +{people.length - 5}
          </Avatar>
        )}
      </Avatar.Group>
    </Tooltip.Group>
  );
}

/**
 * An editor's title in its toolbar: the list it belongs to (a link back to it), a slash, and the item's name.
 * `mono`: the name is code (an operation's or an architecture's class name).
 */
export function ViewCrumb({
  parent,
  to,
  name,
  testId,
  mono = false,
}: {
  parent: string;
  to: string;
  name: string;
  testId: string;
  mono?: boolean;
}) {
  return (
    <>
      <Text size="sm" c="dimmed" component={Link} to={to} style={{ textDecoration: 'none' }}>
        {parent}
      </Text>
      <Text size="sm" c="dimmed">
        /
      </Text>
      <Text size="sm" fw={600} truncate className={mono ? 'df-mono' : undefined} data-testid={testId}>
        {name}
      </Text>
    </>
  );
}

/** A view's top bar: title on the left, actions on the right. */
export function ViewToolbar({
  title,
  children,
  testId,
}: {
  title: ReactNode;
  children?: ReactNode;
  testId?: string;
}) {
  return (
    <Group
      h={44}
      px="md"
      justify="space-between"
      wrap="nowrap"
      data-testid={testId}
      style={{ borderBottom: '1px solid var(--mantine-color-default-border)', flex: '0 0 auto' }}
    >
      <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
        {typeof title === 'string' ? (
          <Text fw={600} size="sm" truncate>
            {title}
          </Text>
        ) : (
          title
        )}
      </Group>
      <Group gap="xs" wrap="nowrap">
        {children}
      </Group>
    </Group>
  );
}
