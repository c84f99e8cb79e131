import '@xyflow/react/dist/style.css';
import '@mantine/spotlight/styles.css';
import type { Architecture, ArchitectureShapeReport, LayerClass } from '@deepforge/core';
import {
  ArchitectureCodeError,
  generateArchitectureCode,
  INPUT_LAYER,
  validateArchitecture,
} from '@deepforge/core';
import { addEdge, addLayer, moveLayer, removeEdge, removeLayer, setOutputs } from '@deepforge/protocol';
import {
  Badge,
  Box,
  Button,
  Center,
  Group,
  Kbd,
  Loader,
  Stack,
  Text,
  Tooltip,
  useComputedColorScheme,
} from '@mantine/core';
import { useHotkeys } from '@mantine/hooks';
import { notifications } from '@mantine/notifications';
import { createSpotlight } from '@mantine/spotlight';
import {
  IconArrowBarToDown,
  IconArrowBarToUp,
  IconCode,
  IconHierarchy2,
  IconMaximize,
  IconPlus,
  IconTable,
} from '@tabler/icons-react';
import type { Connection, EdgeChange, NodeChange, XYPosition } from '@xyflow/react';
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useProjectAccess } from '../auth/project-access.context.js';
import { CodeView } from '../code/code-view.js';
import { architecturesOf } from '../collab/doc-read.js';
import { useDocSelector, useProjectDoc } from '../collab/project-doc.context.js';
import type { InsertAt } from '../lib/architecture-edit.js';
import { descendants, edgeProblem, planInsert, planRemove } from '../lib/architecture-edit.js';
import { layoutGraph } from '../lib/auto-layout.js';
import { useStableHandler } from '../lib/use-stable-handler.js';
import { ViewCrumb, ViewToolbar } from '../shell/project-layout.js';
import { ProblemsBadge, type EditorProblem } from '../ui/problems-badge.js';
import { ToolbarIcon } from '../ui/toolbar-icon.js';
import { AddLayerSpotlight } from './add-layer.spotlight.js';
import { LayerPanel } from './layer-panel.js';
import type { LayerNode, ShapeEdge } from './layer-node.js';
import { LAYER_NODE_TYPES, SelectEdgeContext, SHAPE_EDGE_TYPES } from './layer-node.js';
import type { FlowLocal } from './layer-graph.js';
import { layerNodes, shapeEdges, STEP } from './layer-graph.js';
import { SummaryModal } from './summary.modal.js';
import { useArchitectureCheck, useLayerCatalog, useUtilsKey } from './use-architecture-check.js';

/** The arguments of the built-in layers that have some (torch.nn's come from the catalog). */
const BUILT_IN_CLASSES: Record<string, LayerClass> = {
  Concat: {
    name: 'Concat',
    source: 'torch',
    doc: 'Concatenates its inputs along a dimension (torch.cat)',
    arguments: [{ name: 'dim', types: ['int'], required: false, default: 1, defaultSource: '1' }],
    extraArguments: false,
    inputs: { min: 1, max: null },
  },
  Select: {
    name: 'Select',
    source: 'torch',
    doc: 'Picks one result, by index, of a layer returning several',
    arguments: [{ name: 'index', types: ['int'], required: true }],
    extraArguments: false,
    inputs: { min: 1, max: 1 },
  },
  Add: {
    name: 'Add',
    source: 'torch',
    doc: 'Sums its inputs (a residual connection)',
    arguments: [],
    extraArguments: false,
    inputs: { min: 1, max: null },
  },
};

const NODE_SIZE = { width: 190, height: 80 };

export function ArchitectureEditorView() {
  const { projectId = '', name = '' } = useParams();
  const resources = useDocSelector((d) => architecturesOf(d), []);
  const arch = Object.hasOwn(resources, name) ? resources[name] : undefined;
  if (!arch) {
    return (
      <Center h="100%" data-testid="resource-not-found">
        <Stack align="center" gap={4}>
          <Text fw={600}>There is no architecture “{name}”</Text>
          <Text size="sm" c="dimmed">
            It may have been renamed or deleted.{' '}
            <Link to={`/projects/${projectId}/resources`}>All resources</Link>
          </Text>
        </Stack>
      </Center>
    );
  }
  return (
    <ReactFlowProvider>
      <ArchitectureEditor projectId={projectId} arch={arch} resources={resources} />
    </ReactFlowProvider>
  );
}

