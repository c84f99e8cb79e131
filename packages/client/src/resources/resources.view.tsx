import { validateArchitecture } from '@deepforge/core';
import { deleteResource, putResource, renameResource } from '@deepforge/protocol';
import { ActionIcon, Badge, Box, Button, Menu, Stack, Table, Text, ThemeIcon } from '@mantine/core';
import { useHotkeys } from '@mantine/hooks';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconDots, IconPencil, IconPlus, IconStack2, IconTrash } from '@tabler/icons-react';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useProjectAccess } from '../auth/project-access.context.js';
import { architecturesOf, pipelineNames, pipelineOf } from '../collab/doc-read.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import { newArchitecture } from '../lib/architecture-edit.js';
import { identifierNameProblem } from '../lib/names.js';
import { uniqueName } from '../lib/node-id.js';
import { NamePrompt } from '../shell/name-prompt.js';
import { ViewToolbar } from '../shell/project-layout.js';

interface ResourceRow {
  name: string;
  layers: number;
  errors: number;
  warnings: number;
  /** Pipeline nodes whose references name it. */
  uses: number;
}

type Prompt = { kind: 'new' } | { kind: 'rename'; name: string };

/**
 * The Resources view: the project's architectures, live from the project document (another collaborator's new
 * architecture appears at once); create, rename (references in pipelines and nesting architectures follow, in
 * the document layer's renameResource), delete, open in the editor.
 */
