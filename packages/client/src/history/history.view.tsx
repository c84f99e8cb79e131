import {
  Box,
  Button,
  Center,
  Checkbox,
  Group,
  Loader,
  ScrollArea,
  Stack,
  Text,
  TextInput,
  UnstyledButton,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import {
  IconArrowBackUp,
  IconBookmark,
  IconEye,
  IconGitFork,
  IconRestore,
  IconSearch,
} from '@tabler/icons-react';
import type { DeletedItem, VersionSummary } from '@deepforge/protocol';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { qk } from '../api/endpoints.js';
import {
  forkProject,
  getVersion,
  historyKeys,
  listDeleted,
  listVersions,
  nameVersion,
  restoreVersion,
} from '../api/history.endpoints.js';
import { errorMessage } from '../api/http.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { projectName } from '../collab/doc-read.js';
import { useDocSelector } from '../collab/project-doc.context.js';
import { NamePrompt } from '../shell/name-prompt.js';
import { ViewToolbar } from '../shell/project-layout.js';
import {
  bringBackConfirmation,
  compareRange,
  CURRENT,
  forkDefaultName,
  forkNameProblem,
  nextCursor,
  restoreConfirmation,
  shortVersion,
  toggleCompare,
  versionKindLabel,
  versionsOfPages,
} from './history.logic.js';
import type { Confirmation } from './history.logic.js';
import { VersionDiffView } from './version-diff.js';
import { VersionRow } from './version-row.js';

/**
 * A project's history: the versions (newest first, paged, searchable), what a version changed or what changed
 * between two, and the ways back: restore a version or one file, bring back a deleted pipeline or operation, fork.
 * The selection is in the URL (`?to=<version>`, `&from=<version>` when comparing), so links can open a diff.
 */
export function HistoryView() {
  const { projectId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const to = params.get('to');
  const from = params.get('from') ?? undefined;
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(search.trim(), 250);
  const [ticked, setTicked] = useState<string[]>([]);
  const [naming, setNaming] = useState(false);
  const { canEdit } = useProjectAccess();
  const queryClient = useQueryClient();
  const navigate = useNavigate();

  const versions = useInfiniteQuery({
    queryKey: historyKeys.versions(projectId, q),
    queryFn: ({ pageParam, signal }) =>
      listVersions(projectId, { q, ...(pageParam ? { cursor: pageParam } : {}) }, signal),
    initialPageParam: '',
    getNextPageParam: (_last, pages) => nextCursor(pages),
  });
  const list = versionsOfPages(versions.data?.pages ?? []);
  const refresh = (): Promise<void> =>
    queryClient.invalidateQueries({ queryKey: historyKeys.all(projectId) });

  const select = (id: string): void => {
    setTicked([]);
    setParams({ to: id });
  };
  const tick = (id: string): void => {
    const next = toggleCompare(ticked, id);
    setTicked(next);
    if (next.length === 2) {
      const range = compareRange(next[0] as string, next[1] as string, list);
      setParams({ from: range.from, to: range.to });
    }
  };

  const named = useMutation({
    mutationFn: (message: string) => nameVersion(projectId, message),
    onSuccess: async (v) => {
      notifications.show({ color: 'green', message: `Version “${v.message}” saved` });
      await refresh();
      select(v.id);
    },
    onError: (e) => notifications.show({ color: 'red', message: errorMessage(e) }),
  });

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }} data-testid="history-view">
      <ViewToolbar title="History" testId="history-toolbar">
        {canEdit && (
          <Button leftSection={<IconBookmark size={14} />} onClick={() => setNaming(true)}>
            Name this version
          </Button>
        )}
      </ViewToolbar>
      <Box className="df-fill" style={{ display: 'flex', minHeight: 0 }}>
        <Box
          style={{
            width: 380,
            flex: '0 0 auto',
            display: 'flex',
            flexDirection: 'column',
            borderRight: '1px solid var(--mantine-color-default-border)',
          }}
        >
          <Box p="xs">
            <TextInput
              size="xs"
              leftSection={<IconSearch size={14} />}
              placeholder="Search messages and authors"
              aria-label="Search versions"
              value={search}
              onChange={(e) => setSearch(e.currentTarget.value)}
            />
          </Box>
          <ScrollArea className="df-fill">
            <Stack gap={0} data-testid="version-list" component="ul" className="df-version-list">
              {versions.isPending && (
                <Center p="md">
                  <Loader size="sm" />
                </Center>
              )}
              {versions.error && (
                <Text c="red" size="sm" p="sm">
                  Could not read the history: {errorMessage(versions.error)}
                </Text>
              )}
              {versions.isSuccess && list.length === 0 && (
                <Text c="dimmed" size="sm" p="sm" data-testid="versions-empty">
                  {q ? 'No version matches.' : 'No versions yet.'}
                </Text>
              )}
              {versions.isSuccess && list.length > 0 && !q && (
                <li className="df-version-row" data-selected={to === CURRENT} data-testid="version-row-now">
                  <Checkbox
                    size="xs"
                    mt={4}
                    checked={ticked.includes(CURRENT)}
                    onChange={() => tick(CURRENT)}
                    aria-label="Compare now"
                  />
                  <UnstyledButton
                    onClick={() => {
                      setTicked([]);
                      setParams({ from: (list[0] as VersionSummary).id, to: CURRENT });
                    }}
                    style={{ flex: 1, minWidth: 0 }}
                    aria-label="Show changes since the last version"
                  >
                    <Text size="sm" fw={600}>
                      Now
                    </Text>
                    <Text size="xs" c="dimmed">
                      Changes since the last version, not yet in one
                    </Text>
                  </UnstyledButton>
                </li>
              )}
              {list.map((v) => (
                <VersionRow
                  key={v.id}
                  version={v}
                  selected={to === v.id || from === v.id}
                  ticked={ticked.includes(v.id)}
                  onSelect={() => select(v.id)}
                  onTick={() => tick(v.id)}
                />
              ))}
            </Stack>
            {versions.hasNextPage && (
              <Center p="xs">
                <Button
                  size="xs"
                  variant="default"
                  loading={versions.isFetchingNextPage}
                  onClick={() => void versions.fetchNextPage()}
                >
                  Load more versions
                </Button>
              </Center>
            )}
            <DeletedList projectId={projectId} canEdit={canEdit} onRestored={refresh} />
          </ScrollArea>
        </Box>
        <Box className="df-fill" style={{ minWidth: 0, overflow: 'auto' }} p="md">
          {to ? (
            <VersionPanel
              projectId={projectId}
              to={to}
              from={from}
              canEdit={canEdit}
              onRestored={async (v) => {
                await refresh();
                select(v.id);
              }}
              onForked={(id) => {
                void queryClient.invalidateQueries({ queryKey: qk.projects });
                void navigate(`/projects/${id}`);
              }}
            />
          ) : (
            <Center h="100%">
              <Text c="dimmed" size="sm">
                Select a version to see what it changed, or tick two to compare them.
              </Text>
            </Center>
          )}
        </Box>
      </Box>
      {naming && (
        <NamePrompt
          title="Name this version"
          label="Message"
          placeholder="Baseline before the new optimizer"
          confirm="Save version"
          description="Records the project as it is now as a version with this message."
          validate={(m) => (m === '' ? 'a message is needed' : null)}
          onSubmit={(m) => named.mutate(m)}
          onClose={() => setNaming(false)}
          testId="name-version-modal"
        />
      )}
    </Box>
  );
}

