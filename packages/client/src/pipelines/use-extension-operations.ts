import type { ExtensionSummary } from '@deepforge/protocol';
import { notifications } from '@mantine/notifications';
import { useQuery } from '@tanstack/react-query';
import { useCallback } from 'react';
import { addExtensionOperation, listExtensions, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';

/**
 * The installed extensions' operations for the add-operation spotlight, and adding one: the server copies it
 * (with the utils, serializers and architectures it needs) into the project document, then `onCopied` puts a node
 * of it in the pipeline. A clash with a project operation is the server's 409, shown as it words it.
 */
export function useExtensionOperations(
  projectId: string,
  onCopied: (operation: string) => void,
): {
  extensions: readonly ExtensionSummary[];
  addFromExtension: (extension: string, operation: string) => void;
} {
  const query = useQuery({ queryKey: qk.extensions, queryFn: listExtensions, staleTime: 30_000 });
  const addFromExtension = useCallback(
    (extension: string, operation: string) => {
      addExtensionOperation(projectId, { extension, operation }).then(
        (copied) => {
          onCopied(copied.operation);
          notifications.show({
            id: `extension-${extension}-${operation}`,
            color: 'green',
            title: `Copied ${operation} from ${extension}`,
            message: `Into this project: ${copied.copied.join(', ') || 'nothing new'}`,
            autoClose: 4000,
          });
        },
        (err: unknown) =>
          notifications.show({
            id: `extension-${extension}-${operation}`,
            color: 'red',
            title: `Cannot add ${operation}`,
            message: errorMessage(err),
          }),
      );
    },
    [projectId, onCopied],
  );
  return { extensions: query.data?.items ?? [], addFromExtension };
}
