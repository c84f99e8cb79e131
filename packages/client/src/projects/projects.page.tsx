import {
  ActionIcon,
  Anchor,
  Badge,
  Box,
  Button,
  Center,
  Container,
  FileButton,
  Group,
  Loader,
  Menu,
  Modal,
  Select,
  Stack,
  Table,
  Text,
  Tooltip,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { useDisclosure, useHotkeys } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import {
  IconDots,
  IconDownload,
  IconFolderOpen,
  IconPencil,
  IconPlus,
  IconSearch,
  IconTrash,
  IconUpload,
} from '@tabler/icons-react';
import type { ProjectSummary } from '@deepforge/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { useExecutionEvents } from '../api/events.context.js';
import { useThrottledInvalidate } from '../pipelines/execution-tray.js';
import {
  createProject,
  deleteProject,
  importProject,
  listExamples,
  listProjects,
  projectExportUrl,
  qk,
  updateProject,
} from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { exampleGroups, exampleProjectName } from '../lib/example-groups.js';
import { formatRelativeTime } from '../lib/job-status.js';
import { ForkedFromNote } from '../shell/forked-from.js';
import { TopBar } from '../shell/top-bar.js';

/** The name of a fork's source project when it is in the list (it may be deleted, or not shared). */
function sourceName(items: readonly ProjectSummary[], id: string): { sourceName?: string } {
  const source = items.find((p) => p.id === id);
  return source ? { sourceName: source.name } : {};
}

export function ProjectsPage() {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const projects = useQuery({ queryKey: qk.projects, queryFn: listProjects });
  // A project `deepforge run` registers beside this server, and every project's executions count, follow live:
  // the server announces each execution's status, also those of other engines (docs/adr/0028).
  const refresh = useThrottledInvalidate(qk.projects, 1000);
  useExecutionEvents('*', (e) => {
    if (e.type === 'execution.status') refresh();
  });
  const [filter, setFilter] = useState('');
  const [createOpen, create] = useDisclosure(false);
  const [renaming, setRenaming] = useState<ProjectSummary | null>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  useHotkeys([
    ['n', () => create.open()],
    ['/', () => filterRef.current?.focus()],
  ]);

  const importMutation = useMutation({
    mutationFn: (file: File) => importProject(file),
    onSuccess: (p) => {
      void queryClient.invalidateQueries({ queryKey: qk.projects });
      notifications.show({ color: 'green', message: `Imported ${p.name}` });
      void navigate(`/projects/${p.id}`);
    },
    onError: (e) => notifications.show({ color: 'red', title: 'Import failed', message: errorMessage(e) }),
  });

  const remove = (p: ProjectSummary): void => {
    modals.openConfirmModal({
      title: `Delete ${p.name}?`,
      children: (
        <Text size="sm">
          Its pipelines, operations, executions and artifacts are deleted for good. Export it first to keep a
          copy.
        </Text>
      ),
      labels: { confirm: 'Delete project', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-delete-project' },
      onConfirm: () =>
        void deleteProject(p.id)
          .then(() => {
            notifications.show({ message: `Deleted ${p.name}` });
            return queryClient.invalidateQueries({ queryKey: qk.projects });
          })
          .catch((e: unknown) => notifications.show({ color: 'red', message: errorMessage(e) })),
    });
  };

  const items = useMemo(() => {
    const q = filter.trim().toLowerCase();
    const list = projects.data?.items ?? [];
    return (q ? list.filter((p) => `${p.name} ${p.description ?? ''}`.toLowerCase().includes(q)) : list).sort(
      (a, b) => b.updatedAt - a.updatedAt,
    );
  }, [projects.data, filter]);
  const now = Date.now();

  return (
    <Box style={{ height: '100vh', overflow: 'auto' }}>
      <TopBar />
      <Container size="lg" py="xl">
        <Group justify="space-between" mb="md">
          <Title order={2}>Projects</Title>
          <Group gap="xs">
            <TextInput
              ref={filterRef}
              placeholder="Filter  ( / )"
              leftSection={<IconSearch size={14} />}
              value={filter}
              onChange={(e) => setFilter(e.currentTarget.value)}
              aria-label="Filter projects"
              data-testid="projects-filter"
            />
            <FileButton onChange={(f) => f && importMutation.mutate(f)} accept=".zip,application/zip,.bundle">
              {(props) => (
                <Button
                  {...props}
                  variant="default"
                  leftSection={<IconUpload size={14} />}
                  loading={importMutation.isPending}
                  data-testid="import-project"
                  title="A project's .zip, or a git bundle of a project folder (git bundle create p.bundle --all): its history comes with it"
                >
                  Import .zip or bundle
                </Button>
              )}
            </FileButton>
            <Button leftSection={<IconPlus size={14} />} onClick={create.open} data-testid="new-project">
              New project
            </Button>
          </Group>
        </Group>

        {projects.isLoading ? (
          <Center py="xl">
            <Loader size="sm" />
          </Center>
        ) : projects.error ? (
          <Text c="red" size="sm" data-testid="projects-error">
            {errorMessage(projects.error)}
          </Text>
        ) : items.length === 0 ? (
          <EmptyProjects filtered={filter !== ''} onCreate={create.open} />
        ) : (
          <Table highlightOnHover data-testid="projects-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Contents</Table.Th>
                <Table.Th>Updated</Table.Th>
                <Table.Th w={40} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((p) => (
                <Table.Tr key={p.id} data-testid="project-row" data-project-id={p.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/projects/${p.id}`} fw={600} size="sm">
                      {p.name}
                    </Anchor>
                    {p.description && (
                      <Text size="xs" c="dimmed" lineClamp={1}>
                        {p.description}
                      </Text>
                    )}
                    {p.folder && (
                      <Tooltip
                        label="Registered by `deepforge run` of this folder: its content here is the folder's as of the last run, and edits here do not change the folder"
                        multiline
                        w={320}
                      >
                        <Text size="xs" c="dimmed" lineClamp={1} data-testid="project-folder">
                          Folder project · {p.folder}
                        </Text>
                      </Tooltip>
                    )}
                    {p.forkedFrom && (
                      <ForkedFromNote
                        forkedFrom={p.forkedFrom}
                        {...sourceName(projects.data?.items ?? [], p.forkedFrom.projectId)}
                      />
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      <Badge variant="light" color="gray">
                        {p.counts.pipelines} pipelines
                      </Badge>
                      <Badge variant="light" color="gray">
                        {p.counts.operations} operations
                      </Badge>
                      <Badge variant="light" color="gray">
                        {p.counts.executions} executions
                      </Badge>
                    </Group>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed" title={new Date(p.updatedAt).toLocaleString()}>
                      {formatRelativeTime(p.updatedAt, now)}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Menu position="bottom-end" withinPortal>
                      <Menu.Target>
                        <ActionIcon aria-label={`Actions for ${p.name}`} data-testid="project-actions">
                          <IconDots size={16} />
                        </ActionIcon>
                      </Menu.Target>
                      <Menu.Dropdown>
                        <Menu.Item
                          leftSection={<IconFolderOpen size={14} />}
                          onClick={() => void navigate(`/projects/${p.id}`)}
                        >
                          Open
                        </Menu.Item>
                        {p.role !== 'reader' && (
                          <Menu.Item leftSection={<IconPencil size={14} />} onClick={() => setRenaming(p)}>
                            Rename…
                          </Menu.Item>
                        )}
                        <Menu.Item
                          leftSection={<IconDownload size={14} />}
                          component="a"
                          href={projectExportUrl(p.id)}
                          download
                        >
                          Export .zip
                        </Menu.Item>
                        {(p.role === undefined || p.role === 'owner') && (
                          <>
                            <Menu.Divider />
                            <Menu.Item
                              color="red"
                              leftSection={<IconTrash size={14} />}
                              onClick={() => remove(p)}
                            >
                              Delete…
                            </Menu.Item>
                          </>
                        )}
                      </Menu.Dropdown>
                    </Menu>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Container>
      <CreateProjectModal opened={createOpen} onClose={create.close} />
      {renaming && <RenameProjectModal project={renaming} onClose={() => setRenaming(null)} />}
    </Box>
  );
}

function EmptyProjects({ filtered, onCreate }: { filtered: boolean; onCreate: () => void }) {
  return (
    <Center py={60} data-testid="projects-empty">
      <Stack align="center" gap="xs">
        <Text fw={600}>{filtered ? 'No project matches' : 'No projects yet'}</Text>
        {!filtered && (
          <>
            <Text size="sm" c="dimmed">
              Start an empty project, or from an example like hello or plots.
            </Text>
            <Button mt="xs" onClick={onCreate} leftSection={<IconPlus size={14} />}>
              Create a project
            </Button>
          </>
        )}
      </Stack>
    </Center>
  );
}

function CreateProjectModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const examples = useQuery({ queryKey: qk.examples, queryFn: listExamples, enabled: opened });
  const [name, setName] = useState('');
  const [example, setExample] = useState<string | null>(null);
  const [description, setDescription] = useState('');
  const mutation = useMutation({
    mutationFn: () =>
      createProject({
        name: name.trim(),
        ...(example ? { example } : {}),
        ...(description.trim() ? { description: description.trim() } : {}),
      }),
    onSuccess: (p) => {
      void queryClient.invalidateQueries({ queryKey: qk.projects });
      onClose();
      setName('');
      setExample(null);
      setDescription('');
      void navigate(`/projects/${p.id}`);
    },
  });
  const chosen = examples.data?.items.find((e) => e.name === example);
  return (
    <Modal opened={opened} onClose={onClose} title="New project" data-testid="create-project-modal">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) mutation.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput
            label="Name"
            placeholder="hello_cifar"
            data-autofocus
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            data-testid="project-name-input"
          />
          <Select
            label="Start from"
            placeholder="An empty project"
            clearable
            data={exampleGroups(examples.data?.items ?? [])}
            value={example}
            onChange={(v) => {
              setExample(v);
              // An extension's example is <extension>/<example>: the project is named after the example.
              if (v && !name.trim()) setName(exampleProjectName(v));
            }}
            description={
              chosen
                ? `${chosen.description ?? 'Example project'} — pipelines: ${chosen.pipelines.join(', ') || 'none'}`
                : 'An example project (its seed) or nothing'
            }
            data-testid="project-example-select"
          />
          <Textarea
            label="Description"
            autosize
            minRows={2}
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
          />
          {mutation.error && (
            <Text c="red" size="sm">
              {errorMessage(mutation.error)}
            </Text>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button
              type="submit"
              loading={mutation.isPending}
              disabled={!name.trim()}
              data-testid="create-project"
            >
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function RenameProjectModal({ project, onClose }: { project: ProjectSummary; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState(project.name);
  const [description, setDescription] = useState(project.description ?? '');
  const mutation = useMutation({
    mutationFn: () =>
      updateProject(project.id, {
        name: name.trim(),
        description: description.trim() ? description.trim() : null,
      }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: qk.projects });
      void queryClient.invalidateQueries({ queryKey: qk.project(project.id) });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title="Rename project">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) mutation.mutate();
        }}
      >
        <Stack gap="sm">
          <TextInput
            label="Name"
            data-autofocus
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            data-testid="rename-project-input"
          />
          <Textarea
            label="Description"
            autosize
            minRows={2}
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
          />
          {mutation.error && (
            <Text c="red" size="sm">
              {errorMessage(mutation.error)}
            </Text>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={mutation.isPending} data-testid="rename-project-save">
              Save
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
