import { replaceText } from '@deepforge/protocol';
import { Box, Button, Group, List, ScrollArea, Text } from '@mantine/core';
import { useMemo } from 'react';
import type * as Y from 'yjs';
import { CodeEditor } from '../code/code-editor.js';
import { useDebouncedYText } from '../code/use-ytext.js';
import { summarizeEnvironment, type EnvironmentSummary } from '../lib/environment-summary.js';

const ENVIRONMENT_TEMPLATE = `# The packages this operation needs, as a conda environment file. Before its job starts,
# DeepForge installs them with pip into a venv over the machine's Python (built once per machine).
name: operation
dependencies:
  - numpy
  # - pip:
  #   - some-package==1.0
`;

/**
 * The Environment tab: the operation's environment file (co-edited), and what the engine will make of it — the
 * packages it installs, or the problems that would fail the operation's jobs (docs/adr/0017).
 */
export function EnvironmentPanel({
  ytext,
  awareness,
  name,
  readOnly,
}: {
  ytext: Y.Text;
  awareness: unknown;
  name: string;
  readOnly: boolean;
}) {
  const text = useDebouncedYText(ytext, 300);
  const summary = useMemo(() => summarizeEnvironment(text), [text]);
  return (
    <>
      <Group px="sm" py={6} justify="space-between" style={{ flex: '0 0 auto' }}>
        <Text size="xs" c="dimmed">
          Python packages, as a conda environment file
        </Text>
        {text.trim() === '' && !readOnly && (
          <Button
            variant="light"
            size="compact-xs"
            onClick={() =>
              replaceText(
                ytext,
                ENVIRONMENT_TEMPLATE.replace('name: operation', `name: ${name.toLowerCase()}`),
              )
            }
            data-testid="dependencies-template"
          >
            Insert template
          </Button>
        )}
      </Group>
      <Box className="df-fill" style={{ borderTop: '1px solid var(--mantine-color-default-border)' }}>
        <CodeEditor
          ytext={ytext}
          awareness={awareness}
          language="yaml"
          ariaLabel={`Environment of ${name}`}
          testId="operation-dependencies"
          readOnly={readOnly}
        />
      </Box>
      <ScrollArea.Autosize
        mah={180}
        style={{ flex: '0 0 auto', borderTop: '1px solid var(--mantine-color-default-border)' }}
      >
        <Box px="sm" py={6} data-testid="environment-summary" data-kind={summary.kind}>
          <SummaryText summary={summary} />
        </Box>
      </ScrollArea.Autosize>
    </>
  );
}

function SummaryText({ summary }: { summary: EnvironmentSummary }) {
  switch (summary.kind) {
    case 'none':
      return (
        <Text size="xs" c="dimmed">
          No packages listed: the operation runs with the machine&apos;s Python and the packages it has.
        </Text>
      );
    case 'problems':
      return (
        <>
          <Text size="xs" c="red" fw={600}>
            The operation&apos;s jobs fail until this file reads:
          </Text>
          <List size="xs" c="red" spacing={0}>
            {summary.problems.map((p) => (
              <List.Item key={`${p.line}:${p.column}:${p.message}`}>
                line {p.line}: {p.message}
              </List.Item>
            ))}
          </List>
        </>
      );
    case 'ready':
      return (
        <>
          <Text size="xs">
            {summary.packages.length > 0 ? (
              <>
                Before a job of this operation starts, the machine that runs it builds a venv over its
                Python&apos;s packages and installs with pip: <code>{summary.packages.join(', ')}</code>. Each
                machine builds it once and reuses it while this list stays the same; the build shows in the
                job&apos;s console.
              </>
            ) : (
              <>
                No packages listed: the operation runs with the machine&apos;s Python and the packages it has.
              </>
            )}
            {summary.python && (
              <>
                {' '}
                <code>{summary.python}</code> is checked against the machine&apos;s Python.
              </>
            )}
          </Text>
          {summary.notes.map((n) => (
            <Text key={n.line} size="xs" c="dimmed">
              line {n.line}: {n.message}
            </Text>
          ))}
        </>
      );
  }
}
