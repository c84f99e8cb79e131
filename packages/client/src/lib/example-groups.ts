import type { Example } from '@deepforge/protocol';

export interface ExampleGroup {
  group: string;
  items: { value: string; label: string }[];
}

/**
 * "New project → Start from": DeepForge's own examples first, then each installed extension's under
 * "Extension: <name>", labelled without the `<extension>/` their value carries (docs/extensions.md).
 */
export function exampleGroups(examples: readonly Example[]): ExampleGroup[] {
  const groups = new Map<string, ExampleGroup['items']>();
  for (const e of examples) {
    const group = e.extension !== undefined ? `Extension: ${e.extension}` : 'Examples';
    const label = e.extension !== undefined ? e.name.slice(e.extension.length + 1) : e.name;
    groups.set(group, [...(groups.get(group) ?? []), { value: e.name, label }]);
  }
  return [...groups].map(([group, items]) => ({ group, items }));
}

/** The project name an example suggests: the example's own name, without its extension. */
export function exampleProjectName(example: string): string {
  return example.slice(example.lastIndexOf('/') + 1);
}
