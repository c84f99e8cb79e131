import type { ArtifactRef } from '@deepforge/core';
import type { ArtifactDto as StoredArtifact } from '@deepforge/protocol';
import { deleteArtifactRef, putArtifactRef } from '@deepforge/protocol';
import {
  ActionIcon,
  Alert,
  Anchor,
  Badge,
  Box,
  Button,
  Center,
  Checkbox,
  Code,
  Drawer,
  FileInput,
  Group,
  Loader,
  Modal,
  Pagination,
  Progress,
  SegmentedControl,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { useDebouncedValue, useHotkeys } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import {
  IconDownload,
  IconEye,
  IconFileImport,
  IconSearch,
  IconTrash,
  IconUpload,
  IconX,
} from '@tabler/icons-react';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import {
  artifactContentUrl,
  artifactPreview,
  artifactUploadUrl,
  deleteArtifact,
  importArtifact,
  listArtifacts,
  qk,
} from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import type { UploadHandle } from '../api/upload.js';
import { uploadFile } from '../api/upload.js';
import { artifactRefs } from '../collab/doc-read.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import { formatBytes, formatRelativeTime } from '../lib/job-status.js';
import { StorageSelect, useStorageChoice } from '../platforms/storage-select.js';
import { entityNameProblem } from '../lib/names.js';
import { pageCount } from '../lib/query-params.js';
import { ViewToolbar } from '../shell/project-layout.js';
import { artifactNameFromFile } from './artifact-name.js';

const PAGE_SIZE = 100;

export function ArtifactsView() {
  const { projectId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const hash = params.get('hash');
  const [search, setSearch] = useState('');
  const [debounced] = useDebouncedValue(search, 250);
  const [page, setPage] = useState(1);
  const [uploading, setUploading] = useState(false);
  const [importing, setImporting] = useState(false);
  const [preview, setPreview] = useState<StoredArtifact | null>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const { canEdit } = useProjectAccess();
  useHotkeys([
    ['/', () => searchRef.current?.focus()],
    ['u', () => canEdit && setUploading(true)],
  ]);
  const queryClient = useQueryClient();
  const list = useQuery({
    queryKey: [...qk.artifacts(projectId), 'list', debounced, hash ? 'all' : page],
    queryFn: () =>
      hash
        ? listArtifacts(projectId, { limit: 1000 })
        : listArtifacts(projectId, {
            search: debounced || undefined,
            limit: PAGE_SIZE,
            offset: (page - 1) * PAGE_SIZE,
          }),
    placeholderData: keepPreviousData,
  });
  const items = (list.data?.items ?? []).filter((a) => !hash || a.hash === hash);
  const total = hash ? items.length : (list.data?.total ?? 0);
  const now = Date.now();

  const remove = (a: StoredArtifact): void => {
    modals.openConfirmModal({
      title: `Delete artifact ${a.name}?`,
      children: (
        <Text size="sm">
          Pipelines whose Input reads “{a.name}” will use an older version of it, or fail if there is none.
        </Text>
      ),
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-delete-artifact' },
      onConfirm: () =>
        void deleteArtifact(projectId, a.id)
          .then(() => queryClient.invalidateQueries({ queryKey: qk.artifacts(projectId) }))
          .catch((e: unknown) => notifications.show({ color: 'red', message: errorMessage(e) })),
    });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar title="Artifacts" testId="artifacts-toolbar">
        <TextInput
          ref={searchRef}
          placeholder="Search names  ( / )"
          leftSection={<IconSearch size={14} />}
          value={search}
          onChange={(e) => {
            setSearch(e.currentTarget.value);
            setPage(1);
          }}
          w={240}
          aria-label="Search artifacts"
          data-testid="artifacts-search"
        />
        {canEdit && (
          <Button
            variant="default"
            color="blue"
            leftSection={<IconFileImport size={14} />}
            onClick={() => setImporting(true)}
            data-testid="import-artifact"
          >
            Import
          </Button>
        )}
        {canEdit && (
          <Button
            color="red"
            leftSection={<IconUpload size={14} />}
            onClick={() => setUploading(true)}
            data-testid="upload-artifact"
          >
            Upload
          </Button>
        )}
      </ViewToolbar>
      {hash && (
        <Group
          px="md"
          py={4}
          gap="xs"
          style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
        >
          <Text size="xs">
            Artifacts with content <Code>{hash.slice(0, 20)}…</Code>
          </Text>
          <ActionIcon
            size="sm"
            aria-label="Show all artifacts"
            onClick={() => setParams({}, { replace: true })}
          >
            <IconX size={12} />
          </ActionIcon>
        </Group>
      )}
      <Box className="df-fill" style={{ overflow: 'auto' }}>
        {list.isLoading ? (
          <Center py="xl">
            <Loader size="sm" />
          </Center>
        ) : list.error ? (
          <Text c="red" size="sm" p="md">
            {errorMessage(list.error)}
          </Text>
        ) : items.length === 0 ? (
          <Center py={60} data-testid="artifacts-empty">
            <Stack align="center" gap={4} maw={520}>
              <Text fw={600}>{debounced || hash ? 'No artifact matches' : 'No artifacts yet'}</Text>
              {!debounced && !hash && (
                <Text size="sm" c="dimmed" ta="center">
                  Artifacts are saved data: upload a file, import data already on the server, or run a
                  pipeline with an Output operation. Pipelines read them with the Input operation.
                </Text>
              )}
            </Stack>
          </Center>
        ) : (
          <Table highlightOnHover stickyHeader data-testid="artifacts-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Size</Table.Th>
                <Table.Th>Made by</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th w={100} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((a) => (
                <Table.Tr key={a.id} data-testid="artifact-row" data-artifact={a.name}>
                  <Table.Td>
                    <Text size="sm" fw={500}>
                      {a.name}
                    </Text>
                    <Text size="10px" c="dimmed" className="df-mono">
                      {a.hash.slice(0, 19)}… · {a.serializer}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" className="df-mono">
                      {a.pyType ?? '—'}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs">{formatBytes(a.size)}</Text>
                  </Table.Td>
                  <Table.Td>
                    <Provenance projectId={projectId} artifact={a} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed" title={new Date(a.createdAt).toLocaleString()}>
                      {formatRelativeTime(a.createdAt, now)}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Group gap={2} wrap="nowrap">
                      <Tooltip label="Preview">
                        <ActionIcon
                          aria-label={`Preview ${a.name}`}
                          onClick={() => setPreview(a)}
                          data-testid="artifact-preview"
                        >
                          <IconEye size={16} />
                        </ActionIcon>
                      </Tooltip>
                      <Tooltip label="Download">
                        <ActionIcon
                          component="a"
                          href={artifactContentUrl(projectId, a.id)}
                          download
                          aria-label={`Download ${a.name}`}
                          data-testid="artifact-download"
                        >
                          <IconDownload size={16} />
                        </ActionIcon>
                      </Tooltip>
                      {canEdit && (
                        <Tooltip label="Delete">
                          <ActionIcon
                            color="red"
                            aria-label={`Delete ${a.name}`}
                            onClick={() => remove(a)}
                            data-testid="artifact-delete"
                          >
                            <IconTrash size={16} />
                          </ActionIcon>
                        </Tooltip>
                      )}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        <ProjectReferences />
      </Box>
      {!hash && total > PAGE_SIZE && (
        <Group
          h={44}
          px="md"
          justify="space-between"
          style={{ borderTop: '1px solid var(--mantine-color-default-border)' }}
        >
          <Text size="xs" c="dimmed">
            {total.toLocaleString()} artifacts
          </Text>
          <Pagination size="sm" total={pageCount(total, PAGE_SIZE)} value={page} onChange={setPage} />
        </Group>
      )}
      {uploading && <UploadModal projectId={projectId} onClose={() => setUploading(false)} />}
      {importing && <ImportModal projectId={projectId} onClose={() => setImporting(false)} />}
      <Drawer
        opened={preview !== null}
        onClose={() => setPreview(null)}
        position="right"
        size="md"
        title={preview?.name}
        data-testid="artifact-preview-drawer"
      >
        {preview && <Preview projectId={projectId} artifact={preview} />}
      </Drawer>
    </Box>
  );
}

function Provenance({ projectId, artifact }: { projectId: string; artifact: StoredArtifact }) {
  const p = artifact.provenance;
  switch (p.kind) {
    case 'execution':
      return (
        <Anchor
          component={Link}
          to={`/projects/${projectId}/executions/${p.executionId}?node=${encodeURIComponent(p.node)}&tab=outputs`}
          size="xs"
          data-testid="artifact-provenance"
        >
          {p.node}.{p.output}
        </Anchor>
      );
    case 'upload':
      return (
        <Badge size="xs" variant="light" color="gray">
          upload
        </Badge>
      );
    case 'import':
      return (
        <Tooltip label={p.source}>
          <Badge size="xs" variant="light" color="blue">
            import
          </Badge>
        </Tooltip>
      );
  }
}

function Preview({ projectId, artifact }: { projectId: string; artifact: StoredArtifact }) {
  const preview = useQuery({
    queryKey: [...qk.artifact(projectId, artifact.id), 'preview'],
    queryFn: () => artifactPreview(projectId, artifact.id),
    staleTime: Infinity,
  });
  const p = preview.data;
  // The server records a type it read for an artifact that had none: the list shows it from now on.
  const queryClient = useQueryClient();
  const detected = artifact.pyType === null && p !== undefined && p.error === undefined;
  useEffect(() => {
    if (detected) void queryClient.invalidateQueries({ queryKey: [...qk.artifacts(projectId), 'list'] });
  }, [detected, queryClient, projectId]);
  return (
    <Stack gap="sm" data-testid="artifact-preview-body">
      <Table fz="xs" withRowBorders={false}>
        <Table.Tbody>
          <Row k="Type" v={p?.pyType ?? artifact.pyType ?? '—'} />
          <Row k="Size" v={formatBytes(artifact.size)} />
          <Row k="Serializer" v={artifact.serializer} />
          <Row k="Content" v={artifact.hash} />
          {p?.shape && <Row k="Shape" v={`(${p.shape.join(', ')})`} />}
          {p?.dtype && <Row k="dtype" v={p.dtype} />}
          {p?.length !== undefined && <Row k="Length" v={String(p.length)} />}
          {p?.min !== undefined && p.min !== null && <Row k="Min" v={String(p.min)} />}
          {p?.max !== undefined && p.max !== null && <Row k="Max" v={String(p.max)} />}
        </Table.Tbody>
      </Table>
      {preview.isLoading && <Loader size="xs" />}
      {preview.error && (
        <Text size="xs" c="red">
          {errorMessage(preview.error)}
        </Text>
      )}
      {p?.png && (
        <img
          src={`data:image/png;base64,${p.png}`}
          alt={`${artifact.name} as an image`}
          style={{
            width: '100%',
            imageRendering: 'pixelated',
            border: '1px solid var(--mantine-color-default-border)',
          }}
          data-testid="artifact-preview-image"
        />
      )}
      {p?.repr && (
        <Code block style={{ whiteSpace: 'pre-wrap', maxHeight: 320, overflow: 'auto' }}>
          {p.repr}
        </Code>
      )}
      {p?.error && (
        <Text size="xs" c="dimmed">
          {p.error}
        </Text>
      )}
    </Stack>
  );
}

function Row({ k, v }: { k: string; v: string }) {
  return (
    <Table.Tr>
      <Table.Td c="dimmed" w={90}>
        {k}
      </Table.Td>
      <Table.Td className="df-mono" style={{ wordBreak: 'break-all' }}>
        {v}
      </Table.Td>
    </Table.Tr>
  );
}

function UploadModal({ projectId, onClose }: { projectId: string; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [serializer, setSerializer] = useState('');
  const [pyType, setPyType] = useState('');
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const handle = useRef<UploadHandle<StoredArtifact> | null>(null);
  const problem = entityNameProblem(name.trim(), [], 'artifact');
  const storage = useStorageChoice();

  const start = (): void => {
    if (!file || problem || storage.storage === null) return;
    setError(null);
    setProgress(0);
    const h = uploadFile<StoredArtifact>(
      artifactUploadUrl(projectId, {
        name: name.trim(),
        ...(serializer.trim() ? { serializer: serializer.trim() } : {}),
        ...(pyType.trim() ? { pyType: pyType.trim() } : {}),
        storage: storage.storage,
      }),
      file,
      setProgress,
    );
    handle.current = h;
    h.done
      .then((a) => {
        notifications.show({ color: 'green', message: `Uploaded ${a.name} (${formatBytes(a.size)})` });
        void queryClient.invalidateQueries({ queryKey: qk.artifacts(projectId) });
        onClose();
      })
      .catch((e: unknown) => {
        if ((e as Error).name !== 'AbortError') setError(errorMessage(e));
        setProgress(null);
      });
  };

  return (
    <Modal
      opened
      onClose={() => {
        handle.current?.abort();
        onClose();
      }}
      title="Upload an artifact"
      data-testid="upload-modal"
    >
      <Stack gap="sm">
        <FileInput
          label="File"
          placeholder="Choose a file"
          value={file}
          onChange={(f) => {
            setFile(f);
            if (f && !name) setName(artifactNameFromFile(f.name));
          }}
          clearable
          data-testid="upload-file"
        />
        <TextInput
          label="Name"
          description="What Input operations call it"
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          error={name && problem ? problem : null}
          data-testid="upload-name"
        />
        <Group grow>
          <TextInput
            label="Serializer"
            placeholder="pickle"
            description="How the bytes are read"
            value={serializer}
            onChange={(e) => setSerializer(e.currentTarget.value)}
          />
          <TextInput
            label="Python type"
            placeholder="numpy.ndarray"
            description="Optional, for display"
            value={pyType}
            onChange={(e) => setPyType(e.currentTarget.value)}
          />
        </Group>
        <StorageSelect choice={storage} description="Where its bytes are kept" testId="upload-storage" />
        {progress !== null && (
          <Stack gap={2} data-testid="upload-progress">
            <Progress value={progress * 100} animated={progress < 1} />
            <Text size="xs" c="dimmed">
              {Math.round(progress * 100)}% of {file ? formatBytes(file.size) : ''}
            </Text>
          </Stack>
        )}
        {error && (
          <Alert color="red" p="xs" data-testid="upload-error">
            <Text size="xs">{error}</Text>
          </Alert>
        )}
        <Group justify="flex-end">
          <Button
            variant="default"
            onClick={() => {
              handle.current?.abort();
              onClose();
            }}
          >
            Cancel
          </Button>
          <Button
            onClick={start}
            disabled={!file || problem !== null || progress !== null || storage.storage === null}
            data-testid="upload-submit"
          >
            Upload
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}

function ImportModal({ projectId, onClose }: { projectId: string; onClose: () => void }) {
  const queryClient = useQueryClient();
  const { doc } = useProjectDoc();
  const [mode, setMode] = useState<'path' | 'hash'>('path');
  const [name, setName] = useState('');
  const [source, setSource] = useState('');
  const [serializer, setSerializer] = useState('');
  const [pyType, setPyType] = useState('');
  const [reference, setReference] = useState(true);
  const problem = entityNameProblem(name.trim(), [], 'artifact');
  const storage = useStorageChoice();
  const mutation = useMutation({
    mutationFn: () =>
      importArtifact(projectId, {
        name: name.trim(),
        ...(mode === 'path' ? { path: source.trim() } : { hash: source.trim() }),
        ...(serializer.trim() ? { serializer: serializer.trim() } : {}),
        ...(pyType.trim() ? { pyType: pyType.trim() } : {}),
        ...(storage.storage !== null ? { storage: storage.storage } : {}),
      }),
    onSuccess: (a) => {
      if (reference) {
        const ref: ArtifactRef = {
          name: a.name,
          hash: a.hash,
          ...(a.serializer !== 'pickle' ? { serializer: a.serializer } : {}),
          ...(a.pyType ? { type: a.pyType } : {}),
        };
        putArtifactRef(doc, ref);
      }
      notifications.show({ color: 'green', message: `Imported ${a.name}` });
      void queryClient.invalidateQueries({ queryKey: qk.artifacts(projectId) });
      onClose();
    },
  });
  return (
    <Modal opened onClose={onClose} title="Import an artifact" data-testid="import-modal">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!problem && source.trim() && storage.storage !== null) mutation.mutate();
        }}
      >
        <Stack gap="sm">
          <SegmentedControl
            value={mode}
            onChange={(v) => setMode(v as 'path' | 'hash')}
            data={[
              { value: 'path', label: 'A file on the server' },
              { value: 'hash', label: 'Data in the store (by hash)' },
            ]}
          />
          <TextInput
            label={mode === 'path' ? 'Path on the server machine' : 'Content hash'}
            description={
              mode === 'path'
                ? 'Inside a folder the server imports from (setting artifacts.importRoots; by default the home folder of the user running the server)'
                : undefined
            }
            placeholder={mode === 'path' ? '/data/mnist/train.pkl' : 'sha256:…'}
            value={source}
            onChange={(e) => {
              setSource(e.currentTarget.value);
              if (!name && mode === 'path')
                setName(artifactNameFromFile(e.currentTarget.value.split('/').pop() ?? ''));
            }}
            data-autofocus
            data-testid="import-source"
          />
          <TextInput
            label="Name"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={name && problem ? problem : null}
            data-testid="import-name"
          />
          <Group grow>
            <TextInput
              label="Serializer"
              placeholder="pickle"
              value={serializer}
              onChange={(e) => setSerializer(e.currentTarget.value)}
            />
            <TextInput
              label="Python type"
              placeholder="optional"
              value={pyType}
              onChange={(e) => setPyType(e.currentTarget.value)}
            />
          </Group>
          <StorageSelect choice={storage} description="Where its bytes are kept" testId="import-storage" />
          <Checkbox
            label="Also reference it in the project (artifacts/<name>.json, kept on export)"
            checked={reference}
            onChange={(e) => setReference(e.currentTarget.checked)}
          />
          {mutation.error && (
            <Alert color="red" p="xs">
              <Text size="xs">{errorMessage(mutation.error)}</Text>
            </Alert>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button
              type="submit"
              loading={mutation.isPending}
              disabled={problem !== null || !source.trim() || storage.storage === null}
              data-testid="import-submit"
            >
              Import
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** Artifact references kept in the project document (artifacts/<name>.json in the project folder). */
function ProjectReferences() {
  const { doc } = useProjectDoc();
  const { canEdit } = useProjectAccess();
  const refs = useDocSelector((d) => artifactRefs(d), []);
  if (refs.length === 0) return null;
  return (
    <Box p="md">
      <Text size="sm" fw={600} mb={4}>
        Project references
      </Text>
      <Text size="xs" c="dimmed" mb="xs">
        References travel with the project (export, git): a file in the project folder, or a content hash.
      </Text>
      <Table data-testid="artifact-refs-table">
        <Table.Tbody>
          {refs.map((r) => (
            <Table.Tr key={r.name} data-testid="artifact-ref-row">
              <Table.Td>
                <Text size="sm">{r.name}</Text>
              </Table.Td>
              <Table.Td>
                <Text size="xs" className="df-mono" c="dimmed">
                  {r.file ? `file: ${r.file}` : `${r.hash?.slice(0, 19)}…`}
                </Text>
              </Table.Td>
              <Table.Td>
                <Text size="xs" className="df-mono">
                  {r.type ?? ''}
                </Text>
              </Table.Td>
              <Table.Td w={40}>
                {canEdit && (
                  <ActionIcon
                    color="red"
                    aria-label={`Remove reference ${r.name}`}
                    onClick={() => deleteArtifactRef(doc, r.name)}
                  >
                    <IconTrash size={14} />
                  </ActionIcon>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Box>
  );
}
