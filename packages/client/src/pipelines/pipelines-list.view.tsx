import {
  ActionIcon,
  Affix,
  Badge,
  Box,
  Button,
  Group,
  Menu,
  Stack,
  Table,
  Text,
  Tooltip,
} from '@mantine/core';
import { useHotkeys } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconCode, IconCopy, IconDots, IconPencil, IconPlus, IconTrash } from '@tabler/icons-react';
import { newOperationSource, validatePipeline } from '@deepforge/core';
import {
  deleteOperation,
  deletePipeline,
  operationUses,
  putOperation,
  putPipeline,
  renamePipeline,
} from '@deepforge/protocol';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import {
  architecturesOf,
  operationCodes,
  operationInterfaces,
  parseOperation,
  pipelineNames,
  pipelineOf,
} from '../collab/doc-read.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { localEdit } from '../collab/local-edit.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import { entityNameProblem, identifierNameProblem } from '../lib/names.js';
import { uniqueName } from '../lib/node-id.js';
import { NamePrompt } from '../shell/name-prompt.js';
import { ViewToolbar } from '../shell/project-layout.js';

interface PipelineRow {
  name: string;
  nodes: number;
  connections: number;
  errors: number;
  warnings: number;
}

interface OperationRow {
  name: string;
  inputs: string[];
  outputs: string[];
  errors: number;
  uses: number;
}

type Prompt =
  | { kind: 'new-pipeline' }
  | { kind: 'rename-pipeline'; name: string }
  | { kind: 'copy-pipeline'; name: string }
  | { kind: 'new-operation' };

