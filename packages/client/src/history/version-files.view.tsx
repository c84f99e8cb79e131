import { Box, Center, Loader, NavLink, ScrollArea, Stack, Text } from '@mantine/core';
import { IconArrowLeft } from '@tabler/icons-react';
import { PipelineSchema, projectFileKind } from '@deepforge/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import { getVersion, getVersionFile, getVersionTree, historyKeys } from '../api/history.endpoints.js';
import { errorMessage } from '../api/http.js';
import { CodeView } from '../code/code-view.js';
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
  return (
    <>
      {projectFileKind(path) === 'pipeline' && <PipelineSummary text={file.data} />}
      <Box className="df-fill" style={{ minHeight: 0 }}>
        <CodeView
          key={path}
          value={file.data}
          ariaLabel={`${path} as of ${shortVersion(versionId)}`}
          testId="version-file"
        />
      </Box>
    </>
  );
}

/** A pipeline's nodes and connections in words, above its JSON. */
function PipelineSummary({ text }: { text: string }) {
  let pipeline;
  try {
    const parsed = PipelineSchema.safeParse(JSON.parse(text));
    pipeline = parsed.success ? parsed.data : null;
  } catch {
    pipeline = null;
  }
  if (!pipeline) return null;
  return (
    <Box
      p="sm"
      style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
      data-testid="pipeline-summary"
    >
      <Text size="sm">
        <b>{pipeline.nodes.length} nodes:</b>{' '}
        {pipeline.nodes.map((n) => `${n.id} (${n.operation})`).join(', ')}
      </Text>
      <Text size="sm">
        <b>{pipeline.connections.length} connections:</b>{' '}
        {pipeline.connections
          .map((c) => `${c.from.node}.${c.from.port} → ${c.to.node}.${c.to.port}`)
          .join(', ')}
      </Text>
    </Box>
  );
}