export function ResourcesView() {
  const { projectId = '' } = useParams();
  const { doc } = useProjectDoc();
  const navigate = useNavigate();
  const { canEdit } = useProjectAccess();
  const [prompt, setPrompt] = useState<Prompt | null>(null);
  useHotkeys([['n', () => canEdit && setPrompt({ kind: 'new' })]]);

  const rows = useDocSelector((d): ResourceRow[] => {
    const resources = architecturesOf(d);
    const uses = new Map<string, number>();
    for (const p of pipelineNames(d)) {
      for (const n of pipelineOf(d, p)?.nodes ?? [])
        for (const target of Object.values(n.references)) uses.set(target, (uses.get(target) ?? 0) + 1);
    }
    return Object.keys(resources)
      .sort((a, b) => a.localeCompare(b))
      .map((name) => {
        const arch = resources[name]!;
        // Structure only: classes, arguments and shapes need PyTorch (the editor asks the server).
        const diagnostics = validateArchitecture(arch, { resources });
        return {
          name,
          layers: arch.layers.length,
          errors: diagnostics.filter((x) => x.severity === 'error').length,
          warnings: diagnostics.filter((x) => x.severity === 'warning').length,
          uses: uses.get(name) ?? 0,
        };
      });
  }, []);
  const names = rows.map((r) => r.name);
  const base = `/projects/${projectId}/resources`;

  const remove = (row: ResourceRow): void => {
    modals.openConfirmModal({
      title: `Delete architecture ${row.name}?`,
      children: (
        <Text size="sm">
          {row.uses > 0
            ? `${row.uses} pipeline node${row.uses === 1 ? ' references' : 's reference'} it; they will show an error until you pick another.`
            : 'No pipeline references it.'}
        </Text>
      ),
      labels: { confirm: 'Delete', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-delete-resource' },
      onConfirm: () => deleteResource(doc, row.name),
    });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar title="Resources" testId="resources-toolbar">
        {canEdit && (
          <Button
            leftSection={<IconPlus size={14} />}
            onClick={() => setPrompt({ kind: 'new' })}
            data-testid="new-resource"
          >
            New architecture
          </Button>
        )}
      </ViewToolbar>
      <Box className="df-fill" style={{ overflow: 'auto' }} p="md">
        {rows.length === 0 ? (
          <Stack align="center" py="xl" gap={6} maw={520} mx="auto" data-testid="resources-empty">
            <ThemeIcon size={48} radius="xl" variant="light" color="gray">
              <IconStack2 size={26} />
            </ThemeIcon>
            <Text fw={600}>No architectures yet</Text>
            <Text size="sm" c="dimmed" ta="center">
              An architecture is a neural network drawn as a graph of layers, with the shape of every tensor
              shown on its edges and its PyTorch code beside it. Operations use one as a reference: an{' '}
              <code>__init__</code> argument without a default (<code>model</code>) receives a freshly built
              module.
            </Text>
          </Stack>
        ) : (
          <Table highlightOnHover data-testid="resources-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Architecture</Table.Th>
                <Table.Th>Layers</Table.Th>
                <Table.Th>Referenced by</Table.Th>
                <Table.Th>Problems</Table.Th>
                <Table.Th w={40} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr
                  key={r.name}
                  className="df-row-link"
                  data-testid="resource-row"
                  data-resource={r.name}
                  onClick={() => void navigate(`${base}/${r.name}`)}
                >
                  <Table.Td>
                    <Text
                      component={Link}
                      to={`${base}/${r.name}`}
                      size="sm"
                      fw={600}
                      className="df-mono"
                      c="inherit"
                      style={{ textDecoration: 'none' }}
                      onClick={(e) => e.stopPropagation()}
                    >
                      {r.name}
                    </Text>
                  </Table.Td>
                  <Table.Td>{r.layers}</Table.Td>
                  <Table.Td>
                    <Text size="xs">{r.uses === 0 ? '—' : `${r.uses} node${r.uses === 1 ? '' : 's'}`}</Text>
                  </Table.Td>
                  <Table.Td>
                    {r.errors > 0 ? (
                      <Badge color="red" variant="light">
                        {r.errors} error{r.errors === 1 ? '' : 's'}
                      </Badge>
                    ) : r.warnings > 0 ? (
                      <Badge color="orange" variant="light">
                        {r.warnings} warning{r.warnings === 1 ? '' : 's'}
                      </Badge>
                    ) : (
                      <Badge color="green" variant="light">
                        valid
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td onClick={(e) => e.stopPropagation()}>
                    {canEdit && (
                      <Menu position="bottom-end">
                        <Menu.Target>
                          <ActionIcon
                            aria-label={`Actions for architecture ${r.name}`}
                            data-testid="resource-actions"
                          >
                            <IconDots size={16} />
                          </ActionIcon>
                        </Menu.Target>
                        <Menu.Dropdown>
                          <Menu.Item
                            leftSection={<IconPencil size={14} />}
                            onClick={() => setPrompt({ kind: 'rename', name: r.name })}
                            data-testid="rename-resource"
                          >
                            Rename…
                          </Menu.Item>
                          <Menu.Divider />
                          <Menu.Item
                            color="red"
                            leftSection={<IconTrash size={14} />}
                            onClick={() => remove(r)}
                            data-testid="delete-resource"
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
      </Box>

      {prompt?.kind === 'new' && (
        <NamePrompt
          title="New architecture"
          label="Class name"
          placeholder="Classifier"
          description="The name of the PyTorch module it compiles to (a Python class name)."
          initial={uniqueName('Net', names, '')}
          confirm="Create and edit"
          validate={(n) => identifierNameProblem(n, names, 'architecture')}
          onClose={() => setPrompt(null)}
          onSubmit={(name) => {
            putResource(doc, newArchitecture(name));
            void navigate(`${base}/${name}`);
          }}
          testId="new-resource-modal"
        />
      )}
      {prompt?.kind === 'rename' && (
        <NamePrompt
          title={`Rename ${prompt.name}`}
          label="New name"
          initial={prompt.name}
          description="Pipeline references and architectures that use it follow the new name."
          confirm="Rename"
          validate={(n) =>
            n === prompt.name ? 'that is its name now' : identifierNameProblem(n, names, 'architecture')
          }
          onClose={() => setPrompt(null)}
          onSubmit={(name) => {
            try {
              renameResource(doc, prompt.name, name);
            } catch (e) {
              notifications.show({ color: 'red', title: 'Cannot rename', message: (e as Error).message });
            }
          }}
          testId="rename-resource-modal"
        />
      )}
    </Box>
  );
}
