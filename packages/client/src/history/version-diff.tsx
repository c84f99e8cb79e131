import { Badge, Button, Center, Group, Loader, Paper, Stack, Text } from '@mantine/core';
import { IconRestore } from '@tabler/icons-react';
import type { VersionDiffFile } from '@deepforge/protocol';
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { getDiff, historyKeys } from '../api/history.endpoints.js';
import { errorMessage } from '../api/http.js';
import { FileDiffView } from './file-diff.js';
import { canRestoreFile, CURRENT, fileDiffOf, fileDiffSummary } from './history.logic.js';

const CHANGE_COLOR: Record<VersionDiffFile['change'], string> = {
  added: 'green',
  modified: 'blue',
  deleted: 'red',
  renamed: 'grape',
};

/** The files a diff between two versions (or a version and its parent) changed, each readable in its own way. */
export function VersionDiffView({
  projectId,
  to,
  from,
  onRestoreFile,
}: {
  projectId: string;
  to: string;
  from?: string;
  /** Offered on each file that exists at `to` (a version, not the live project); absent for readers. */
  onRestoreFile?: (path: string) => void;
}) {
  const diff = useQuery({
    queryKey: historyKeys.diff(projectId, to, from),
    queryFn: () => getDiff(projectId, to, from),
    // The live project moves on: a diff against it is read again when shown again.
    staleTime: to === CURRENT ? 0 : Infinity,
  });
  if (diff.isPending) {
    return (
      <Center p="lg">
        <Loader size="sm" />
      </Center>
    );
  }
  if (diff.error) {
    return (
      <Text c="red" size="sm" p="md" data-testid="diff-error">
        Could not read the changes: {errorMessage(diff.error)}
      </Text>
    );
  }
  if (diff.data.files.length === 0) {
    return (
      <Text c="dimmed" size="sm" p="md" data-testid="diff-empty">
        No file changed.
      </Text>
    );
  }
  return (
    <Stack gap="sm" data-testid="version-diff">
      {diff.data.files.map((f) => (
        <FileSection
          key={f.path}
          file={f}
          onRestore={
            onRestoreFile && to !== CURRENT && f.change !== 'deleted' && canRestoreFile(f.path)
              ? () => onRestoreFile(f.path)
              : undefined
          }
        />
      ))}
    </Stack>
  );
}

function FileSection({ file, onRestore }: { file: VersionDiffFile; onRestore: (() => void) | undefined }) {
  const diff = useMemo(() => fileDiffOf(file), [file]);
  return (
    <Paper withBorder p={0} data-testid="diff-file" data-path={file.path}>
      <Group
        justify="space-between"
        px="sm"
        py={6}
        wrap="nowrap"
        style={{ borderBottom: '1px solid var(--mantine-color-default-border)' }}
      >
        <Group gap="xs" wrap="nowrap" style={{ minWidth: 0 }}>
          <Badge size="sm" variant="light" color={CHANGE_COLOR[file.change]}>
            {file.change}
          </Badge>
          <Text size="sm" fw={600} ff="monospace" truncate>
            {file.path}
          </Text>
          {file.from && (
            <Text size="xs" c="dimmed" truncate>
              from {file.from}
            </Text>
          )}
          <Text size="xs" c="dimmed" style={{ whiteSpace: 'nowrap' }}>
            {fileDiffSummary(diff)}
          </Text>
        </Group>
        {onRestore && (
          <Button
            size="compact-xs"
            variant="default"
            leftSection={<IconRestore size={12} />}
            onClick={onRestore}
            aria-label={`Restore ${file.path} from this version`}
          >
            Restore this file
          </Button>
        )}
      </Group>
      <div className="df-diff-body">
        <FileDiffView diff={diff} />
      </div>
    </Paper>
  );
}
