import { Group, Kbd, Modal, Stack, Table, Text } from '@mantine/core';

const SHORTCUTS: { where: string; keys: string[][]; what: string }[] = [
  {
    where: 'Anywhere in a project',
    keys: [['Alt', '1…7']],
    what: 'Pipelines, Executions, Resources, Artifacts, Utils, Serialization, History',
  },
  { where: 'Anywhere in a project', keys: [['?']], what: 'This list' },
  { where: 'Lists', keys: [['/']], what: 'Search' },
  { where: 'Lists', keys: [['N']], what: 'New project / pipeline / module' },
  { where: 'Pipeline editor', keys: [['A']], what: 'Add an operation' },
  {
    where: 'Pipeline editor',
    keys: [['Del'], ['Backspace']],
    what: 'Delete the selected nodes or connections',
  },
  { where: 'Pipeline editor', keys: [['L']], what: 'Auto-layout' },
  { where: 'Pipeline editor', keys: [['F']], what: 'Fit to view' },
  { where: 'Pipeline editor', keys: [['E']], what: 'Show / hide its executions' },
  { where: 'Pipeline editor', keys: [['Ctrl', 'Enter']], what: 'Execute' },
  { where: 'Pipeline editor', keys: [['Esc']], what: 'Deselect' },
  { where: 'Artifacts', keys: [['U']], what: 'Upload' },
  {
    where: 'Code editors',
    keys: [
      ['Ctrl', 'Z'],
      ['Ctrl', 'Shift', 'Z'],
    ],
    what: 'Undo / redo your own edits',
  },
  { where: 'Code editors', keys: [['Ctrl', 'F']], what: 'Find and replace' },
];

export function ShortcutsModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  return (
    <Modal
      opened={opened}
      onClose={onClose}
      title="Keyboard shortcuts"
      size="lg"
      data-testid="shortcuts-modal"
    >
      <Table fz="sm" verticalSpacing={4}>
        <Table.Tbody>
          {SHORTCUTS.map((s, i) => (
            <Table.Tr key={i}>
              <Table.Td w={150}>
                <Text size="xs" c="dimmed">
                  {s.where}
                </Text>
              </Table.Td>
              <Table.Td w={190}>
                <Stack gap={2}>
                  {s.keys.map((combo, j) => (
                    <Group key={j} gap={4} wrap="nowrap">
                      {combo.map((k) => (
                        <Kbd key={k} size="xs">
                          {k}
                        </Kbd>
                      ))}
                    </Group>
                  ))}
                </Stack>
              </Table.Td>
              <Table.Td>{s.what}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Modal>
  );
}
