import type { ArchitectureShapeReport } from '@deepforge/core';
import { formatCount, formatShape } from '@deepforge/core';
import { Modal, Stack, Table, Text } from '@mantine/core';

/** The torchinfo-like summary: every layer in graph order with its output shape and parameters, then totals. */
export function SummaryModal({
  name,
  report,
  classes,
  onClose,
}: {
  name: string;
  report: ArchitectureShapeReport;
  /** Layer id → class, for the `(type)` column. */
  classes: ReadonlyMap<string, string>;
  onClose: () => void;
}) {
  const total = report.total;
  return (
    <Modal opened onClose={onClose} title={`${name}: summary`} size="lg" data-testid="summary-modal">
      <Stack gap="sm">
        <Table striped withTableBorder fz="xs" data-testid="summary-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Layer (type)</Table.Th>
              <Table.Th>Output shape</Table.Th>
              <Table.Th ta="right">Param #</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {report.layers.map((l) => (
              <Table.Tr key={l.id} data-testid="summary-row" data-layer-id={l.id}>
                <Table.Td className="df-mono">
                  {l.id} ({classes.get(l.id) ?? l.layer})
                  {l.error && (
                    <Text size="xs" c="red">
                      {l.error}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td className="df-mono">
                  {l.skipped ? '(not run)' : l.error ? '—' : formatShape(l.outputShape)}
                </Table.Td>
                <Table.Td className="df-mono" ta="right">
                  {l.parameters ? formatCount(l.parameters) : ''}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        <Stack gap={0} data-testid="summary-totals">
          <Text size="sm">Total params: {formatCount(total.parameters)}</Text>
          <Text size="sm">Trainable params: {formatCount(total.trainable)}</Text>
          <Text size="sm">Non-trainable params: {formatCount(total.parameters - total.trainable)}</Text>
          {report.outputs.map((o) => (
            <Text key={o.id} size="sm" className="df-mono">
              Output {o.id}: {formatShape(o.shape)}
            </Text>
          ))}
        </Stack>
      </Stack>
    </Modal>
  );
}
