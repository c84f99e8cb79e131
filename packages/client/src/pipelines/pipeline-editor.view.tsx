import '@xyflow/react/dist/style.css';
import '@mantine/spotlight/styles.css';
import type { Connection as CoreConnection, Pipeline } from '@deepforge/core';
import { executePipelineProblem, newOperationSource, validatePipeline } from '@deepforge/core';
import type { ExecutionDetailsDto } from '@deepforge/protocol';
import {
  addConnection,
  addNode,
  moveNode,
  putOperation,
  removeConnection,
  removeNode,
} from '@deepforge/protocol';
import {
  ActionIcon,
  Box,
  Button,
  Center,
  Group,
  Kbd,
  Stack,
  Text,
  Tooltip,
  useComputedColorScheme,
} from '@mantine/core';
import { useHotkeys } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { createSpotlight } from '@mantine/spotlight';
import {
  IconArrowBackUp,
  IconArrowForwardUp,
  IconHierarchy2,
  IconHistory,
  IconMaximize,
  IconPlayerPlayFilled,
  IconPlus,
} from '@tabler/icons-react';
import type { Edge, EdgeChange, FinalConnectionState, NodeChange, OnConnect } from '@xyflow/react';
import {
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { useArtifactNames } from '../artifacts/use-artifact-names.js';
import {
  architecturesOf,
  operationCodes,
  operationInterfaces,
  parseOperation,
  pipelineOf,
} from '../collab/doc-read.js';
import { useProjectAccess } from '../auth/project-access.context.js';
import { localEdit } from '../collab/local-edit.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import { anyOverlap, layoutGraph } from '../lib/auto-layout.js';
import { belowSources } from '../lib/node-placement.js';
import { checkConnection, connectionFromHandles, portOfHandle } from '../lib/connection-rules.js';
import { READERS_CANNOT_RUN } from '../lib/project-capabilities.js';
import { identifierNameProblem } from '../lib/names.js';
import { uniqueNodeId } from '../lib/node-id.js';
import { NamePrompt } from '../shell/name-prompt.js';
import { ViewCrumb, ViewToolbar } from '../shell/project-layout.js';
import { ProblemsBadge } from '../ui/problems-badge.js';
import { ToolbarIcon } from '../ui/toolbar-icon.js';
import { AddOperationSpotlight } from './add-operation.spotlight.js';
import { useExtensionOperations } from './use-extension-operations.js';
import { ExecuteModal } from './execute.modal.js';
import { ExecutionTray } from './execution-tray.js';
import type { OpNode } from './graph-model.js';
import { defaultPosition, nodeData, pipelineEdges } from './graph-model.js';
import { NodePanel } from './node-panel.js';
import { NODE_TYPES } from './operation-node.js';
import { usePipelineUndo } from './use-pipeline-undo.js';

export function PipelineEditorView() {
  const { projectId = '', pipeline: name = '' } = useParams();
  const pipeline = useDocSelector((d) => pipelineOf(d, name), [name]);
  if (!pipeline) {
    return (
      <Center h="100%" data-testid="pipeline-not-found">
        <Stack align="center" gap={4}>
          <Text fw={600}>There is no pipeline “{name}”</Text>
          <Text size="sm" c="dimmed">
            It may have been renamed or deleted.{' '}
            <Link to={`/projects/${projectId}/pipelines`}>All pipelines</Link>
          </Text>
        </Stack>
      </Center>
    );
  }
  return (
    <ReactFlowProvider>
      <PipelineEditor projectId={projectId} pipeline={pipeline} />
    </ReactFlowProvider>
  );
}

const NODE_SIZE = { width: 190, height: 84 };

function PipelineEditor({ projectId, pipeline }: { projectId: string; pipeline: Pipeline }) {
  const { doc } = useProjectDoc();
  const navigate = useNavigate();
  const flow = useReactFlow<OpNode>();
  const scheme = useComputedColorScheme('light');
  const { canEdit, canRun } = useProjectAccess();
  const name = pipeline.name;
  const codes = useDocSelector((d) => operationCodes(d), []);
  const interfaces = useMemo(() => operationInterfaces(codes), [codes]);
  const artifacts = useArtifactNames(projectId);
  const resources = useDocSelector((d) => architecturesOf(d), []);
  const architectureNames = useMemo(
    () => Object.keys(resources).sort((a, b) => a.localeCompare(b)),
    [resources],
  );
  const diagnostics = useMemo(
    () =>
      validatePipeline(pipeline, interfaces, {
        resources,
        ...(artifacts.known ? { artifactNames: new Set(artifacts.names) } : {}),
      }),
    [pipeline, interfaces, resources, artifacts.known, artifacts.names],
  );
  const errors = diagnostics.filter((d) => d.severity === 'error');
  // Why Execute is refused before its dialog opens (the server refuses the same).
  const executeBlocked = !canRun ? READERS_CANNOT_RUN : executePipelineProblem(pipeline);
  const [spotlightStore, addSpotlight] = useMemo(() => createSpotlight(), []);
  const [executeOpen, setExecuteOpen] = useState(false);
  const [trayOpen, setTrayOpen] = useState(false);
  const [highlight, setHighlight] = useState<string | null>(null);
  const [newOperation, setNewOperation] = useState(false);
  const canvasRef = useRef<HTMLDivElement>(null);
  const undo = usePipelineUndo(doc, name);
  const [searchParams] = useSearchParams();

  // Graph state: positions and measurements live here while dragging; the document is written on drop.
  const [nodes, setNodes] = useState<OpNode[]>([]);
  const [edges, setEdges] = useState<Edge[]>([]);
  useEffect(() => {
    setNodes((prev) => {
      const old = new Map(prev.map((n) => [n.id, n]));
      return pipeline.nodes.map((n, i) => {
        const o = old.get(n.id);
        const position = o?.dragging ? o.position : (n.position ?? o?.position ?? defaultPosition(i));
        return {
          ...(o ?? {}),
          id: n.id,
          type: 'operation',
          position,
          data: nodeData(n, interfaces, diagnostics),
        } as OpNode;
      });
    });
  }, [pipeline, interfaces, diagnostics]);
  useEffect(() => {
    setEdges((prev) => {
      const selected = new Set(prev.filter((e) => e.selected).map((e) => e.id));
      return pipelineEdges(pipeline, interfaces).map((e) => ({ ...e, selected: selected.has(e.id) }));
    });
  }, [pipeline, interfaces]);

  const onNodesChange = useCallback(
    (changes: NodeChange<OpNode>[]) => setNodes((n) => applyNodeChanges(changes, n)),
    [],
  );
  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => setEdges((e) => applyEdgeChanges(changes, e)),
    [],
  );

  const selected = nodes.filter((n) => n.selected);
  const selectedNode =
    selected.length === 1 ? pipeline.nodes.find((n) => n.id === selected[0]?.id) : undefined;

  // Fit once the nodes have sizes; lay out pipelines that have never been arranged (no positions at all), or whose
  // nodes are drawn on top of each other (made elsewhere, by hand in a file or with another tool).
  const initialized = useNodesInitialized();
  const fitted = useRef(false);
  useEffect(() => {
    if (!initialized || fitted.current) return;
    fitted.current = true;
    const measured = flow.getNodes();
    // Any two boxes that cross (nodes merely close stay as they are).
    const overlapping = anyOverlap(
      measured.map((n) => n.position),
      Math.min(...measured.map((n) => n.measured?.width ?? NODE_SIZE.width)),
      Math.min(...measured.map((n) => n.measured?.height ?? NODE_SIZE.height)),
    );
    const unarranged = pipeline.nodes.every((n) => !n.position);
    if (!canEdit || pipeline.nodes.length < 2 || !(unarranged || overlapping)) {
      void flow.fitView({ padding: 0.2, maxZoom: 1.2 });
    } else {
      // Positions someone chose are not rewritten silently: the editor says it arranged them and offers them back.
      const before = new Map(
        pipeline.nodes.flatMap((n) => (n.position ? [[n.id, n.position] as const] : [])),
      );
      autoLayout();
      if (!unarranged) {
        notifications.show({
          id: 'arranged-on-open',
          title: 'Nodes arranged',
          message: (
            <Stack gap={6} align="flex-start">
              <Text size="sm">Some nodes were on top of each other, so the pipeline was laid out again.</Text>
              <Button
                size="compact-xs"
                variant="light"
                data-testid="restore-positions"
                onClick={() => {
                  undo.edit(() => {
                    for (const [id, p] of before) moveNode(doc, name, id, p);
                  });
                  notifications.hide('arranged-on-open');
                }}
              >
                Put them back
              </Button>
            </Stack>
          ),
          autoClose: 10_000,
        });
      }
    }
    // Opened from an execution's job (?node=): that node, selected and in view.
    const wanted = searchParams.get('node');
    const target = wanted ? flow.getNode(wanted) : undefined;
    if (target) {
      setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === target.id })));
      void flow.setCenter(target.position.x + 90, target.position.y + 40, { zoom: 1 });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [initialized]);

  function autoLayout(): void {
    if (!canEdit) return;
    const current = flow.getNodes();
    const positions = layoutGraph(
      current.map((n) => ({
        id: n.id,
        width: n.measured?.width ?? NODE_SIZE.width,
        height: n.measured?.height ?? NODE_SIZE.height,
      })),
      pipeline.connections.map((c) => ({ source: c.from.node, target: c.to.node })),
    );
    undo.edit(() => {
      for (const [id, p] of positions) moveNode(doc, name, id, p);
    });
    setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1.2, duration: 300 }), 50);
  }

  function viewportCenter(): { x: number; y: number } {
    const rect = canvasRef.current?.getBoundingClientRect();
    if (!rect) return { x: 0, y: 0 };
    const p = flow.screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 3 });
    // Put it where no node is: step right, then down, from the middle of the view.
    const boxes = flow.getNodes().map((n) => ({
      x: n.position.x,
      y: n.position.y,
      w: n.measured?.width ?? NODE_SIZE.width,
      h: n.measured?.height ?? NODE_SIZE.height,
    }));
    const free = (x: number, y: number) =>
      boxes.every(
        (b) =>
          x + NODE_SIZE.width + 20 <= b.x ||
          b.x + b.w + 20 <= x ||
          y + NODE_SIZE.height + 20 <= b.y ||
          b.y + b.h + 20 <= y,
      );
    const cx = Math.round(p.x - NODE_SIZE.width / 2);
    const cy = Math.round(p.y - NODE_SIZE.height / 2);
    for (let ring = 0; ring < 12; ring++) {
      for (const [dx, dy] of [
        [ring, 0],
        [-ring, 0],
        [0, ring],
        [ring, ring],
        [-ring, ring],
      ] as const) {
        const x = cx + dx * (NODE_SIZE.width + 30);
        const y = cy + dy * (NODE_SIZE.height + 30);
        if (free(x, y)) return { x, y };
      }
    }
    const x = cx;
    const y = cy;
    return { x, y };
  }

  /**
   * Nodes this editor placed itself (added at the middle of the view), until someone drags them: connecting one
   * below a node moves it under that node, so what feeds it is drawn above it (positions a user chose stay).
   */
  const placedHere = useRef(new Set<string>());

  function placeBelowSources(target: string, source: string): void {
    if (!placedHere.current.has(target)) return;
    const boxes = flow.getNodes().map((n) => ({
      id: n.id,
      x: n.position.x,
      y: n.position.y,
      width: n.measured?.width ?? NODE_SIZE.width,
      height: n.measured?.height ?? NODE_SIZE.height,
    }));
    const box = boxes.find((b) => b.id === target);
    const feeding = new Set([
      source,
      ...pipeline.connections.filter((c) => c.to.node === target).map((c) => c.from.node),
    ]);
    if (!box) return;
    const to = belowSources(
      box,
      boxes.filter((b) => feeding.has(b.id)),
      boxes,
    );
    if (to) moveNode(doc, name, target, to);
  }

  function add(operation: string): void {
    const id = uniqueNodeId(
      operation,
      pipeline.nodes.map((n) => n.id),
    );
    const position = viewportCenter();
    undo.edit(() => addNode(doc, name, { id, operation, attributes: {}, references: {}, position }));
    placedHere.current.add(id);
    // Select the new node so its attributes can be set right away.
    setTimeout(() => setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === id }))), 0);
  }

  const { extensions, addFromExtension } = useExtensionOperations(projectId, add);

  const tryConnect = (c: CoreConnection | null): void => {
    if (!c || !canEdit) return;
    const check = checkConnection(pipeline, interfaces, c);
    if (!check.ok) {
      notifications.show({
        id: 'connection-refused',
        color: 'red',
        title: 'Cannot connect',
        message: check.reason,
      });
      return;
    }
    undo.edit(() => {
      addConnection(doc, name, c);
      placeBelowSources(c.to.node, c.from.node);
    });
    if (check.warning)
      notifications.show({ color: 'orange', title: 'Connected, with a warning', message: check.warning });
  };

  const onConnect: OnConnect = (params) => tryConnect(connectionFromHandles(params));
  const isValidConnection = (
    edge:
      Edge | { source: string; target: string; sourceHandle?: string | null; targetHandle?: string | null },
  ) => {
    const c = connectionFromHandles(edge);
    return c !== null && checkConnection(pipeline, interfaces, c).ok;
  };
  // A drop on a handle that isValidConnection refused never reaches onConnect: say why here.
  const onConnectEnd = (_: MouseEvent | TouchEvent, state: FinalConnectionState) => {
    if (state.isValid !== false || !state.fromHandle || !state.toHandle) return;
    const [src, dst] =
      state.fromHandle.type === 'source'
        ? [state.fromHandle, state.toHandle]
        : [state.toHandle, state.fromHandle];
    if (src.type === dst.type) {
      notifications.show({
        id: 'connection-refused',
        color: 'red',
        title: 'Cannot connect',
        message: 'connect an output (bottom) to an input (top)',
      });
      return;
    }
    const c = connectionFromHandles({
      source: src.nodeId,
      sourceHandle: src.id ?? null,
      target: dst.nodeId,
      targetHandle: dst.id ?? null,
    });
    const check = c ? checkConnection(pipeline, interfaces, c) : null;
    if (check && !check.ok)
      notifications.show({
        id: 'connection-refused',
        color: 'red',
        title: 'Cannot connect',
        message: check.reason,
      });
  };

  const onNodeDragStop = (_: unknown, __: OpNode, dragged: OpNode[]) => {
    if (!canEdit) return;
    undo.edit(() => {
      for (const n of dragged) {
        placedHere.current.delete(n.id);
        moveNode(doc, name, n.id, { x: Math.round(n.position.x), y: Math.round(n.position.y) });
      }
    });
  };
  // One callback for a deletion, so a node and the edges that went with it are one undo step.
  const onDelete = ({ nodes: goneNodes, edges: goneEdges }: { nodes: OpNode[]; edges: Edge[] }) => {
    if (!canEdit) return;
    undo.edit(() => {
      for (const n of goneNodes) removeNode(doc, name, n.id);
      for (const e of goneEdges) {
        const fromPort = portOfHandle(e.sourceHandle);
        const toPort = portOfHandle(e.targetHandle);
        if (fromPort && toPort)
          removeConnection(doc, name, {
            from: { node: e.source, port: fromPort },
            to: { node: e.target, port: toPort },
          });
      }
    });
  };

  const openAdd = (): void => {
    if (canEdit) addSpotlight.open();
  };
  useHotkeys([
    ['a', openAdd],
    ['shift+a', openAdd],
    ['l', () => autoLayout()],
    ['f', () => void flow.fitView({ padding: 0.2, duration: 300 })],
    ['mod+Enter', () => executeBlocked === undefined && setExecuteOpen(true)],
    ['e', () => setTrayOpen((o) => !o)],
    ['Escape', () => setNodes((ns) => ns.map((n) => ({ ...n, selected: false })))],
    ['mod+z', () => undo.undo()],
    ['mod+shift+z', () => undo.redo()],
    ['mod+y', () => undo.redo()],
  ]);

  const operationList = useMemo(
    () =>
      Object.keys(codes)
        .sort((a, b) => a.localeCompare(b))
        .map((n) => ({ name: n, iface: parseOperation(n, codes[n] ?? '').usable })),
    [codes],
  );

  const onStarted = (e: ExecutionDetailsDto): void => {
    setTrayOpen(true);
    setHighlight(e.id);
    // Short, and gone once used: a toast kept under the pointer stays (hovering pauses it), and it covered the
    // execution view's console for over 30 s.
    const id = `execution-started-${e.id}`;
    notifications.show({
      id,
      color: 'green',
      title: 'Execution started',
      autoClose: 4000,
      message: (
        <Group gap="xs" justify="space-between" wrap="nowrap">
          <Text size="sm" truncate>
            {e.name}
          </Text>
          <Button
            size="compact-xs"
            variant="light"
            onClick={() => {
              notifications.hide(id);
              void navigate(`/projects/${projectId}/executions/${e.id}`);
            }}
          >
            Open execution
          </Button>
        </Group>
      ),
    });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar
        testId="pipeline-toolbar"
        title={
          <Group gap={6} wrap="nowrap">
            <ViewCrumb
              parent="Pipelines"
              to={`/projects/${projectId}/pipelines`}
              name={name}
              testId="pipeline-title"
            />
            <ProblemsBadge
              problems={diagnostics.map((d) => ({ severity: d.severity, message: d.message, at: d.node }))}
              onPick={(nodeId) => {
                setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === nodeId })));
                const n = flow.getNode(nodeId);
                if (n) void flow.setCenter(n.position.x + 90, n.position.y + 40, { zoom: 1, duration: 300 });
              }}
            />
          </Group>
        }
      >
        {canEdit && (
          <Tooltip label="Add operation (A)">
            <Button
              variant="default"
              leftSection={<IconPlus size={14} />}
              onClick={openAdd}
              data-testid="add-operation"
            >
              Add operation
            </Button>
          </Tooltip>
        )}
        {canEdit && (
          <ToolbarIcon
            tooltip="Auto-layout (L)"
            label="Auto-layout"
            onClick={autoLayout}
            testId="auto-layout"
          >
            <IconHierarchy2 size={16} />
          </ToolbarIcon>
        )}
        {canEdit && (
          <ToolbarIcon
            tooltip="Undo your last edit (Ctrl+Z)"
            label="Undo"
            onClick={undo.undo}
            disabled={!undo.canUndo}
            testId="undo"
          >
            <IconArrowBackUp size={16} />
          </ToolbarIcon>
        )}
        {canEdit && (
          <ToolbarIcon
            tooltip="Redo (Ctrl+Shift+Z)"
            label="Redo"
            onClick={undo.redo}
            disabled={!undo.canRedo}
            testId="redo"
          >
            <IconArrowForwardUp size={16} />
          </ToolbarIcon>
        )}
        <ToolbarIcon
          tooltip="Fit to view (F)"
          label="Fit to view"
          onClick={() => void flow.fitView({ padding: 0.2, duration: 300 })}
        >
          <IconMaximize size={16} />
        </ToolbarIcon>
        <ToolbarIcon
          tooltip="Executions of this pipeline (E)"
          label="Executions of this pipeline"
          onClick={() => setTrayOpen((o) => !o)}
          active={trayOpen}
          testId="toggle-execution-tray"
        >
          <IconHistory size={16} />
        </ToolbarIcon>
        <Tooltip label={executeBlocked ?? 'Execute pipeline (Ctrl+Enter)'}>
          <Button
            color="yellow"
            c="dark"
            leftSection={<IconPlayerPlayFilled size={14} />}
            // data-disabled, not disabled: a disabled button gets no hover, and the tooltip says why.
            data-disabled={executeBlocked !== undefined || undefined}
            aria-disabled={executeBlocked !== undefined || undefined}
            aria-description={executeBlocked}
            onClick={() => executeBlocked === undefined && setExecuteOpen(true)}
            data-testid="execute-pipeline"
          >
            Execute
          </Button>
        </Tooltip>
      </ViewToolbar>
      <Box className="df-fill" style={{ display: 'flex' }}>
        <Box
          ref={canvasRef}
          className="df-fill"
          style={{ position: 'relative' }}
          data-testid="pipeline-canvas"
        >
          <ReactFlow<OpNode>
            nodes={nodes}
            edges={edges}
            nodeTypes={NODE_TYPES}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onConnectEnd={canEdit ? onConnectEnd : undefined}
            nodesDraggable={canEdit}
            nodesConnectable={canEdit}
            edgesReconnectable={false}
            isValidConnection={isValidConnection}
            onNodeDragStop={onNodeDragStop}
            onDelete={onDelete}
            onNodeDoubleClick={(_, n) => {
              if (!n.data.builtIn) void navigate(`/projects/${projectId}/operations/${n.data.operation}`);
            }}
            deleteKeyCode={canEdit ? ['Delete', 'Backspace'] : null}
            colorMode={scheme}
            minZoom={0.2}
            maxZoom={2}
            snapToGrid
            snapGrid={[10, 10]}
            defaultEdgeOptions={{ type: 'smoothstep' }}
            attributionPosition="top-right"
          >
            <Background gap={20} size={1} />
            <Controls showInteractive={false} position="bottom-left" />
            <MiniMap pannable zoomable position="bottom-right" style={{ width: 160, height: 100 }} />
          </ReactFlow>
          {pipeline.nodes.length === 0 && (
            <Center
              style={{ position: 'absolute', inset: 0, pointerEvents: 'none' }}
              data-testid="pipeline-empty"
            >
              <Stack align="center" gap={6}>
                <Text fw={600}>An empty pipeline</Text>
                {canEdit && (
                  <Text size="sm" c="dimmed">
                    Press <Kbd>A</Kbd> or the + button to add an operation; drag from an output (bottom) to an
                    input (top) to connect.
                  </Text>
                )}
              </Stack>
            </Center>
          )}
          {canEdit && (
            <Tooltip label="Add operation (A)" position="left">
              <ActionIcon
                size={48}
                radius="xl"
                variant="filled"
                color="red"
                aria-label="Add operation"
                onClick={openAdd}
                style={{ position: 'absolute', right: 24, bottom: 130, zIndex: 5 }}
                data-testid="add-operation-fab"
              >
                <IconPlus size={24} />
              </ActionIcon>
            </Tooltip>
          )}
        </Box>
        {selectedNode && (
          <NodePanel
            key={selectedNode.id}
            projectId={projectId}
            pipeline={pipeline}
            node={selectedNode}
            interfaces={interfaces}
            diagnostics={diagnostics}
            artifactNames={artifacts.names}
            architectureNames={architectureNames}
            readOnly={!canEdit}
            onClose={() => setNodes((ns) => ns.map((n) => ({ ...n, selected: false })))}
            edit={undo.edit}
            onRenamed={(id) =>
              setTimeout(() => setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === id }))), 0)
            }
          />
        )}
      </Box>
      {trayOpen && (
        <ExecutionTray
          projectId={projectId}
          pipeline={name}
          highlight={highlight}
          onClose={() => setTrayOpen(false)}
        />
      )}

      <AddOperationSpotlight
        store={spotlightStore}
        operations={operationList}
        extensions={extensions}
        onAdd={add}
        onAddFromExtension={addFromExtension}
        onNew={() => setNewOperation(true)}
      />
      {newOperation && (
        <NamePrompt
          title="New operation"
          label="Class name"
          placeholder="TrainModel"
          description="Creates the operation, adds it to this pipeline and opens its editor."
          confirm="Create and edit"
          validate={(n) => identifierNameProblem(n, Object.keys(codes))}
          onClose={() => setNewOperation(false)}
          onSubmit={(op) => {
            localEdit(doc, () => putOperation(doc, op, newOperationSource(op)));
            add(op);
            void navigate(`/projects/${projectId}/operations/${op}?from=${encodeURIComponent(name)}`);
          }}
          testId="new-operation-modal"
        />
      )}
      {executeOpen && canRun && (
        <ExecuteModal
          projectId={projectId}
          pipeline={name}
          errors={errors}
          onClose={() => setExecuteOpen(false)}
          onStarted={onStarted}
        />
      )}
    </Box>
  );
}
