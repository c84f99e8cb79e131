import type {
  ArchitectureLayer,
  Diagnostic,
  JsonValue,
  LayerArgument,
  LayerClass,
  LayerShapeReport,
} from '@deepforge/core';
import { formatShape, parseInputShape } from '@deepforge/core';
import { setLayerAttribute, setLayerShape } from '@deepforge/protocol';
import {
  ActionIcon,
  Alert,
  Box,
  Button,
  Divider,
  Group,
  Stack,
  Switch,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { IconArrowBackUp, IconTrash, IconWand, IconX } from '@tabler/icons-react';
import type { ReactNode } from 'react';
import { useProjectDoc } from '../collab/project-doc.context.js';
import { useDraftText } from '../ui/draft-text.js';
import {
  describeArgumentTypes,
  formatArgument,
  parseArgumentInput,
  parseShapeInput,
} from '../lib/architecture-edit.js';

export interface LayerPanelProps {
  architecture: string;
  layer: ArchitectureLayer;
  /** Its class's arguments (null: unknown class, or the catalog has not arrived). */
  cls: LayerClass | null;
  problems: readonly Diagnostic[];
  report: LayerShapeReport | null;
  isOutput: boolean;
  readOnly: boolean;
  onToggleOutput: (output: boolean) => void;
  onDelete: () => void;
  onClose: () => void;
  /** Controls shown under the header (add before / after). */
  extra?: ReactNode;
}

/**
 * The side panel of a selected layer: its constructor arguments (typed as Python literals, checked against the
 * types the argument takes; required ones unset shown as `<none>`), an Input's shape, its shapes and
 * parameters, its problems with PyTorch's message, and the one-click fix where the shapes determine it.
 */
export function LayerPanel({
  architecture,
  layer,
  cls,
  problems,
  report,
  isOutput,
  readOnly,
  onToggleOutput,
  onDelete,
  onClose,
  extra,
}: LayerPanelProps) {
  const { doc } = useProjectDoc();
  const set = (name: string, value: JsonValue | undefined): void => {
    if (!readOnly) setLayerAttribute(doc, architecture, layer.id, name, value);
  };
  const fix = report?.fix;
  return (
    <Box
      data-testid="layer-panel"
      data-layer-id={layer.id}
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
            {layer.layer}
          </Text>
          <Text size="xs" c="dimmed" className="df-mono" truncate>
            {layer.id}
          </Text>
        </Box>
        <Group gap={2} wrap="nowrap">
          <Tooltip label="Close (Esc)">
            <ActionIcon variant="subtle" color="gray" aria-label="Close panel" onClick={onClose}>
              <IconX size={16} />
            </ActionIcon>
          </Tooltip>
          {!readOnly && (
            <Tooltip label="Delete layer (Del)">
              <ActionIcon color="red" aria-label="Delete layer" onClick={onDelete} data-testid="layer-delete">
                <IconTrash size={16} />
              </ActionIcon>
            </Tooltip>
          )}
        </Group>
      </Group>
      {/* A plain scrolling box: Mantine's ScrollArea measures itself on every render, and this one renders on
          every edit of the graph. */}
      <Box className="df-fill" style={{ overflowY: 'auto', minHeight: 0 }}>
        <Stack gap="sm" p="sm">
          {extra}
          {cls?.doc && (
            <Text size="xs" c="dimmed">
              {cls.doc}
            </Text>
          )}
          {(problems.length > 0 || report?.error) && (
            <Alert
              color={problems.some((p) => p.severity === 'error') || report?.error ? 'red' : 'orange'}
              p="xs"
              data-testid="layer-problems"
            >
              <Stack gap={4}>
                {problems.map((p, i) => (
                  <Text key={i} size="xs">
                    {p.message.replace(`${architecture}: layer "${layer.id}" (${layer.layer}): `, '')}
                  </Text>
                ))}
                {report?.error && (
                  <Text size="xs" className="df-mono" data-testid="layer-shape-error">
                    {report.error}
                  </Text>
                )}
                {fix && !readOnly && (
                  <Button
                    size="compact-xs"
                    variant="white"
                    color="red"
                    leftSection={<IconWand size={12} />}
                    onClick={() => set(fix.argument, fix.value)}
                    data-testid="layer-fix"
                  >
                    Set {fix.argument} to {fix.value}
                  </Button>
                )}
              </Stack>
            </Alert>
          )}

          {report && (
            <Stack gap={2} data-testid="layer-shapes">
              {(report.inputShapes ?? []).map((s, i) => (
                <Text key={i} size="xs" className="df-mono">
                  in{(report.inputShapes?.length ?? 0) > 1 ? ` ${i + 1}` : ''}: {formatShape(s)}
                </Text>
              ))}
              <Text size="xs" className="df-mono">
                out: {formatShape(report.outputShape)}
              </Text>
              {report.parameters !== undefined && report.parameters !== null && (
                <Text size="xs">
                  {report.parameters.toLocaleString('en-US')} parameters
                  {report.trainable !== undefined &&
                  report.trainable !== null &&
                  report.trainable !== report.parameters
                    ? ` (${report.trainable.toLocaleString('en-US')} trainable)`
                    : ''}
                </Text>
              )}
            </Stack>
          )}

          <Switch
            label="Output of the architecture"
            checked={isOutput}
            disabled={readOnly}
            onChange={(e) => onToggleOutput(e.currentTarget.checked)}
            data-testid="layer-output"
            size="xs"
          />

          {layer.layer === 'Input' && (
            <ShapeField
              value={layer.shape}
              readOnly={readOnly}
              onCommit={(shape) => setLayerShape(doc, architecture, layer.id, shape)}
            />
          )}
          {cls && cls.arguments.length > 0 && (
            <>
              <Divider label="Arguments" labelPosition="left" />
              {cls.arguments.map((arg) => (
                <ArgumentField
                  key={arg.name}
                  arg={arg}
                  value={layer.attributes[arg.name]}
                  readOnly={readOnly}
                  onCommit={(v) => set(arg.name, v)}
                />
              ))}
            </>
          )}
          {!cls && layer.layer !== 'Input' && (
            <>
              <Text size="xs" c="dimmed">
                {layer.layer.startsWith('resources.')
                  ? 'An architecture used as a layer takes no arguments.'
                  : readOnly
                    ? 'The arguments set on this layer (the list of all its arguments comes from PyTorch, which readers do not run):'
                    : 'The arguments of this class are not known (the layer list from PyTorch has not arrived, or the class does not exist). Set here:'}
              </Text>
              {Object.entries(layer.attributes).map(([k, v]) => (
                <Text key={k} size="xs" className="df-mono" data-testid={`arg-set-${k}`}>
                  {k}={formatArgument(v)}
                </Text>
              ))}
            </>
          )}
        </Stack>
      </Box>
    </Box>
  );
}

/** One constructor argument, typed as a Python literal; written on Enter or blur once it reads as its type. */
function ArgumentField({
  arg,
  value,
  readOnly,
  onCommit,
}: {
  arg: LayerArgument;
  value: JsonValue | undefined;
  readOnly: boolean;
  onCommit: (v: JsonValue | undefined) => void;
}) {
  const draft = useDraftText(formatArgument(value, arg));
  const text = draft.text;
  const parsed = parseArgumentInput(arg, text);
  const missing = arg.required && value === undefined && text.trim() === '';
  const commit = (): void => {
    if (!parsed.ok) return;
    if (JSON.stringify(parsed.value) === JSON.stringify(value)) return;
    onCommit(parsed.value);
  };
  return (
    <TextInput
      label={
        <Group gap={6} wrap="nowrap">
          <Text size="xs" fw={600} className="df-mono">
            {arg.name}
          </Text>
          <Text size="10px" c="dimmed">
            {arg.annotation ?? describeArgumentTypes(arg)}
          </Text>
        </Group>
      }
      placeholder={arg.required ? '<none>' : (arg.defaultSource ?? formatArgument(arg.default))}
      {...draft.props(commit)}
      readOnly={readOnly}
      error={!parsed.ok ? parsed.error : missing ? 'required: no default' : undefined}
      rightSection={
        value !== undefined && !readOnly && !arg.required ? (
          <Tooltip label={`Back to the default (${arg.defaultSource ?? 'none'})`}>
            <ActionIcon size="sm" aria-label={`Reset ${arg.name}`} onClick={() => onCommit(undefined)}>
              <IconArrowBackUp size={14} />
            </ActionIcon>
          </Tooltip>
        ) : null
      }
      aria-label={arg.name}
      data-testid={`arg-${arg.name}`}
      styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
    />
  );
}

/** An Input's shape: `N, 1, 28, 28` (numbers are sizes, names are symbols chosen at run time). */
function ShapeField({
  value,
  readOnly,
  onCommit,
}: {
  value: JsonValue | undefined;
  readOnly: boolean;
  onCommit: (shape: JsonValue) => void;
}) {
  const shown = Array.isArray(value)
    ? `[${value.join(', ')}]`
    : value === undefined
      ? ''
      : JSON.stringify(value);
  const draft = useDraftText(shown, { revertOnEscape: false });
  const parsed = parseShapeInput(draft.text);
  const checked = parsed.ok ? parseInputShape(parsed.shape) : null;
  const error = !parsed.ok ? parsed.error : checked && 'problem' in checked ? checked.problem : undefined;
  const commit = (): void => {
    if (parsed.ok && !error && JSON.stringify(parsed.shape) !== JSON.stringify(value)) onCommit(parsed.shape);
  };
  return (
    <TextInput
      label="Shape"
      description="Sizes and names; the batch dimension is a name (N)"
      {...draft.props(commit)}
      readOnly={readOnly}
      error={error}
      data-testid="input-shape"
      styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
    />
  );
}
