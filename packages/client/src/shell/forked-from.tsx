import { Anchor, Text } from '@mantine/core';
import type { ForkedFrom } from '@deepforge/protocol';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { getProject, qk } from '../api/endpoints.js';

/**
 * "forked from hello at 1a2b3c4": where a fork came from, linking to that version in the source project's
 * history. `sourceName` is the source project's name when the caller knows it (it may be deleted or not shared).
 */
export function ForkedFromNote({ forkedFrom, sourceName }: { forkedFrom: ForkedFrom; sourceName?: string }) {
  // The header knows only the id: read the name (when the source is gone or not shared, the id stays).
  const source = useQuery({
    queryKey: qk.project(forkedFrom.projectId),
    queryFn: () => getProject(forkedFrom.projectId),
    enabled: sourceName === undefined,
    retry: false,
    staleTime: 60_000,
  });
  const name = sourceName ?? source.data?.name ?? forkedFrom.projectId;
  const version = forkedFrom.version.slice(0, 7);
  const base = `/projects/${encodeURIComponent(forkedFrom.projectId)}`;
  return (
    <Text size="xs" c="dimmed" span data-testid="forked-from" style={{ whiteSpace: 'nowrap' }}>
      forked from{' '}
      <Anchor component={Link} to={base} size="xs">
        {name}
      </Anchor>{' '}
      at{' '}
      <Anchor
        component={Link}
        to={`${base}/history?to=${encodeURIComponent(forkedFrom.version)}`}
        size="xs"
        ff="monospace"
      >
        {version}
      </Anchor>
    </Text>
  );
}
