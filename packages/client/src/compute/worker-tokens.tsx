import type { CreatedWorkerToken, WorkerTokenDto } from '@deepforge/protocol';
import {
  ActionIcon,
  Badge,
  Button,
  Center,
  Code,
  Group,
  Loader,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconKey, IconTrash } from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { createWorkerToken, listWorkerTokens, qk, revokeWorkerToken } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { DateText } from '../ui/date-text.js';
import { ShownOnce } from '../ui/shown-once.js';

/** The variable `deepforge worker` reads its token from (kept out of `ps` and the shell history). */
const TOKEN_ENV = 'DEEPFORGE_WORKER_TOKEN';

/** The command that starts a worker for this server with `token`. */
export function workerCommand(token: string, serverUrl: string): string {
  return `${TOKEN_ENV}=${token} deepforge worker --server ${serverUrl}`;
}

/**
 * Worker tokens (admins; everyone when accounts are off): make one for a machine, shown once with the command that
 * starts its worker; see when each was last used; revoke one, which cuts its workers off.
 */
export function WorkerTokens({ serverRunsJobs }: { serverRunsJobs: boolean }) {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: qk.workerTokens, queryFn: listWorkerTokens });
  const [created, setCreated] = useState<CreatedWorkerToken | null>(null);
  const now = Date.now();
  const refresh = (): Promise<void> => queryClient.invalidateQueries({ queryKey: qk.workerTokens });

  const revoke = (t: WorkerTokenDto): void => {
    modals.openConfirmModal({
      title: `Revoke the worker token ${t.name}?`,
      children: (
        <Text size="sm">
          Workers using it (<Code>{t.prefix}…</Code>) are cut off at their next heartbeat and cannot connect
          again; their jobs run on other workers. This cannot be undone.
        </Text>
      ),
      labels: { confirm: 'Revoke', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-revoke-worker-token' },
      onConfirm: () =>
        void revokeWorkerToken(t.id)
          .then(() => {
            if (created?.record.id === t.id) setCreated(null);
            notifications.show({ message: `Revoked ${t.name}` });
            return refresh();
          })
          .catch((e: unknown) =>
            notifications.show({ color: 'red', title: 'Cannot revoke', message: errorMessage(e) }),
          ),
    });
  };

  return (
    <Stack gap="sm" data-testid="worker-tokens">
      <div>
        <Title order={5}>Worker tokens</Title>
        <Text size="sm" c="dimmed">
          A machine runs this server’s jobs with <Code>deepforge worker</Code> and a token made here (or with{' '}
          <Code>deepforge workers token &lt;name&gt;</Code> on the server). A token lets its worker fetch,
          update and store the jobs leased to it, nothing else.
          {serverRunsJobs &&
            ' This server runs jobs itself: workers connect once it is started with deepforge start --server.'}
        </Text>
      </div>
      <CreateWorkerToken
        onCreated={(t) => {
          setCreated(t);
          void refresh();
        }}
      />
      {created && (
        <ShownOnce
          title={`Your new worker token “${created.record.name}”`}
          value={created.token}
          label="New worker token"
          onDone={() => setCreated(null)}
        >
          <Text size="sm">Start a worker with it on the machine that should run jobs:</Text>
          <Code block data-testid="worker-command">
            {workerCommand(created.token, window.location.origin)}
          </Code>
        </ShownOnce>
      )}
      {tokens.isLoading ? (
        <Center py="md">
          <Loader size="sm" />
        </Center>
      ) : tokens.error ? (
        <Text c="red" size="sm">
          {errorMessage(tokens.error)}
        </Text>
      ) : (tokens.data?.items.length ?? 0) === 0 ? (
        <Text size="sm" c="dimmed" data-testid="worker-tokens-empty">
          No worker tokens yet.
        </Text>
      ) : (
        <Table data-testid="worker-tokens-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Token</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th>Last used</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th w={40} />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {tokens.data?.items.map((t) => (
              <Table.Tr
                key={t.id}
                data-testid="worker-token-row"
                data-token-name={t.name}
                data-state={t.revokedAt === null ? 'active' : 'revoked'}
              >
                <Table.Td>
                  <Text size="sm" fw={500}>
                    {t.name}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Text size="xs" className="df-mono" c="dimmed">
                    {t.prefix}…
                  </Text>
                </Table.Td>
                <Table.Td>
                  <DateText at={t.createdAt} now={now} />
                </Table.Td>
                <Table.Td>
                  {t.lastUsedAt === null ? (
                    <Text size="xs" c="dimmed">
                      never
                    </Text>
                  ) : (
                    <DateText at={t.lastUsedAt} now={now} />
                  )}
                </Table.Td>
                <Table.Td>
                  {t.revokedAt === null ? (
                    <Badge variant="light" color="green">
                      active
                    </Badge>
                  ) : (
                    <Tooltip label={`Revoked ${new Date(t.revokedAt).toLocaleString()}`}>
                      <Badge variant="light" color="red">
                        revoked
                      </Badge>
                    </Tooltip>
                  )}
                </Table.Td>
                <Table.Td>
                  {t.revokedAt === null && (
                    <Tooltip label="Revoke">
                      <ActionIcon
                        color="red"
                        variant="subtle"
                        aria-label={`Revoke ${t.name}`}
                        onClick={() => revoke(t)}
                        data-testid="revoke-worker-token"
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

function CreateWorkerToken({ onCreated }: { onCreated: (t: CreatedWorkerToken) => void }) {
  const [name, setName] = useState('');
  const mutation = useMutation({
    mutationFn: () => createWorkerToken(name.trim()),
    onSuccess: (t) => {
      setName('');
      onCreated(t);
    },
  });
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) mutation.mutate();
      }}
      aria-label="Make a worker token"
    >
      <Group align="flex-end" gap="xs">
        <TextInput
          label="For"
          description="The machine or pool it is for"
          placeholder="gpu-box"
          maxLength={100}
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          w={260}
          data-testid="worker-token-name"
        />
        <Button
          type="submit"
          leftSection={<IconKey size={14} />}
          disabled={!name.trim()}
          loading={mutation.isPending}
          data-testid="create-worker-token"
        >
          Make a worker token
        </Button>
      </Group>
      {mutation.error && (
        <Text c="red" size="sm" mt={6} role="alert">
          {errorMessage(mutation.error)}
        </Text>
      )}
    </form>
  );
}
