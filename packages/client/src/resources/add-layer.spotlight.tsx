import type { LayerCatalog } from '@deepforge/core';
import { Badge, Text } from '@mantine/core';
import type {
  SpotlightActionData,
  SpotlightActionGroupData,
  SpotlightFilterFunction,
  SpotlightStore,
} from '@mantine/spotlight';
import { isActionsGroup, Spotlight } from '@mantine/spotlight';
import { IconSearch } from '@tabler/icons-react';
import { layerMatchRank } from '../lib/architecture-edit.js';

export interface AddLayerSpotlightProps {
  store: SpotlightStore;
  catalog: LayerCatalog | null;
  /** Why the catalog is missing (no PyTorch on the server), when it is. */
  catalogError: string | null;
  /** The project's other architectures: each can be a layer (`resources.<name>`). */
  architectures: readonly string[];
  /** Where the layer will go, said in the search box (`after conv1`). */
  where: string;
  onAdd: (layerClass: string) => void;
}

const BUILT_INS: { name: string; doc: string }[] = [
  { name: 'Input', doc: 'An input of the network, with a declared shape (batch dimension symbolic: N)' },
  { name: 'Add', doc: 'Sums its inputs (a residual connection)' },
  { name: 'Concat', doc: 'Concatenates its inputs along a dimension (torch.cat, dim 1 by default)' },
  { name: 'Select', doc: 'Picks one result, by index, of a layer returning several (an LSTM)' },
];

/** Typed text: one list, best matches first (groups only while nothing is typed). */
const rankLayers: SpotlightFilterFunction = (query, actions) => {
  if (query.trim() === '') return actions;
  const flat = actions.flatMap((a) => (isActionsGroup(a) ? a.actions : [a]));
  return flat
    .map((a, i) => ({ a, i, r: layerMatchRank(query, a.label ?? '', a.description ?? '') }))
    .filter((x) => x.r !== null)
    .sort((x, y) => x.r! - y.r! || x.i - y.i)
    .map((x) => x.a);
};

/** The "add layer" dialog: search torch.nn, the project's custom layers and architectures by name. */
export function AddLayerSpotlight({
  store,
  catalog,
  catalogError,
  architectures,
  where,
  onAdd,
}: AddLayerSpotlightProps) {
  const layers = Object.values(catalog?.layers ?? {}).sort((a, b) => a.name.localeCompare(b.name));
  const action = (name: string, doc: string, badge?: string): SpotlightActionData => ({
    id: `layer-${name}`,
    label: name,
    description: doc || ' ',
    onClick: () => onAdd(name),
    keywords: name.split('.'),
    ...(badge
      ? {
          rightSection: (
            <Badge size="xs" variant="light">
              {badge}
            </Badge>
          ),
        }
      : {}),
  });
  const actions: SpotlightActionGroupData[] = [
    { group: 'Built-in', actions: BUILT_INS.map((b) => action(b.name, b.doc)) },
    {
      group: 'Custom layers (utils/)',
      actions: layers.filter((l) => l.source === 'custom').map((l) => action(l.name, l.doc, 'custom')),
    },
    {
      group: 'Architectures',
      actions: architectures.map((a) => action(`resources.${a}`, `The architecture ${a}, as one layer`)),
    },
    {
      group: `torch.nn${catalog ? ` (PyTorch ${catalog.torchVersion})` : ''}`,
      actions: layers.filter((l) => l.source === 'torch').map((l) => action(l.name, l.doc)),
    },
  ].filter((g) => g.actions.length > 0);
  return (
    <Spotlight
      store={store}
      actions={actions}
      shortcut={null}
      filter={rankLayers}
      limit={60}
      nothingFound={
        <Text size="sm" ta="center">
          {catalog ? 'No layer by that name.' : (catalogError ?? 'Reading the layers from PyTorch…')}
        </Text>
      }
      highlightQuery
      scrollable
      maxHeight={460}
      searchProps={{
        leftSection: <IconSearch size={16} />,
        placeholder: `Add a layer ${where}…`,
        'aria-label': 'Search layers',
        // @ts-expect-error data attributes pass through to the input
        'data-testid': 'add-layer-search',
      }}
    />
  );
}