function confirm(c: Confirmation, onConfirm: () => void, testId: string): void {
  modals.openConfirmModal({
    title: c.title,
    children: <Text size="sm">{c.body}</Text>,
    labels: { confirm: c.confirm, cancel: 'Cancel' },
    confirmProps: { 'data-testid': testId },
    onConfirm,
  });
}

function VersionPanel({
  projectId,
  to,
  from,
  canEdit,
  onRestored,
  onForked,
}: {
  projectId: string;
  to: string;
  from: string | undefined;
  canEdit: boolean;
  onRestored: (v: VersionSummary) => Promise<void>;
  onForked: (projectId: string) => void;
}) {
  const [forking, setForking] = useState(false);
  const name = useDocSelector((doc) => projectName(doc), []);
  const version = useQuery({
    queryKey: historyKeys.version(projectId, to),
    queryFn: () => getVersion(projectId, to),
    enabled: to !== CURRENT,
    staleTime: Infinity,
  });
  const restore = useMutation({
    mutationFn: (paths?: string[]) => restoreVersion(projectId, to, paths),
    onSuccess: async (v, paths) => {
      notifications.show({
        color: 'green',
        message: paths
          ? `${paths.join(', ')} restored as a new version`
          : 'Project restored as a new version',
      });
      await onRestored(v);
    },
    onError: (e) => notifications.show({ color: 'red', message: errorMessage(e) }),
  });
  const fork = useMutation({
    mutationFn: (forkName: string) => forkProject(projectId, forkName, to),
    onSuccess: (p) => {
      notifications.show({ color: 'green', message: `Forked as ${p.name}` });
      onForked(p.id);
    },
    onError: (e) => notifications.show({ color: 'red', message: errorMessage(e) }),
  });

  if (to !== CURRENT && version.error) {
    return (
      <Text c="red" size="sm" data-testid="version-error">
        {errorMessage(version.error)}
      </Text>
    );
  }
  const v = version.data;
  return (
    <Stack gap="md" data-testid="version-panel" data-version={to}>
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <Stack gap={2} style={{ minWidth: 0 }}>
          {from !== undefined ? (
            <Text fw={600} data-testid="compare-title">
              Changes from {shortVersion(from)} to {shortVersion(to)}
            </Text>
          ) : (
            <Text fw={600} truncate>
              {v ? v.message : shortVersion(to)}
            </Text>
          )}
          {v && (
            <Text size="xs" c="dimmed">
              {versionKindLabel(v.kind)} by {v.author.name}, {new Date(v.time).toLocaleString()} · {v.id}
            </Text>
          )}
        </Stack>
        {to !== CURRENT && (
          <Group gap="xs" wrap="nowrap">
            <Button
              size="xs"
              variant="default"
              leftSection={<IconEye size={14} />}
              component={Link}
              to={`/projects/${projectId}/history/${to}/files`}
            >
              Open as of this version
            </Button>
            <Button
              size="xs"
              variant="default"
              leftSection={<IconGitFork size={14} />}
              onClick={() => setForking(true)}
            >
              Fork from this version
            </Button>
            {canEdit && v && (
              <Button
                size="xs"
                leftSection={<IconRestore size={14} />}
                loading={restore.isPending && restore.variables === undefined}
                onClick={() =>
                  confirm(restoreConfirmation(v), () => restore.mutate(undefined), 'confirm-restore')
                }
              >
                Restore this version
              </Button>
            )}
          </Group>
        )}
      </Group>
      <VersionDiffView
        projectId={projectId}
        to={to}
        {...(from !== undefined ? { from } : {})}
        {...(canEdit && v
          ? {
              onRestoreFile: (path: string) =>
                confirm(restoreConfirmation(v, path), () => restore.mutate([path]), 'confirm-restore-file'),
            }
          : {})}
      />
      {forking && (
        <NamePrompt
          title="Fork from this version"
          label="Name of the new project"
          initial={forkDefaultName(name)}
          confirm="Fork"
          description={`A new project with this project's files as at ${shortVersion(to)}; it remembers where it came from.`}
          validate={forkNameProblem}
          onSubmit={(n) => fork.mutate(n)}
          onClose={() => setForking(false)}
          testId="fork-modal"
        />
      )}
    </Stack>
  );
}

