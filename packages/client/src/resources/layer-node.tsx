import { Badge, Group, Text, Tooltip } from '@mantine/core';
import { IconAlertTriangle, IconExclamationCircle } from '@tabler/icons-react';
import type { Edge, EdgeProps, Node, NodeProps } from '@xyflow/react';
import { BaseEdge, EdgeLabelRenderer, getSmoothStepPath, Handle, Position } from '@xyflow/react';
import { createContext, memo, useContext } from 'react';

/** Selects an edge by its ends (a click on its shape label, which is outside the edge's SVG). */
export const SelectEdgeContext = createContext<(edge: { from: string; to: string }) => void>(() => {});

/** What a layer node draws. */
export interface LayerNodeData extends Record<string, unknown> {
  layerId: string;
  /** The class (`Conv2d`, `utils.blocks.Residual`, `resources.Encoder`, `Input`). */
  layerClass: string;
  /** Input layers: the declared shape. */
  shape: string | null;
  /** `name=value` lines. */
  args: string[];
  /** Parameters, when PyTorch has counted them. */
  parameters: number | null;
  /** The output's shape, as text, when known. */
  outputShape: string | null;
  errors: string[];
  warnings: string[];
  output: boolean;
  /** It did not run because a layer before it failed. */
  skipped: boolean;
}
export type LayerNode = Node<LayerNodeData, 'layer'>;

/** What a shape edge draws: the tensor's shape, when known. */
export interface ShapeEdgeData extends Record<string, unknown> {
  shape: string | null;
  from: string;
  to: string;
}
export type ShapeEdge = Edge<ShapeEdgeData, 'shape'>;

/**
 * A layer: its class, id, key arguments (required ones unset as `<none>`) and parameter count; the problems
 * PyTorch or validation found on it. One input handle on top and one output handle at the bottom: a merge takes
 * several edges into its input, in the order they were drawn.
 */
export const LayerNodeView = memo(function LayerNodeView({ data, selected }: NodeProps<LayerNode>) {
  const isInput = data.layerClass === 'Input';
  const invalid = data.errors.length > 0;
  return (
    <div
      className="df-node"
      data-selected={selected}
      data-invalid={invalid}
      data-testid="layer-node"
      data-layer-id={data.layerId}
      data-errors={data.errors.length}
      aria-label={`${data.layerClass} layer ${data.layerId}`}
      style={{ minWidth: 180 }}
    >
      {!isInput && (
        <Handle
          type="target"
          position={Position.Top}
          className="df-handle df-handle-in"
          data-testid="layer-in"
        />
      )}
      <div className="df-node-header">
        <Text size="xs" fw={700} truncate style={{ flex: 1 }} data-testid="layer-class">
          {data.layerClass}
        </Text>
        {data.output && (
          <Badge size="xs" variant="light" color="teal">
            output
          </Badge>
        )}
        {invalid && (
          <Tooltip label={data.errors.join('\n')} multiline w={360} style={{ whiteSpace: 'pre-line' }}>
            <Badge
              color="red"
              variant="filled"
              size="xs"
              leftSection={<IconExclamationCircle size={10} />}
              data-testid="layer-errors"
            >
              {data.errors.length}
            </Badge>
          </Tooltip>
        )}
        {!invalid && data.warnings.length > 0 && (
          <Tooltip label={data.warnings.join('\n')} multiline w={320}>
            <IconAlertTriangle size={14} color="var(--mantine-color-orange-6)" />
          </Tooltip>
        )}
      </div>
      <div className="df-node-body">
        <Group gap={4} wrap="nowrap">
          <Text size="10px" lh={1.45} className="df-mono" truncate>
            {data.layerId}
          </Text>
          {data.parameters !== null && data.parameters > 0 && (
            <Text size="10px" lh={1.45} ml="auto" fw={600} data-testid="layer-params">
              {data.parameters.toLocaleString('en-US')} params
            </Text>
          )}
        </Group>
        {isInput && (
          <Text size="10px" lh={1.45} className="df-mono" data-testid="layer-shape">
            {data.shape ?? 'no shape'}
          </Text>
        )}
        {data.args.map((line) => (
          <Text
            key={line}
            size="10px"
            lh={1.45}
            className="df-mono"
            truncate
            c={line.endsWith('=<none>') ? 'red' : undefined}
          >
            {line}
          </Text>
        ))}
        {invalid && (
          <Text size="10px" lh={1.35} c="red" lineClamp={3} data-testid="layer-error">
            {data.errors[0]}
          </Text>
        )}
        {data.skipped && !invalid && (
          <Text size="10px" c="dimmed">
            not run: a layer before it failed
          </Text>
        )}
      </div>
      <Handle
        type="source"
        position={Position.Bottom}
        className="df-handle df-handle-out"
        data-testid="layer-out"
      />
    </div>
  );
});

/** An edge with the shape of the tensor flowing through it on a label (hover: the full text). */
export const ShapeEdgeView = memo(function ShapeEdgeView(props: EdgeProps<ShapeEdge>) {
  const [path, labelX, labelY] = getSmoothStepPath(props);
  const shape = props.data?.shape ?? null;
  const select = useContext(SelectEdgeContext);
  const from = props.data?.from ?? props.source;
  const to = props.data?.to ?? props.target;
  return (
    <>
      <BaseEdge
        id={props.id}
        path={path}
        markerEnd={props.markerEnd}
        style={props.style}
        interactionWidth={0}
      />
      {/* The wide invisible path React Flow clicks and hovers on, with the shape as its tooltip. */}
      <path d={path} fill="none" strokeOpacity={0} strokeWidth={16} className="react-flow__edge-interaction">
        <title>{`${from} → ${to}${shape ? `: ${shape}` : ''}`}</title>
      </path>
      {shape && (
        <EdgeLabelRenderer>
          <div
            onClick={() => select({ from, to })}
            className="nodrag nopan df-shape-label"
            data-testid="edge-shape"
            data-edge={`${props.data?.from}->${props.data?.to}`}
            data-selected={props.selected}
            title={`${props.data?.from} → ${props.data?.to}: ${shape}`}
            style={{ transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)` }}
          >
            {shape}
          </div>
        </EdgeLabelRenderer>
      )}
    </>
  );
});

export const LAYER_NODE_TYPES = { layer: LayerNodeView };
export const SHAPE_EDGE_TYPES = { shape: ShapeEdgeView };