interface Selection {
  layer: string | null;
  edge: { from: string; to: string } | null;
}

function ArchitectureEditor({
  projectId,
  arch,
  resources,
}: {
  projectId: string;
  arch: Architecture;
  resources: Record<string, Architecture>;
}) {
  const { doc } = useProjectDoc();
  const flow = useReactFlow<LayerNode, ShapeEdge>();
  const scheme = useComputedColorScheme('light');
  const { canEdit } = useProjectAccess();
  const name = arch.name;
  const utilsKey = useUtilsKey();
  // The catalog and checks run the project's code (custom layers): writers only, as on the server.
  const { catalog, error: catalogError } = useLayerCatalog(projectId, utilsKey, canEdit);
  const check = useArchitectureCheck(projectId, arch, utilsKey, canEdit);
  const shapes: ArchitectureShapeReport | null = (check.result?.shapes ??
    null) as ArchitectureShapeReport | null;
  const diagnostics = useMemo(
    () => validateArchitecture(arch, { resources, ...(catalog ? { catalog } : {}) }),
    [arch, resources, catalog],
  );
  const reports = useMemo(() => new Map((shapes?.layers ?? []).map((l) => [l.id, l])), [shapes]);
  const classOf = (layerClass: string): LayerClass | null =>
    BUILT_IN_CLASSES[layerClass] ?? catalog?.layers[layerClass] ?? null;
  const code = useMemo(() => {
    try {
      return generateArchitectureCode(arch);
    } catch (e) {
      if (e instanceof ArchitectureCodeError) return `# This graph cannot be code yet: ${e.message}\n`;
      throw e;
    }
  }, [arch]);

  const [spotlightStore, addSpotlight] = useMemo(() => createSpotlight(), []);
  const [insertMode, setInsertMode] = useState<'after' | 'before'>('after');
  const [codeOpen, setCodeOpen] = useState(true);
  const [summaryOpen, setSummaryOpen] = useState(false);
  const [selection, setSelection] = useState<Selection>({ layer: null, edge: null });

  // The graph React Flow draws is made from the document in render (one pass per edit); what only React Flow
  // knows (a drag in progress, measured sizes) is kept here. The document is written on drop.
  const [local, setLocal] = useState<FlowLocal>(() => ({ dragging: new Map(), measured: new Map() }));
  const prevNodes = useRef<ReadonlyMap<string, LayerNode>>(new Map());
  const prevEdges = useRef<ReadonlyMap<string, ShapeEdge>>(new Map());
  const nodes = useMemo(() => {
    const next = layerNodes(prevNodes.current, {
      arch,
      diagnostics,
      reports,
      selected: selection.layer,
      classOf,
      local,
    });
    prevNodes.current = new Map(next.map((n) => [n.id, n]));
    return next;
    // eslint-disable-next-line react-hooks/exhaustive-deps -- classOf reads catalog, which diagnostics follows
  }, [arch, diagnostics, reports, selection.layer, local]);
  const edges = useMemo(() => {
    const next = shapeEdges(prevEdges.current, arch, shapes, selection.edge);
    prevEdges.current = new Map(next.map((e) => [e.id, e]));
    return next;
  }, [arch, shapes, selection.edge]);

  const onNodesChange = useStableHandler((changes: NodeChange<LayerNode>[]): void => {
    let dragging: Map<string, XYPosition> | null = null;
    let measured: Map<string, { width: number; height: number }> | null = null;
    for (const c of changes) {
      if (c.type === 'position') {
        dragging ??= new Map(local.dragging);
        if (c.dragging && c.position) dragging.set(c.id, c.position);
        else dragging.delete(c.id);
      } else if (c.type === 'dimensions' && c.dimensions) {
        measured ??= new Map(local.measured);
        measured.set(c.id, c.dimensions);
      } else if (c.type === 'select') {
        if (c.selected) setSelection({ layer: c.id, edge: null });
        else setSelection((s) => (s.layer === c.id ? { ...s, layer: null } : s));
      }
    }
    if (dragging || measured)
      setLocal((l) => ({ dragging: dragging ?? l.dragging, measured: measured ?? l.measured }));
  });
  const onEdgesChange = useStableHandler((changes: EdgeChange<ShapeEdge>[]): void => {
    for (const c of changes) {
      if (c.type !== 'select') continue;
      const e = edges.find((x) => x.id === c.id);
      if (!e) continue;
      if (c.selected) setSelection({ layer: null, edge: { from: e.source, to: e.target } });
      else
        setSelection((s) => (s.edge?.from === e.source && s.edge.to === e.target ? { ...s, edge: null } : s));
    }
  });

  const selectEdge = useCallback(
    (edge: { from: string; to: string }) => setSelection({ layer: null, edge }),
    [],
  );
  const selectedLayer = selection.layer ? arch.layers.find((l) => l.id === selection.layer) : undefined;

  // Lay out architectures that have never been arranged (imported ones); fit once the nodes have sizes.
  const initialized = useNodesInitialized();
  const fitted = useRef(false);
  useEffect(() => {
    if (!initialized || fitted.current) return;
    fitted.current = true;
    if (canEdit && arch.layers.length > 1 && arch.layers.every((l) => !l.position)) autoLayout();
    else void flow.fitView({ padding: 0.2, maxZoom: 1.1 });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [initialized]);

  function autoLayout(): void {
    if (!canEdit) return;
    const positions = layoutGraph(
      flow.getNodes().map((n) => ({
        id: n.id,
        width: n.measured?.width ?? NODE_SIZE.width,
        height: n.measured?.height ?? NODE_SIZE.height,
      })),
      arch.edges.map((e) => ({ source: e.from, target: e.to })),
      { rankSep: 70 },
    );
    doc.transact(() => {
      for (const [id, p] of positions) moveLayer(doc, name, id, p);
    });
    setTimeout(() => void flow.fitView({ padding: 0.2, maxZoom: 1.1, duration: 300 }), 50);
  }

  /** Where "add layer" puts the layer now: after/before the selected layer, on the selected edge, after the
   * only output, or unconnected. */
  const insertAt = (): InsertAt => {
    if (selection.layer && arch.layers.some((l) => l.id === selection.layer))
      return insertMode === 'before' ? { before: selection.layer } : { after: selection.layer };
    if (selection.edge) return { edge: selection.edge };
    if (arch.outputs.length === 1) return { after: arch.outputs[0]! };
    return null;
  };
  const at = insertAt();
  const whereText =
    at === null
      ? ''
      : 'after' in at
        ? `after ${at.after}`
        : 'before' in at
          ? `before ${at.before}`
          : `between ${at.edge.from} and ${at.edge.to}`;

  const positionOf = (id: string): { x: number; y: number } =>
    flow.getNode(id)?.position ?? arch.layers.find((l) => l.id === id)?.position ?? { x: 0, y: 0 };

  function add(layerClass: string): void {
    if (!canEdit) return;
    const where = insertAt();
    // The new layer goes where the layer it precedes was (or below the one it follows); what follows moves down.
    let position: { x: number; y: number };
    let pushDown: string[] = [];
    if (where === null || layerClass === INPUT_LAYER) {
      const rect = document.querySelector('[data-testid=architecture-canvas]')?.getBoundingClientRect();
      position = rect
        ? flow.screenToFlowPosition({ x: rect.left + rect.width / 2, y: rect.top + rect.height / 3 })
        : { x: 0, y: 0 };
    } else if ('after' in where) {
      const p = positionOf(where.after);
      position = { x: p.x, y: p.y + STEP };
      pushDown = [...descendants(arch, where.after)];
    } else {
      const target = 'before' in where ? where.before : where.edge.to;
      position = positionOf(target);
      pushDown = [target, ...descendants(arch, target)];
    }
    const plan = planInsert(arch, layerClass, where, {
      x: Math.round(position.x),
      y: Math.round(position.y),
    });
    doc.transact(() => {
      for (const id of pushDown) {
        const p = positionOf(id);
        moveLayer(doc, name, id, { x: Math.round(p.x), y: Math.round(p.y + STEP) });
      }
      addLayer(doc, name, plan.layer);
      for (const e of plan.removeEdges) removeEdge(doc, name, e);
      for (const e of plan.addEdges) addEdge(doc, name, e);
      if (plan.outputs) setOutputs(doc, name, plan.outputs);
    });
    // The new layer is selected, so its arguments can be set and the next one goes after it.
    setSelection({ layer: plan.layer.id, edge: null });
    setInsertMode('after');
    // Keep it in view: a chain grows down past the bottom of the canvas.
    const rect = document.querySelector('[data-testid=architecture-canvas]')?.getBoundingClientRect();
    const p = flow.flowToScreenPosition(plan.layer.position ?? position);
    if (
      rect &&
      (p.y + NODE_SIZE.height * flow.getZoom() > rect.bottom ||
        p.y < rect.top ||
        p.x < rect.left ||
        p.x > rect.right)
    ) {
      const { x, y } = plan.layer.position ?? position;
      void flow.setCenter(x + NODE_SIZE.width / 2, y, { zoom: flow.getZoom(), duration: 200 });
    }
  }

  function removeLayers(ids: readonly string[]): void {
    if (!canEdit || ids.length === 0) return;
    doc.transact(() => {
      if (ids.length === 1) {
        const plan = planRemove(arch, ids[0]!);
        removeLayer(doc, name, ids[0]!);
        for (const e of plan.removeEdges) removeEdge(doc, name, e);
        for (const e of plan.bridge) addEdge(doc, name, e);
        if (plan.outputs) setOutputs(doc, name, plan.outputs);
      } else {
        for (const id of ids) removeLayer(doc, name, id);
      }
    });
    setSelection({ layer: null, edge: null });
  }

  const onConnect = useStableHandler((c: Connection): void => {
    if (!canEdit) return;
    const problem = edgeProblem(arch, c.source, c.target);
    if (problem) {
      notifications.show({ id: 'edge-refused', color: 'red', title: 'Cannot connect', message: problem });
      return;
    }
    addEdge(doc, name, { from: c.source, to: c.target });
  });
  const isValidConnection = useStableHandler(
    (c: Connection | ShapeEdge) => edgeProblem(arch, c.source, c.target) === null,
  );
  const onNodeDragStop = useStableHandler((_: unknown, __: unknown, dragged: LayerNode[]) => {
    if (!canEdit) return;
    doc.transact(() => {
      for (const n of dragged)
        moveLayer(doc, name, n.id, { x: Math.round(n.position.x), y: Math.round(n.position.y) });
    });
  });
  const onDelete = useStableHandler(
    ({ nodes: gone, edges: cut }: { nodes: LayerNode[]; edges: ShapeEdge[] }) => {
      if (!canEdit) return;
      const ids = gone.map((n) => n.id);
      const loose = cut.filter((e) => !ids.includes(e.source) && !ids.includes(e.target));
      if (loose.length > 0)
        doc.transact(() => {
          for (const e of loose) removeEdge(doc, name, { from: e.source, to: e.target });
        });
      removeLayers(ids);
    },
  );
  const onPaneClick = useStableHandler(() => setSelection({ layer: null, edge: null }));

  const openAdd = (mode: 'after' | 'before' = 'after'): void => {
    if (!canEdit) return;
    setInsertMode(mode);
    addSpotlight.open();
  };
  useHotkeys([
    ['a', () => openAdd('after')],
    ['shift+a', () => openAdd('before')],
    ['l', () => autoLayout()],
    ['f', () => void flow.fitView({ padding: 0.2, duration: 300 })],
    ['s', () => shapes && setSummaryOpen(true)],
    ['Escape', () => setSelection({ layer: null, edge: null })],
  ]);

  const layerProblems = useMemo(() => {
    const list: EditorProblem[] = diagnostics.map((d) => ({
      at: d.layer ?? null,
      message: d.message,
      severity: d.severity,
    }));
    for (const l of shapes?.layers ?? [])
      if (l.error)
        list.push({
          at: l.id,
          message: `${name}: layer "${l.id}" (${l.layer}): ${l.error}`,
          severity: 'error',
        });
    return list;
  }, [diagnostics, shapes, name]);

  const total = shapes?.total.parameters;
  const pick = (id: string): void => {
    setSelection({ layer: id, edge: null });
    const n = flow.getNode(id);
    if (n) void flow.setCenter(n.position.x + 90, n.position.y + 40, { zoom: 1, duration: 300 });
  };

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar
        testId="architecture-toolbar"
        title={
          <Group gap={6} wrap="nowrap">
            <ViewCrumb
              parent="Resources"
              to={`/projects/${projectId}/resources`}
              name={name}
              testId="architecture-title"
              mono
            />
            <ProblemsBadge problems={layerProblems} onPick={pick} width={440} />
            {canEdit && (
              <CheckStatus
                current={check.current}
                error={check.error ?? catalogError}
                hasResult={!!check.result}
              />
            )}
          </Group>
        }
      >
        <Tooltip label="Summary: every layer's output shape and parameters (S)">
          <Button
            variant="default"
            leftSection={<IconTable size={14} />}
            disabled={!shapes}
            onClick={() => setSummaryOpen(true)}
            data-testid="architecture-summary"
          >
            {total !== undefined ? `${total.toLocaleString('en-US')} params` : 'Summary'}
          </Button>
        </Tooltip>
        {canEdit && (
          <Tooltip label={`Add layer ${whereText} (A; before: Shift+A)`}>
            <Button
              variant="default"
              leftSection={<IconPlus size={14} />}
              onClick={() => openAdd('after')}
              data-testid="add-layer"
            >
              Add layer
            </Button>
          </Tooltip>
        )}
        {canEdit && (
          <ToolbarIcon tooltip="Auto-layout (L)" label="Auto-layout" onClick={autoLayout}>
            <IconHierarchy2 size={16} />
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
          tooltip={codeOpen ? 'Hide the generated code' : 'Show the generated PyTorch code'}
          label="Generated code"
          onClick={() => setCodeOpen((o) => !o)}
          active={codeOpen}
          testId="toggle-code"
        >
          <IconCode size={16} />
        </ToolbarIcon>
      </ViewToolbar>
      <Box className="df-fill" style={{ display: 'flex', minHeight: 0 }}>
        <Box
          className="df-fill"
          style={{ position: 'relative' }}
          data-testid="architecture-canvas"
          data-check-current={check.current || undefined}
        >
          <SelectEdgeContext.Provider value={selectEdge}>
            <ReactFlow<LayerNode, ShapeEdge>
              nodes={nodes}
              edges={edges}
              nodeTypes={LAYER_NODE_TYPES}
              edgeTypes={SHAPE_EDGE_TYPES}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              isValidConnection={isValidConnection}
              nodesDraggable={canEdit}
              nodesConnectable={canEdit}
              edgesReconnectable={false}
              onNodeDragStop={onNodeDragStop}
              onDelete={onDelete}
              onPaneClick={onPaneClick}
              deleteKeyCode={canEdit ? ['Delete', 'Backspace'] : null}
              colorMode={scheme}
              minZoom={0.1}
              maxZoom={2}
              snapToGrid
              snapGrid={[10, 10]}
              attributionPosition="top-right"
            >
              <Background gap={20} size={1} />
              <Controls showInteractive={false} position="bottom-left" />
              <MiniMap pannable zoomable position="bottom-right" style={{ width: 140, height: 90 }} />
            </ReactFlow>
          </SelectEdgeContext.Provider>
          {arch.layers.length <= 1 && canEdit && (
            <Center
              style={{ position: 'absolute', left: 0, right: 0, bottom: 24, pointerEvents: 'none' }}
              data-testid="architecture-hint"
            >
              <Text size="sm" c="dimmed">
                Press <Kbd>A</Kbd> to add a layer after the selected one (<Kbd>Shift</Kbd>+<Kbd>A</Kbd>:
                before); drag from a layer's bottom to another's top to connect.
              </Text>
            </Center>
          )}
        </Box>
        {selectedLayer && (
          <LayerPanel
            key={selectedLayer.id}
            architecture={name}
            layer={selectedLayer}
            cls={classOf(selectedLayer.layer)}
            problems={diagnostics.filter((d) => d.layer === selectedLayer.id)}
            report={reports.get(selectedLayer.id) ?? null}
            isOutput={arch.outputs.includes(selectedLayer.id)}
            readOnly={!canEdit}
            onToggleOutput={(on) =>
              setOutputs(
                doc,
                name,
                on
                  ? [...arch.outputs.filter((o) => o !== selectedLayer.id), selectedLayer.id]
                  : arch.outputs.filter((o) => o !== selectedLayer.id),
              )
            }
            onDelete={() => removeLayers([selectedLayer.id])}
            onClose={() => setSelection({ layer: null, edge: null })}
            extra={
              canEdit ? (
                <Group gap={4} grow>
                  <Button
                    size="compact-xs"
                    variant="default"
                    leftSection={<IconArrowBarToUp size={12} />}
                    onClick={() => openAdd('before')}
                    disabled={selectedLayer.layer === INPUT_LAYER}
                    data-testid="add-before"
                  >
                    Add before
                  </Button>
                  <Button
                    size="compact-xs"
                    variant="default"
                    leftSection={<IconArrowBarToDown size={12} />}
                    onClick={() => openAdd('after')}
                    data-testid="add-after"
                  >
                    Add after
                  </Button>
                </Group>
              ) : null
            }
          />
        )}
        {codeOpen && (
          <Box
            style={{
              width: 400,
              borderLeft: '1px solid var(--mantine-color-default-border)',
              display: 'flex',
              flexDirection: 'column',
              minHeight: 0,
            }}
            data-testid="architecture-code"
          >
            <Text
              size="xs"
              c="dimmed"
              px="sm"
              py={6}
              style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
            >
              resources/{name}.py: what operations get (read-only; it follows the graph)
            </Text>
            <Box className="df-fill" style={{ overflow: 'auto', minHeight: 0 }}>
              <CodeView
                value={code}
                ariaLabel={`Generated code of ${name}`}
                testId="architecture-code-view"
              />
            </Box>
          </Box>
        )}
      </Box>

      <AddLayerSpotlight
        store={spotlightStore}
        catalog={catalog}
        catalogError={catalogError}
        architectures={Object.keys(resources)
          .filter((r) => r !== name)
          .sort((a, b) => a.localeCompare(b))}
        where={whereText}
        onAdd={add}
      />
      {summaryOpen && shapes && (
        <SummaryModal
          name={name}
          report={shapes}
          classes={new Map(arch.layers.map((l) => [l.id, l.layer]))}
          onClose={() => setSummaryOpen(false)}
        />
      )}
    </Box>
  );
}

/** Whether the shapes shown are those of the graph as it is (PyTorch is asked after every edit). */
function CheckStatus({
  current,
  error,
  hasResult,
}: {
  current: boolean;
  error: string | null;
  hasResult: boolean;
}) {
  if (error)
    return (
      <Tooltip label={error} multiline w={360}>
        <Badge color="gray" variant="light" data-testid="check-status" data-state="error">
          no shapes
        </Badge>
      </Tooltip>
    );
  if (current) return null;
  return (
    <Group gap={4} data-testid="check-status" data-state="checking">
      <Loader size={12} />
      <Text size="xs" c="dimmed">
        {hasResult ? 'updating shapes' : 'PyTorch is reading the graph'}
      </Text>
    </Group>
  );
}
