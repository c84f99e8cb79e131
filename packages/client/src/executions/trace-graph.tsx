import '@xyflow/react/dist/style.css';
import type { JobStatus, OperationInterface, Pipeline, PortSpec } from '@deepforge/core';
import { BUILT_IN_INTERFACES } from '@deepforge/core';
import { useComputedColorScheme } from '@mantine/core';
import type { Edge, NodeChange } from '@xyflow/react';
import {
  Background,
  Controls,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { anyOverlap, layoutGraph } from '../lib/auto-layout.js';
import { inputHandleId, outputHandleId } from '../lib/connection-rules.js';
import type { OpNode } from '../pipelines/graph-model.js';
import { defaultPosition, nodeData, pipelineEdges } from '../pipelines/graph-model.js';
import { NODE_TYPES } from '../pipelines/operation-node.js';

export interface TraceGraphProps {
  pipeline: Pipeline;
  statuses: Readonly<Record<string, JobStatus>>;
  progress: Readonly<Record<string, number | undefined>>;
  /** Interfaces of the project's operations now, for port order and types; ports also come from connections. */
  interfaces: Readonly<Record<string, OperationInterface | null>>;
  selected: string | null;
  onSelect: (node: string) => void;
}

function ports(existing: readonly PortSpec[], names: readonly string[]): PortSpec[] {
  const out = [...existing];
  for (const n of names) if (!out.some((p) => p.name === n)) out.push({ name: n });
  return out;
}

/** The execution trace: the pipeline as it ran, each node filled with its job's status colour, live. */
export function TraceGraph(props: TraceGraphProps) {
  return (
    <ReactFlowProvider>
      <Trace {...props} />
    </ReactFlowProvider>
  );
}

function Trace({ pipeline, statuses, progress, interfaces, selected, onSelect }: TraceGraphProps) {
  const flow = useReactFlow<OpNode>();
  const scheme = useComputedColorScheme('light');
  // The trace is read-only: lay it out afresh when the stored positions are missing or on top of each other.
  const needsLayout =
    pipeline.nodes.some((n) => !n.position) ||
    anyOverlap(
      pipeline.nodes.map((n) => n.position ?? { x: 0, y: 0 }),
      180,
      60,
    );
  const positions = useMemo(
    () =>
      needsLayout
        ? layoutGraph(
            pipeline.nodes.map((n) => ({ id: n.id, width: 190, height: 70 })),
            pipeline.connections.map((c) => ({ source: c.from.node, target: c.to.node })),
          )
        : null,
    [pipeline, needsLayout],
  );
  // The sizes React Flow measured, given back with every new set of nodes: a controlled flow that does not keep
  // them gets nodes without sizes each time a status changes, and React Flow hides a node until it has measured
  // it again, which it may never do when nothing about the node's box changed (an empty trace).
  const [measured, setMeasured] = useState<ReadonlyMap<string, { width: number; height: number }>>(
    () => new Map(),
  );
  const onNodesChange = useCallback((changes: NodeChange<OpNode>[]) => {
    const sized = changes.filter(
      (c): c is Extract<NodeChange<OpNode>, { type: 'dimensions' }> =>
        c.type === 'dimensions' && c.dimensions !== undefined,
    );
    if (sized.length === 0) return;
    setMeasured((prev) => {
      const next = new Map(prev);
      for (const c of sized) next.set(c.id, { width: c.dimensions!.width, height: c.dimensions!.height });
      return next;
    });
  }, []);
  const nodes: OpNode[] = useMemo(
    () =>
      pipeline.nodes.map((n, i) => {
        const data = nodeData(n, { ...interfaces, ...BUILT_IN_INTERFACES }, []);
        const status = statuses[n.id];
        const fraction = progress[n.id];
        return {
          id: n.id,
          type: 'operation',
          position: positions?.get(n.id) ?? n.position ?? defaultPosition(i),
          ...(measured.has(n.id) ? { measured: measured.get(n.id) } : {}),
          selected: n.id === selected,
          draggable: false,
          connectable: false,
          deletable: false,
          data: {
            ...data,
            // Ports as the run used them, whatever the operation looks like today.
            inputs: ports(
              data.inputs,
              pipeline.connections.filter((c) => c.to.node === n.id).map((c) => c.to.port),
            ),
            outputs: ports(
              data.outputs,
              pipeline.connections.filter((c) => c.from.node === n.id).map((c) => c.from.port),
            ),
            errors: [],
            warnings: [],
            broken: false,
            ...(status ? { status } : {}),
            ...(fraction !== undefined && status === 'running' ? { progress: fraction } : {}),
          },
        };
      }),
    [pipeline, statuses, progress, interfaces, selected, positions, measured],
  );
  const edges: Edge[] = useMemo(
    () =>
      pipelineEdges(pipeline, {}).map((e) => {
        const running = statuses[e.target] === 'running';
        return {
          ...e,
          sourceHandle: e.sourceHandle ?? outputHandleId(''),
          targetHandle: e.targetHandle ?? inputHandleId(''),
          animated: running,
          selectable: false,
        };
      }),
    [pipeline, statuses],
  );
  // Fit when the nodes first have sizes and whenever the pane changes size, until the user pans or zooms.
  const initialized = useNodesInitialized();
  const userMoved = useRef(false);
  const pane = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (initialized && !userMoved.current) void flow.fitView({ padding: 0.15, maxZoom: 1.1 });
  }, [initialized, flow]);
  useEffect(() => {
    const el = pane.current;
    if (!el) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ro = new ResizeObserver(() => {
      // After React Flow has measured the new size itself.
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!userMoved.current) void flow.fitView({ padding: 0.15, maxZoom: 1.1 });
      }, 60);
    });
    ro.observe(el);
    return () => {
      clearTimeout(timer);
      ro.disconnect();
    };
  }, [flow]);
  return (
    <ReactFlow<OpNode>
      ref={pane}
      onMoveStart={(event) => {
        if (event) userMoved.current = true;
      }}
      nodes={nodes}
      onNodesChange={onNodesChange}
      edges={edges}
      nodeTypes={NODE_TYPES}
      onNodeClick={(_, n) => onSelect(n.id)}
      nodesDraggable={false}
      nodesConnectable={false}
      elementsSelectable
      colorMode={scheme}
      defaultEdgeOptions={{ type: 'smoothstep' }}
      attributionPosition="top-right"
      minZoom={0.2}
      maxZoom={2}
    >
      <Background gap={20} size={1} />
      <Controls showInteractive={false} position="bottom-left" />
    </ReactFlow>
  );
}
