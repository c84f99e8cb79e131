import { codeChanges, type CodeFileTexts, type ExecutionComparison } from '@deepforge/core';
import type { ExecutionDetailsDto } from '@deepforge/protocol';
import { Badge, Group, Paper, Select, Stack, Table, Text, Title } from '@mantine/core';
import { useMemo } from 'react';
import { FileDiffView } from '../history/file-diff.js';
import { fileDiffSummary } from '../history/history.logic.js';
import { attributeCellText } from './compare-runs.js';
import { RunHeads } from './compare-summary.js';

const CHANGE_COLOR = { added: 'green', modified: 'blue', deleted: 'red' } as const;

/**
 * What the runs ran with that differs: attributes node by node (one column per run, cells unlike the baseline's
 * marked), then each run's code against the baseline's, operation by operation, in the History view's diffs.
 */
export function CompareDifferences({
  executions,
  comparison,
  code,
  baseline,
  onBaseline,
}: {
  executions: readonly ExecutionDetailsDto[];
  comparison: ExecutionComparison;
  code: { files: readonly CodeFileTexts[]; unchanged: number };
  baseline: number;
  onBaseline: (index: number) => void;
}) {
  return (
    <Stack gap="md">
      <Stack gap={6}>
        <Title order={5}>Attributes</Title>
        {comparison.attributes.length === 0 ? (
          <Text size="sm" c="dimmed" data-testid="compare-attributes-same">
            Every run ran with the same attributes ({comparison.sameAttributes}).
          </Text>
        ) : (
          <Table withTableBorder withColumnBorders fz="sm" data-testid="compare-attributes">
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={200}>Node · attribute</Table.Th>
                <RunHeads executions={executions} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {comparison.attributes.map((row) => {
                const base = attributeCellText(row.cells[baseline] ?? { kind: 'no-node' });
                return (
                  <Table.Tr
                    key={`${row.node}.${row.attribute}`}
                    data-testid="compare-attribute-row"
                    data-node={row.node}
                    data-attribute={row.attribute}
                  >
                    <Table.Td className="df-mono">
                      {row.node}.{row.attribute}
                    </Table.Td>
                    {row.cells.map((cell, i) => {
                      const text = attributeCellText(cell);
                      return (
                        <Table.Td
                          key={executions[i]?.id ?? i}
                          className="df-mono"
                          data-testid="compare-attribute-cell"
                          data-differs={i !== baseline && text !== base}
                          style={
                            i !== baseline && text !== base
                              ? { background: 'var(--mantine-color-yellow-light)' }
                              : undefined
                          }
                          c={cell.kind === 'value' ? undefined : 'dimmed'}
                        >
                          {text}
                        </Table.Td>
                      );
                    })}
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        )}
        {comparison.attributes.length > 0 && comparison.sameAttributes > 0 && (
          <Text size="xs" c="dimmed">
            {comparison.sameAttributes} other attribute{comparison.sameAttributes === 1 ? ' is' : 's are'} the
            same in every run.
          </Text>
        )}
      </Stack>
      <Stack gap={6}>
        <Group justify="space-between">
          <Title order={5}>Code</Title>
          <Select
            size="xs"
            w={260}
            label="Compared with"
            aria-label="Baseline execution"
            data-testid="compare-baseline"
            allowDeselect={false}
            value={String(baseline)}
            data={executions.map((e, i) => ({ value: String(i), label: e.name }))}
            onChange={(v) => v !== null && onBaseline(Number(v))}
          />
        </Group>
        {code.files.length === 0 ? (
          <Text size="sm" c="dimmed" data-testid="compare-code-same">
            Every run ran the same code ({code.unchanged} file{code.unchanged === 1 ? '' : 's'}).
          </Text>
        ) : (
          executions.map((e, i) =>
            i === baseline ? null : (
              <RunCode
                key={e.id}
                name={e.name}
                baseName={executions[baseline]?.name ?? ''}
                files={code.files}
                baseline={baseline}
                other={i}
              />
            ),
          )
        )}
        {code.files.length > 0 && code.unchanged > 0 && (
          <Text size="xs" c="dimmed">
            {code.unchanged} other file{code.unchanged === 1 ? ' is' : 's are'} the same in every run.
          </Text>
        )}
      </Stack>
    </Stack>
  );
}

function RunCode({
  name,
  baseName,
  files,
  baseline,
  other,
}: {
  name: string;
  baseName: string;
  files: readonly CodeFileTexts[];
  baseline: number;
  other: number;
}) {
  const changes = useMemo(() => codeChanges(files, baseline, other), [files, baseline, other]);
  return (
    <Stack gap={6} data-testid="compare-run-code" data-run={name}>
      <Text size="sm" fw={600}>
        {name}{' '}
        <Text span c="dimmed" size="sm">
          against {baseName}
        </Text>
      </Text>
      {changes.length === 0 ? (
        <Text size="sm" c="dimmed">
          The same code as {baseName}.
        </Text>
      ) : (
        changes.map((c) => (
          <Paper key={c.path} withBorder p={0} data-testid="compare-code-change" data-path={c.path}>
            <Group
              px="sm"
              py={6}
              gap="xs"
              wrap="nowrap"
              style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
            >
              <Badge size="sm" variant="light" color={CHANGE_COLOR[c.change]}>
                {c.change}
              </Badge>
              <Text size="sm" fw={600} ff="monospace" truncate>
                {c.operation !== null ? `operation ${c.operation}` : c.path}
              </Text>
              <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
                {fileDiffSummary(c.diff)}
              </Text>
            </Group>
            <div className="df-diff-body">
              <FileDiffView diff={c.diff} />
            </div>
          </Paper>
        ))
      )}
    </Stack>
  );
}
