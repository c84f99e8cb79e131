import type { OperationInterface } from '@deepforge/core';
import { BUILT_IN_INTERFACES } from '@deepforge/core';
import { Badge, Group, Text } from '@mantine/core';
import type { SpotlightActionData, SpotlightActionGroupData, SpotlightStore } from '@mantine/spotlight';
import { Spotlight } from '@mantine/spotlight';
import type { ExtensionSummary } from '@deepforge/protocol';
import {
  IconDatabaseExport,
  IconDatabaseImport,
  IconPackage,
  IconPlus,
  IconSearch,
  IconSquareRoundedPlus,
} from '@tabler/icons-react';

export interface AddOperationSpotlightProps {
  store: SpotlightStore;
  operations: readonly { name: string; iface: OperationInterface | null }[];
  /** Installed extensions: their operations are offered grouped by extension, copied in when picked. */
  extensions?: readonly ExtensionSummary[];
  onAdd: (operation: string) => void;
  onAddFromExtension?: (extension: string, operation: string) => void;
  onNew: () => void;
}

function signature(iface: Pick<OperationInterface, 'inputs' | 'outputs'> | null): string {
  if (!iface) return 'has errors: fix its code to use it';
  const ins = iface.inputs.map((i) => i.name).join(', ');
  const outs = iface.outputs.map((o) => o.name).join(', ');
  return `(${ins}) → (${outs})`;
}

/**
 * The "add operation" dialog: search the project's operations, the built-ins and the installed extensions'
 * operations (copied into the project when picked: docs/extensions.md), or create a new one.
 */
export function AddOperationSpotlight({
  store,
  operations,
  extensions = [],
  onAdd,
  onAddFromExtension,
  onNew,
}: AddOperationSpotlightProps) {
  const inProject = new Set(operations.map((o) => o.name));
  const extensionGroups: SpotlightActionGroupData[] = extensions
    .filter((e) => e.problem === undefined && e.operations.length > 0)
    .map((e) => ({
      group: `Extension: ${e.name}`,
      actions: e.operations.map((o) => ({
        id: `ext-${e.name}-${o.name}`,
        label: o.name,
        description: `${o.description ? `${o.description} ` : ''}${signature(o.interface)}`,
        leftSection: <IconPackage size={16} />,
        rightSection: inProject.has(o.name) ? (
          <Badge color="gray" variant="light">
            name in project
          </Badge>
        ) : (
          <Badge variant="light">copies in</Badge>
        ),
        keywords: [e.name, 'extension'],
        onClick: () => onAddFromExtension?.(e.name, o.name),
      })),
    }));
  const actions: (SpotlightActionGroupData | SpotlightActionData)[] = [
    {
      group: 'Create',
      actions: [
        {
          id: 'new-operation',
          label: 'New Operation…',
          description: 'Write a new Python operation and add it here',
          leftSection: <IconSquareRoundedPlus size={18} />,
          onClick: onNew,
          keywords: ['create', 'new', 'python'],
        },
      ],
    },
    {
      group: 'Operations',
      actions: operations.map((o) => ({
        id: `op-${o.name}`,
        label: o.name,
        description: signature(o.iface),
        leftSection: <IconPlus size={16} />,
        rightSection: o.iface ? undefined : (
          <Badge color="red" variant="light">
            errors
          </Badge>
        ),
        onClick: () => onAdd(o.name),
      })),
    },
    ...extensionGroups,
    {
      group: 'Built-in',
      actions: [
        {
          id: 'op-Input',
          label: 'Input',
          description: `Reads an artifact ${signature(BUILT_IN_INTERFACES.Input ?? null)}`,
          leftSection: <IconDatabaseExport size={16} />,
          onClick: () => onAdd('Input'),
          keywords: ['artifact', 'data', 'load'],
        },
        {
          id: 'op-Output',
          label: 'Output',
          description: `Saves its input as an artifact ${signature(BUILT_IN_INTERFACES.Output ?? null)}`,
          leftSection: <IconDatabaseImport size={16} />,
          onClick: () => onAdd('Output'),
          keywords: ['artifact', 'save', 'store'],
        },
      ],
    },
  ];
  return (
    <Spotlight
      store={store}
      actions={actions}
      shortcut={null}
      nothingFound={
        <Group gap={4} justify="center">
          <Text size="sm">No operation by that name.</Text>
          <Text size="sm" c="blue" style={{ cursor: 'pointer' }} onClick={onNew}>
            Create one…
          </Text>
        </Group>
      }
      highlightQuery
      scrollable
      maxHeight={420}
      searchProps={{
        leftSection: <IconSearch size={16} />,
        placeholder: 'Add an operation…',
        'aria-label': 'Search operations',
        // @ts-expect-error data attributes pass through to the input
        'data-testid': 'add-operation-search',
      }}
    />
  );
}
