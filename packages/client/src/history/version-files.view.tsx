import { Box, Center, Loader, NavLink, ScrollArea, Stack, Tabs, Text } from '@mantine/core';
import { IconArrowLeft } from '@tabler/icons-react';
import { PipelineSchema, projectFileKind } from '@deepforge/core';
import type { Pipeline } from '@deepforge/core';
import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { getVersion, getVersionFile, getVersionTree, historyKeys } from '../api/history.endpoints.js';
import { errorMessage } from '../api/http.js';
import { CodeView } from '../code/code-view.js';
import { operationCodes, operationInterfaces } from '../collab/doc-read.js';
import { useDocSelector } from '../collab/project-doc.context.js';
import { TraceGraph } from '../executions/trace-graph.js';
import { ViewToolbar } from '../shell/project-layout.js';
import { shortVersion } from './history.logic.js';

/**
 * The project as it was at one version, read-only: its files (from the version's tree) and each file's text.
 * Nothing here edits the live project; restoring is the History view's business.
 */
export function VersionFilesView() {
  const { projectId = '', versionId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const path = params.get('path');
  const version = useQuery({
    queryKey: historyKeys.version(projectId, versionId),
    queryFn: () => getVersion(projectId, versionId),
    staleTime: Infinity,
  });
  const tree = useQuery({
    queryKey: historyKeys.tree(projectId, versionId),
    queryFn: () => getVersionTree(projectId, versionId),
    staleTime: Infinity,
  });
  const title = version.data
    ? `${version.data.message} (${shortVersion(versionId)})`
    : shortVersion(versionId);
  return (
    <Box
      style={{ display: 'flex', flexDirection: 'column', height: '100%' }}
      data-testid="version-files-view"
    >
      <ViewToolbar title={`As of ${title} — read-only`} testId="version-files-toolbar">
        <NavLink
          component={Link}
          to={`/projects/${projectId}/history?to=${versionId}`}
          label="Back to History"
          leftSection={<IconArrowLeft size={14} />}
          style={{ width: 'auto' }}
        />
      </ViewToolbar>
      <Box className="df-fill" style={{ display: 'flex', minHeight: 0 }}>
        <Box style={{ width: 280, borderRight: '1px solid var(--mantine-color-default-border)' }}>
          <ScrollArea h="100%">
            {tree.isPending && (
              <Center p="md">
                <Loader size="sm" />
              </Center>
            )}
            {tree.error && (
              <Text c="red" size="sm" p="sm">
                {errorMessage(tree.error)}
              </Text>
            )}
            <Stack gap={0} p={4} data-testid="version-file-list">
              {tree.data?.files.map((f) => (
                <NavLink
                  key={f.path}
                  label={f.path}
                  active={f.path === path}
                  onClick={() => setParams({ path: f.path })}
                  styles={{ label: { fontFamily: 'var(--mantine-font-family-monospace)', fontSize: 12 } }}
                />
              ))}
            </Stack>
          </ScrollArea>
        </Box>
        <Box className="df-fill" style={{ minWidth: 0, display: 'flex', flexDirection: 'column' }}>
          {path ? (
            <VersionFile projectId={projectId} versionId={versionId} path={path} />
          ) : (
            <Center h="100%">
              <Text size="sm" c="dimmed">
                Pick a file to read it as it was.
              </Text>
            </Center>
          )}
        </Box>
      </Box>
    </Box>
  );
}

function VersionFile({ projectId, versionId, path }: { projectId: string; versionId: string; path: string }) {
  const file = useQuery({
    queryKey: historyKeys.file(projectId, versionId, path),
    queryFn: () => getVersionFile(projectId, versionId, path),
    staleTime: Infinity,
  });
  if (file.isPending) {
    return (
      <Center p="md">
        <Loader size="sm" />
      </Center>
    );
  }
  if (file.error) {
    return (
      <Text c="red" size="sm" p="md">
        {errorMessage(file.error)}
      </Text>
    );
  }
  const code = (
    <CodeView
      key={path}
      value={file.data}
      ariaLabel={`${path} as of ${shortVersion(versionId)}`}
      testId="version-file"
    />
  );
  const pipeline = projectFileKind(path) === 'pipeline' ? parsePipeline(file.data) : null;
  if (!pipeline) {
    return (
      <Box className="df-fill" style={{ minHeight: 0 }}>
        {code}
      </Box>
    );
  }
  return (
    <Tabs
      defaultValue="graph"
      keepMounted={false}
      style={{ display: 'flex', flexDirection: 'column', flex: 1, minHeight: 0 }}
    >
      <Tabs.List>
        <Tabs.Tab value="graph">Graph</Tabs.Tab>
        <Tabs.Tab value="json">JSON</Tabs.Tab>
      </Tabs.List>
      <Tabs.Panel value="graph" style={{ flex: 1, minHeight: 0, display: 'flex', flexDirection: 'column' }}>
        <PipelineSummary pipeline={pipeline} />
        <Box className="df-fill" style={{ position: 'relative', minHeight: 0 }} data-testid="version-graph">
          <VersionGraph pipeline={pipeline} />
        </Box>
      </Tabs.Panel>
      <Tabs.Panel value="json" style={{ flex: 1, minHeight: 0 }}>
        {code}
      </Tabs.Panel>
    </Tabs>
  );
}

function parsePipeline(text: string): Pipeline | null {
  try {
    const parsed = PipelineSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const NO_STATUS = {};

/**
 * The pipeline of then, drawn read-only like an execution's trace (no statuses). Ports come from the operations of
 * now and from the connections, as in a trace of an old run.
 */
function VersionGraph({ pipeline }: { pipeline: Pipeline }) {
  const codes = useDocSelector((d) => operationCodes(d), []);
  const interfaces = useMemo(() => operationInterfaces(codes), [codes]);
  const [selected, setSelected] = useState<string | null>(null);
  return (
    <TraceGraph
      pipeline={pipeline}
      statuses={NO_STATUS}
      progress={NO_STATUS}
      interfaces={interfaces}
      selected={selected}
      onSelect={setSelected}
    />
  );
}

/** A pipeline's nodes and connections in words, above its graph. */
function PipelineSummary({ pipeline }: { pipeline: Pipeline }) {
  return (
    <Box
      p="sm"
      style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
      data-testid="pipeline-summary"
    >
      <Text size="sm" lineClamp={2}>
        <b>{pipeline.nodes.length} nodes:</b>{' '}
        {pipeline.nodes.map((n) => `${n.id} (${n.operation})`).join(', ')}
      </Text>
      <Text size="sm" lineClamp={2}>
        <b>{pipeline.connections.length} connections:</b>{' '}
        {pipeline.connections
          .map((c) => `${c.from.node}.${c.from.port} → ${c.to.node}.${c.to.port}`)
          .join(', ')}
      </Text>
    </Box>
  );
}
