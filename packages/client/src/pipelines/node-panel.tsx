import type { Diagnostic, JsonValue, Pipeline, PipelineNode } from '@deepforge/core';
import {
  INPUT_ARTIFACT_ATTRIBUTE,
  INPUT_OPERATION,
  nodeRenameProblem,
  OUTPUT_OPERATION,
  OUTPUT_SAVE_NAME_ATTRIBUTE,
} from '@deepforge/core';
import {
  removeNode,
  renamePipelineNode,
  setNodeAttribute,
  setNodePlacement,
  setNodeReference,
} from '@deepforge/protocol';
import {
  ActionIcon,
  Alert,
  Anchor,
  Autocomplete,
  Badge,
  Box,
  Divider,
  Group,
  ScrollArea,
  Select,
  Stack,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { IconCode, IconX } from '@tabler/icons-react';
import { useEffect, useState } from 'react';
import { Link } from 'react-router';
import { useProjectDoc } from '../collab/project-doc.context.js';
import type { InterfaceMap } from '../lib/connection-rules.js';
import { nodeInterface } from '../lib/connection-rules.js';
import { parseGpus, parseLabels, type Parsed } from '../lib/placement.js';
import { showAllUntilTyped } from '../shell/select-filter.js';
import { useDraftText } from '../ui/draft-text.js';
import { AttributeField } from './attribute-field.js';

export interface NodePanelProps {
  projectId: string;
  pipeline: Pipeline;
  node: PipelineNode;
  interfaces: InterfaceMap;
  diagnostics: readonly Diagnostic[];
  artifactNames: readonly string[];
  /** The project's architectures (resources/): a reference naming one gets a freshly built module. */
  architectureNames: readonly string[];
  /** Show the node without the controls that change it (readers). */
  readOnly?: boolean;
  onClose: () => void;
  /** Makes a change as one of this user's undoable edits (the editor's undo history). */
  edit: (change: () => void) => void;
  /** The node was renamed here: the editor keeps it selected under its new id. */
  onRenamed?: (id: string) => void;
}

/** The side panel of a selected node: attributes, references, ports, problems; edit code; delete. */
export function NodePanel({
  projectId,
  pipeline,
  node,
  interfaces,
  diagnostics,
  artifactNames,
  architectureNames,
  readOnly = false,
  onClose,
  edit,
  onRenamed,
}: NodePanelProps) {
  const { doc } = useProjectDoc();
  const iface = nodeInterface(node, interfaces);
  const problems = diagnostics.filter((d) => d.node === node.id);
  const builtIn = node.operation === INPUT_OPERATION || node.operation === OUTPUT_OPERATION;
  const set = (attr: string, value: JsonValue | undefined): void => {
    if (!readOnly) edit(() => setNodeAttribute(doc, pipeline.name, node.id, attr, value));
  };
  const incoming = (port: string) =>
    pipeline.connections.find((c) => c.to.node === node.id && c.to.port === port);
  const outgoing = (port: string) =>
    pipeline.connections.filter((c) => c.from.node === node.id && c.from.port === port).length;

  return (
    <Box
      data-testid="node-panel"
      style={{
        width: 320,
        borderLeft: '1px solid var(--mantine-color-default-border)',
        display: 'flex',
        flexDirection: 'column',
        background: 'var(--mantine-color-body)',
      }}
    >
      <Group
        px="sm"
        py={8}
        justify="space-between"
        wrap="nowrap"
        style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
      >
        <Box style={{ minWidth: 0 }}>
          <Text size="sm" fw={700} truncate>
            {node.operation}
          </Text>
          <Text size="xs" c="dimmed" className="df-mono" truncate>
            {node.id}
          </Text>
        </Box>
        <Group gap={2} wrap="nowrap">
          {!builtIn && (
            <Tooltip label="Edit the operation's code">
              <ActionIcon
                component={Link}
                to={`/projects/${projectId}/operations/${node.operation}`}
                color="blue"
                aria-label="Edit operation"
                data-testid="node-edit-code"
              >
                <IconCode size={16} />
              </ActionIcon>
            </Tooltip>
          )}
          {!readOnly && (
            <Tooltip label="Delete node (Del)">
              <ActionIcon
                color="red"
                aria-label="Delete node"
                onClick={() => {
                  edit(() => removeNode(doc, pipeline.name, node.id));
                  onClose();
                }}
                data-testid="node-delete"
              >
                <IconX size={16} />
              </ActionIcon>
            </Tooltip>
          )}
        </Group>
      </Group>
      <ScrollArea className="df-fill" type="auto">
        <Stack gap="sm" p="sm">
          {problems.length > 0 && (
            <Alert
              color={problems.some((p) => p.severity === 'error') ? 'red' : 'orange'}
              p="xs"
              data-testid="node-problems"
            >
              <Stack gap={2}>
                {problems.map((p, i) => (
                  <Text key={i} size="xs">
                    {p.message.replace(`node "${node.id}" (${node.operation}): `, '')}
                  </Text>
                ))}
              </Stack>
            </Alert>
          )}
          <NodeIdField
            pipeline={pipeline}
            id={node.id}
            readOnly={readOnly}
            onCommit={(to) => {
              edit(() => renamePipelineNode(doc, pipeline.name, node.id, to));
              onRenamed?.(to);
            }}
          />
          {!iface && (
            <Text size="xs" c="dimmed">
              The operation {node.operation} cannot be read, so its attributes are unknown. Fix its code
              first.
            </Text>
          )}

          {node.operation === INPUT_OPERATION && (
            <Select
              label="Artifact"
              description="The data this Input passes on"
              placeholder="Choose an artifact"
              searchable
              data={withCurrent(artifactNames, node.attributes[INPUT_ARTIFACT_ATTRIBUTE])}
              value={
                typeof node.attributes[INPUT_ARTIFACT_ATTRIBUTE] === 'string'
                  ? (node.attributes[INPUT_ARTIFACT_ATTRIBUTE] as string)
                  : null
              }
              onChange={(v) => set(INPUT_ARTIFACT_ATTRIBUTE, v ?? undefined)}
              filter={showAllUntilTyped(node.attributes[INPUT_ARTIFACT_ATTRIBUTE] as string | undefined)}
              nothingFoundMessage="No artifact by that name: upload or import one in Artifacts"
              readOnly={readOnly}
              data-testid="input-artifact-select"
            />
          )}
          {node.operation === OUTPUT_OPERATION && (
            <SaveNameField
              value={
                typeof node.attributes[OUTPUT_SAVE_NAME_ATTRIBUTE] === 'string'
                  ? (node.attributes[OUTPUT_SAVE_NAME_ATTRIBUTE] as string)
                  : ''
              }
              artifactNames={artifactNames}
              readOnly={readOnly}
              onCommit={(v) => set(OUTPUT_SAVE_NAME_ATTRIBUTE, v === '' ? undefined : v)}
            />
          )}

          {!builtIn && iface && iface.attributes.length > 0 && (
            <>
              <Divider label="Attributes" labelPosition="left" />
              {iface.attributes.map((spec) => (
                <AttributeField
                  key={spec.name}
                  spec={spec}
                  value={node.attributes[spec.name]}
                  readOnly={readOnly}
                  onCommit={(v) => set(spec.name, v)}
                />
              ))}
            </>
          )}
          {!builtIn && iface && iface.references.length > 0 && (
            <>
              <Divider label="References" labelPosition="left" />
              {iface.references.map((r) => (
                <Select
                  key={r.name}
                  label={
                    <Text size="xs" fw={600} className="df-mono" span>
                      {r.name}
                    </Text>
                  }
                  description={
                    architectureNames.includes(node.references[r.name] ?? '') ? (
                      <Anchor
                        component={Link}
                        to={`/projects/${projectId}/resources/${node.references[r.name]}`}
                        size="xs"
                        data-testid={`ref-${r.name}-open`}
                      >
                        a new {node.references[r.name]} module: open the architecture
                      </Anchor>
                    ) : undefined
                  }
                  placeholder="Choose an architecture or an artifact"
                  searchable
                  clearable={!readOnly}
                  readOnly={readOnly}
                  data={referenceOptions(architectureNames, artifactNames, node.references[r.name])}
                  value={node.references[r.name] ?? null}
                  onChange={(v) => {
                    if (!readOnly)
                      edit(() => setNodeReference(doc, pipeline.name, node.id, r.name, v ?? undefined));
                  }}
                  filter={showAllUntilTyped(node.references[r.name])}
                  nothingFoundMessage="No architecture or artifact by that name"
                  data-testid={`ref-${r.name}`}
                />
              ))}
            </>
          )}
          {!builtIn && (
            <>
              <Divider label="Placement" labelPosition="left" />
              <PlacementField
                label="Worker labels"
                description="Runs only on a worker with all of these (besides the execution's)"
                placeholder="e.g. gpu, a100"
                value={(node.labels ?? []).join(', ')}
                parse={parseLabels}
                readOnly={readOnly}
                onCommit={(labels) =>
                  edit(() =>
                    setNodePlacement(doc, pipeline.name, node.id, {
                      labels: labels.length > 0 ? labels : undefined,
                    }),
                  )
                }
                testId="node-labels"
              />
              <PlacementField
                label="GPUs"
                description="GPUs of its own while it runs (CUDA_VISIBLE_DEVICES); empty: none, or 1 with label gpu"
                placeholder="0"
                value={node.gpus === undefined ? '' : String(node.gpus)}
                parse={parseGpus}
                readOnly={readOnly}
                onCommit={(gpus) => edit(() => setNodePlacement(doc, pipeline.name, node.id, { gpus }))}
                testId="node-gpus"
              />
            </>
          )}
          {iface && (iface.inputs.length > 0 || iface.outputs.length > 0) && (
            <>
              <Divider label="Ports" labelPosition="left" />
              {iface.inputs.map((p) => {
                const c = incoming(p.name);
                return (
                  <Group key={`in-${p.name}`} gap={6} wrap="nowrap">
                    <Badge variant="light" color="blue" size="xs">
                      in
                    </Badge>
                    <Text size="xs" className="df-mono">
                      {p.name}
                      {p.type ? `: ${p.type}` : ''}
                    </Text>
                    <Text size="xs" c={c ? 'dimmed' : 'red'} ml="auto" truncate>
                      {c ? `← ${c.from.node}.${c.from.port}` : 'not connected'}
                    </Text>
                  </Group>
                );
              })}
              {iface.outputs.map((p) => {
                const n = outgoing(p.name);
                return (
                  <Group key={`out-${p.name}`} gap={6} wrap="nowrap">
                    <Badge variant="light" color="teal" size="xs">
                      out
                    </Badge>
                    <Text size="xs" className="df-mono">
                      {p.name}
                    </Text>
                    <Text size="xs" c="dimmed" ml="auto">
                      {n === 0 ? 'unused' : `→ ${n} input${n === 1 ? '' : 's'}`}
                    </Text>
                  </Group>
                );
              })}
            </>
          )}
        </Stack>
      </ScrollArea>
    </Box>
  );
}

/**
 * A reference's choices: the architectures first (an architecture wins over an artifact of the same name, so
 * such an artifact is not offered), then artifacts; a value naming neither stays shown so it can be seen and
 * changed (validation says it is missing).
 */
function referenceOptions(
  architectures: readonly string[],
  artifacts: readonly string[],
  current: string | undefined,
): { group: string; items: string[] }[] {
  const arch = new Set(architectures);
  const groups = [
    { group: 'Architectures', items: [...architectures] },
    { group: 'Artifacts', items: artifacts.filter((a) => !arch.has(a)) },
  ];
  if (current && !arch.has(current) && !artifacts.includes(current))
    groups.push({ group: 'Not found', items: [current] });
  return groups.filter((g) => g.items.length > 0);
}

function withCurrent(names: readonly string[], current: JsonValue | undefined): string[] {
  return typeof current === 'string' && current !== '' && !names.includes(current)
    ? [current, ...names]
    : [...names];
}

/**
 * A text field for a placement value, committed to the document on Enter or when it loses focus, and only when
 * it parses: what is wrong is shown under it and nothing is stored.
 */
function PlacementField<T>({
  label,
  description,
  placeholder,
  value,
  parse,
  readOnly,
  onCommit,
  testId,
}: {
  label: string;
  description: string;
  placeholder: string;
  value: string;
  parse: (text: string) => Parsed<T>;
  readOnly: boolean;
  onCommit: (v: T) => void;
  testId: string;
}) {
  const draft = useDraftText(value, { revertOnEscape: false });
  const text = draft.text;
  const parsed = parse(text);
  const commit = (): void => {
    if (readOnly || !parsed.ok || text.trim() === value) return;
    onCommit(parsed.value);
  };
  return (
    <TextInput
      label={label}
      description={description}
      placeholder={placeholder}
      readOnly={readOnly}
      {...draft.props(commit)}
      error={parsed.ok ? undefined : parsed.error}
      data-testid={testId}
    />
  );
}

function SaveNameField({
  value,
  artifactNames,
  readOnly,
  onCommit,
}: {
  value: string;
  artifactNames: readonly string[];
  readOnly: boolean;
  onCommit: (v: string) => void;
}) {
  const [text, setText] = useState(value);
  const [focused, setFocused] = useState(false);
  useEffect(() => {
    if (!focused) setText(value);
  }, [value, focused]);
  return (
    <Autocomplete
      label="Save as"
      description="The artifact this Output writes (a new version when the name exists)"
      data={[...artifactNames]}
      readOnly={readOnly}
      value={text}
      onChange={setText}
      onFocus={() => setFocused(true)}
      onBlur={() => {
        setFocused(false);
        if (text.trim() !== value) onCommit(text.trim());
      }}
      onKeyDown={(e) => {
        if (e.key === 'Enter') onCommit(text.trim());
      }}
      onOptionSubmit={(v) => onCommit(v)}
      data-testid="output-save-name"
    />
  );
}

/**
 * The node's id, renamed on Enter or blur. A clash, an empty or invalid id gets its reason under the field and
 * changes nothing; Escape goes back to the current id.
 */
function NodeIdField({
  pipeline,
  id,
  readOnly,
  onCommit,
}: {
  pipeline: Pipeline;
  id: string;
  readOnly: boolean;
  onCommit: (id: string) => void;
}) {
  const draft = useDraftText(id);
  const text = draft.text;
  const problem = text === id ? null : nodeRenameProblem(pipeline, id, text);
  const commit = (): void => {
    if (text !== id && !problem) onCommit(text);
  };
  return (
    <TextInput
      label="Id"
      description="Connections, --set keys and earlier executions follow a rename"
      size="xs"
      classNames={{ input: 'df-mono' }}
      {...draft.props(commit)}
      readOnly={readOnly}
      error={problem}
      data-testid="node-id-input"
    />
  );
}