/** Files that existed in some version and not now, each with a way back (editors). */
function DeletedList({
  projectId,
  canEdit,
  onRestored,
}: {
  projectId: string;
  canEdit: boolean;
  onRestored: () => Promise<void>;
}) {
  const deleted = useQuery({
    queryKey: historyKeys.deleted(projectId),
    queryFn: () => listDeleted(projectId),
  });
  const bringBack = useMutation({
    mutationFn: (item: DeletedItem) => restoreVersion(projectId, item.lastVersion, [item.path]),
    onSuccess: async (_v, item) => {
      notifications.show({ color: 'green', message: `${item.name} is back` });
      await onRestored();
    },
    onError: (e) => notifications.show({ color: 'red', message: errorMessage(e) }),
  });
  const items = deleted.data?.items ?? [];
  return (
    <Box p="xs" mt="sm" style={{ borderTop: '1px solid var(--mantine-color-default-border)' }}>
      <Text size="xs" fw={700} c="dimmed" tt="uppercase" mb={4}>
        Deleted
      </Text>
      {deleted.error && (
        <Text c="red" size="xs">
          {errorMessage(deleted.error)}
        </Text>
      )}
      {deleted.isSuccess && items.length === 0 && (
        <Text size="xs" c="dimmed">
          Nothing deleted.
        </Text>
      )}
      <Stack gap={4} component="ul" className="df-version-list" data-testid="deleted-list">
        {items.map((item) => (
          <Group
            component="li"
            key={item.path}
            justify="space-between"
            wrap="nowrap"
            data-testid="deleted-item"
          >
            <Box style={{ minWidth: 0, flex: 1 }}>
              <Text size="sm" truncate>
                {item.name}{' '}
                <Text span size="xs" c="dimmed">
                  {item.kind}
                </Text>
              </Text>
              <Text size="xs" c="dimmed" ff="monospace" truncate>
                {item.path} · deleted in {shortVersion(item.deletedIn)}
              </Text>
            </Box>
            {canEdit && (
              <Button
                size="compact-xs"
                variant="default"
                style={{ flex: '0 0 auto' }}
                leftSection={<IconArrowBackUp size={12} />}
                loading={bringBack.isPending && bringBack.variables.path === item.path}
                aria-label={`Bring back ${item.name}`}
                onClick={() =>
                  confirm(bringBackConfirmation(item), () => bringBack.mutate(item), 'confirm-bring-back')
                }
              >
                Bring back
              </Button>
            )}
          </Group>
        ))}
      </Stack>
    </Box>
  );
}