/** The Pipelines view: every pipeline of the project (open, create, rename, delete) and the operations they use. */
export function PipelinesListView() {
  const { projectId = '' } = useParams();
  const { doc } = useProjectDoc();
  const navigate = useNavigate();
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  const { canEdit } = useProjectAccess();
  useHotkeys([['n', () => canEdit && setPrompt({ kind: 'new-pipeline' })]]);

  const pipelines = useDocSelector((d): PipelineRow[] => {
    const interfaces = operationInterfaces(operationCodes(d));
    const resources = architecturesOf(d);
    return pipelineNames(d).map((name) => {
      const p = pipelineOf(d, name);
      if (!p) return { name, nodes: 0, connections: 0, errors: 0, warnings: 0 };
      const diagnostics = validatePipeline(p, interfaces, { resources });
      return {
        name,
        nodes: p.nodes.length,
        connections: p.connections.length,
        errors: diagnostics.filter((x) => x.severity === 'error').length,
        warnings: diagnostics.filter((x) => x.severity === 'warning').length,
      };
    });
  }, []);

  const operations = useDocSelector((d): OperationRow[] => {
    const codes = operationCodes(d);
    return Object.keys(codes)
      .sort((a, b) => a.localeCompare(b))
      .map((name) => {
        const parsed = parseOperation(name, codes[name] ?? '');
        return {
          name,
          inputs: parsed.interface?.inputs.map((i) => i.name) ?? [],
          outputs: parsed.interface?.outputs.map((o) => o.name) ?? [],
          errors: parsed.diagnostics.filter((x) => x.severity === 'error').length,
          uses: operationUses(d, name).length,
        };
      });
  }, []);

  const names = pipelines.map((p) => p.name);
  const base = `/projects/${projectId}`;

  const removePipeline = (name: string): void => {
    modals.openConfirmModal({
      title: `Delete pipeline ${name}?`,
      children: (
        <Text size="sm">Its executions stay; the pipeline itself is gone for every collaborator.</Text>
      ),
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-delete-pipeline' },
      onConfirm: () => localEdit(doc, () => deletePipeline(doc, name)),
    });
  };

  const removeOperation = (row: OperationRow): void => {
    modals.openConfirmModal({
      title: `Delete operation ${row.name}?`,
      children: (
        <Text size="sm">
          {row.uses > 0
            ? `${row.uses} pipeline node${row.uses === 1 ? ' uses' : 's use'} it; they will show an error until you replace them.`
            : 'No pipeline uses it.'}
        </Text>
      ),
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-delete-operation' },
      onConfirm: () => localEdit(doc, () => deleteOperation(doc, row.name)),
    });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar title="Pipelines" testId="pipelines-toolbar">
        {canEdit && (
          <Button
            leftSection={<IconPlus size={14} />}
            onClick={() => setPrompt({ kind: 'new-pipeline' })}
            data-testid="new-pipeline"
          >
            New pipeline
          </Button>
        )}
      </ViewToolbar>
      <Box className="df-fill" style={{ overflow: 'auto' }} p="md">
        {pipelines.length === 0 ? (
          <Stack align="center" py="xl" gap={4} data-testid="pipelines-empty">
            <Text fw={600}>No pipelines yet</Text>
            <Text size="sm" c="dimmed">
              {canEdit
                ? 'A pipeline is a graph of operations. Create one, then add operations with the + button.'
                : 'A pipeline is a graph of operations; this project has none yet.'}
            </Text>
          </Stack>
        ) : (
          <Table highlightOnHover data-testid="pipelines-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Pipeline</Table.Th>
                <Table.Th>Nodes</Table.Th>
                <Table.Th>Connections</Table.Th>
                <Table.Th>Problems</Table.Th>
                <Table.Th w={40} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {pipelines.map((p) => (
                <Table.Tr
                  key={p.name}
                  className="df-row-link"
                  data-testid="pipeline-row"
                  data-pipeline={p.name}
                  onClick={() => void navigate(`${base}/pipelines/${encodeURIComponent(p.name)}`)}
                >
                  <Table.Td>
                    <Text
                      component={Link}
                      to={`${base}/pipelines/${encodeURIComponent(p.name)}`}
                      size="sm"
                      fw={600}
                      c="inherit"
                      style={{ textDecoration: 'none' }}
                      onClick={(e) => e.stopPropagation()}
                    >
                      {p.name}
                    </Text>
                  </Table.Td>
                  <Table.Td>{p.nodes}</Table.Td>
                  <Table.Td>{p.connections}</Table.Td>
                  <Table.Td>
                    {p.errors > 0 ? (
                      <Badge color="red" variant="light">
                        {p.errors} error{p.errors === 1 ? '' : 's'}
                      </Badge>
                    ) : p.nodes > 0 ? (
                      <Badge color="green" variant="light">
                        ready
                      </Badge>
                    ) : (
                      <Text size="xs" c="dimmed">
                        empty
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td onClick={(e) => e.stopPropagation()}>
                    {canEdit && (
                      <Menu position="bottom-end">
                        <Menu.Target>
                          <ActionIcon
                            aria-label={`Actions for pipeline ${p.name}`}
                            data-testid="pipeline-actions"
                          >
                            <IconDots size={16} />
                          </ActionIcon>
                        </Menu.Target>
                        <Menu.Dropdown>
                          <Menu.Item
                            leftSection={<IconPencil size={14} />}
                            onClick={() => setPrompt({ kind: 'rename-pipeline', name: p.name })}
                          >
                            Rename…
                          </Menu.Item>
                          <Menu.Item
                            leftSection={<IconCopy size={14} />}
                            onClick={() => setPrompt({ kind: 'copy-pipeline', name: p.name })}
                          >
                            Duplicate…
                          </Menu.Item>
                          <Menu.Divider />
                          <Menu.Item
                            color="red"
                            leftSection={<IconTrash size={14} />}
                            onClick={() => removePipeline(p.name)}
                          >
                            Delete…
                          </Menu.Item>
                        </Menu.Dropdown>
                      </Menu>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}

        <Group justify="space-between" mt={36} mb="xs">
          <Text fw={600} size="sm">
            Operations
          </Text>
          {canEdit && (
            <Button
              variant="default"
              leftSection={<IconPlus size={14} />}
              onClick={() => setPrompt({ kind: 'new-operation' })}
              data-testid="new-operation"
            >
              New operation
            </Button>
          )}
        </Group>
        {operations.length === 0 ? (
          <Text size="sm" c="dimmed">
            No operations yet. Operations are Python classes; create one here or from a pipeline's + button.
          </Text>
        ) : (
          <Table highlightOnHover data-testid="operations-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Operation</Table.Th>
                <Table.Th>Inputs → outputs</Table.Th>
                <Table.Th>Used by</Table.Th>
                <Table.Th w={72} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {operations.map((o) => (
                <Table.Tr
                  key={o.name}
                  className="df-row-link"
                  data-testid="operation-row"
                  data-operation={o.name}
                  onClick={() => void navigate(`${base}/operations/${o.name}`)}
                >
                  <Table.Td>
                    <Group gap={6}>
                      <Text size="sm" fw={600} className="df-mono">
                        {o.name}
                      </Text>
                      {o.errors > 0 && (
                        <Badge color="red" variant="light">
                          {o.errors} error{o.errors === 1 ? '' : 's'}
                        </Badge>
                      )}
                    </Group>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed" className="df-mono">
                      ({o.inputs.join(', ')}) → ({o.outputs.join(', ')})
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs">{o.uses === 0 ? '—' : `${o.uses} node${o.uses === 1 ? '' : 's'}`}</Text>
                  </Table.Td>
                  <Table.Td onClick={(e) => e.stopPropagation()}>
                    <Group gap={2} wrap="nowrap">
                      <Tooltip label={canEdit ? 'Edit code' : 'Read the code'}>
                        <ActionIcon
                          component={Link}
                          to={`${base}/operations/${o.name}`}
                          aria-label={`Edit ${o.name}`}
                          color="blue"
                        >
                          <IconCode size={16} />
                        </ActionIcon>
                      </Tooltip>
                      {canEdit && (
                        <Tooltip label="Delete">
                          <ActionIcon
                            aria-label={`Delete ${o.name}`}
                            color="red"
                            onClick={() => removeOperation(o)}
                            data-testid="delete-operation"
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
      </Box>

      {canEdit && (
        <Affix position={{ bottom: 24, right: 24 }} zIndex={50}>
          <Tooltip label="New pipeline (N)" position="left">
            <ActionIcon
              size={48}
              radius="xl"
              variant="filled"
              color="red"
              aria-label="New pipeline"
              onClick={() => setPrompt({ kind: 'new-pipeline' })}
              data-testid="new-pipeline-fab"
            >
              <IconPlus size={24} />
            </ActionIcon>
          </Tooltip>
        </Affix>
      )}

      {prompt?.kind === 'new-pipeline' && (
        <NamePrompt
          title="New pipeline"
          label="Name"
          initial={uniqueName('pipeline', names)}
          confirm="Create"
          validate={(n) => entityNameProblem(n, names)}
          onClose={() => setPrompt(null)}
          onSubmit={(name) => {
            localEdit(doc, () => putPipeline(doc, { name, nodes: [], connections: [] }));
            void navigate(`${base}/pipelines/${encodeURIComponent(name)}`);
          }}
          testId="new-pipeline-modal"
        />
      )}
      {prompt?.kind === 'rename-pipeline' && (
        <NamePrompt
          title={`Rename ${prompt.name}`}
          label="New name"
          initial={prompt.name}
          confirm="Rename"
          validate={(n) => (n === prompt.name ? 'that is its name now' : entityNameProblem(n, names))}
          onClose={() => setPrompt(null)}
          onSubmit={(name) => localEdit(doc, () => renamePipeline(doc, prompt.name, name))}
          testId="rename-pipeline-modal"
        />
      )}
      {prompt?.kind === 'copy-pipeline' && (
        <NamePrompt
          title={`Duplicate ${prompt.name}`}
          label="Name of the copy"
          initial={uniqueName(`${prompt.name} copy`, names)}
          confirm="Duplicate"
          validate={(n) => entityNameProblem(n, names)}
          onClose={() => setPrompt(null)}
          onSubmit={(name) => {
            const source = pipelineOf(doc, prompt.name);
            if (source) localEdit(doc, () => putPipeline(doc, { ...source, name }));
          }}
        />
      )}
      {prompt?.kind === 'new-operation' && (
        <NamePrompt
          title="New operation"
          label="Class name"
          placeholder="TrainModel"
          description="An operation is a Python class: execute's arguments are its inputs, the names it returns its outputs."
          confirm="Create and edit"
          validate={(n) =>
            identifierNameProblem(
              n,
              operations.map((o) => o.name),
            )
          }
          onClose={() => setPrompt(null)}
          onSubmit={(name) => {
            try {
              localEdit(doc, () => putOperation(doc, name, newOperationSource(name)));
              void navigate(`${base}/operations/${name}`);
            } catch (e) {
              notifications.show({ color: 'red', message: (e as Error).message });
            }
          }}
          testId="new-operation-modal"
        />
      )}
    </Box>
  );
}
