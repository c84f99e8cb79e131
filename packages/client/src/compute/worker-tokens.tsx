import type { CreatedWorkerToken, WorkerTokenDto } from '@deepforge/protocol';
import { Code, Stack, Text, Title } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { createWorkerToken, listWorkerTokens, qk, revokeWorkerToken } from '../api/endpoints.js';
import { ShownOnce } from '../ui/shown-once.js';
import { confirmRevoke, CreateTokenForm, TokenTable } from '../ui/token-list.js';

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
  const refresh = (): Promise<void> => queryClient.invalidateQueries({ queryKey: qk.workerTokens });

  const revoke = (t: WorkerTokenDto): void =>
    confirmRevoke({
      title: `Revoke the worker token ${t.name}?`,
      body: (
        <>
          Workers using it (<Code>{t.prefix}…</Code>) are cut off at their next heartbeat and cannot connect
          again; their jobs run on other workers. This cannot be undone.
        </>
      ),
      testId: 'worker-token',
      token: t,
      revoke: revokeWorkerToken,
      revoked: () => {
        if (created?.record.id === t.id) setCreated(null);
        return refresh();
      },
    });

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
      <CreateTokenForm
        testId="worker-token"
        formLabel="Make a worker token"
        nameLabel="For"
        nameDescription="The machine or pool it is for"
        placeholder="gpu-box"
        nameWidth={260}
        buttonLabel="Make a worker token"
        create={createWorkerToken}
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
      <TokenTable
        tokens={tokens}
        testId="worker-token"
        stateOf={(t) => (t.revokedAt === null ? 'active' : 'revoked')}
        onRevoke={revoke}
        empty="No worker tokens yet."
      />
    </Stack>
  );
}
