import {
  ActionIcon,
  Badge,
  Button,
  Center,
  Group,
  Loader,
  Table,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import { IconKey, IconTrash } from '@tabler/icons-react';
import { useMutation } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { useState } from 'react';
import { errorMessage } from '../api/http.js';
import { DateText } from './date-text.js';

/**
 * What personal access tokens (Profile) and worker tokens (Compute) have in common: a table of them, the form that
 * makes one, the confirmation that revokes one. `testId` names the kind (`token`, `worker-token`): the parts are
 * `<testId>-name`, `create-<testId>`, `<testId>s-table`, `<testId>s-empty`, `<testId>-row`, `<testId>-state`,
 * `revoke-<testId>` and `confirm-revoke-<testId>`.
 */
export interface TokenSummary {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export type TokenListState = 'active' | 'expired' | 'revoked';

const STATE_COLOR: Record<TokenListState, string> = { active: 'green', expired: 'gray', revoked: 'red' };

export function TokenTable<T extends TokenSummary>({
  tokens,
  testId,
  stateOf,
  extraColumn,
  onRevoke,
  empty,
}: {
  tokens: { isLoading: boolean; error: unknown; data?: { items: T[] } | undefined };
  testId: string;
  /** What an empty list says. */
  empty: string;
  stateOf: (t: T, now: number) => TokenListState;
  /** A column after Created (an access token's expiry). */
  extraColumn?: { header: string; cell: (t: T) => ReactNode };
  onRevoke: (t: T) => void;
}) {
  const now = Date.now();
  if (tokens.isLoading) {
    return (
      <Center py="md">
        <Loader size="sm" />
      </Center>
    );
  }
  if (tokens.error) {
    return (
      <Text c="red" size="sm">
        {errorMessage(tokens.error)}
      </Text>
    );
  }
  const items = tokens.data?.items ?? [];
  if (items.length === 0) {
    return (
      <Text size="sm" c="dimmed" data-testid={`${testId}s-empty`}>
        {empty}
      </Text>
    );
  }
  return (
    <Table data-testid={`${testId}s-table`}>
      <Table.Thead>
        <Table.Tr>
          <Table.Th>Name</Table.Th>
          <Table.Th>Token</Table.Th>
          <Table.Th>Created</Table.Th>
          {extraColumn && <Table.Th>{extraColumn.header}</Table.Th>}
          <Table.Th>Last used</Table.Th>
          <Table.Th>Status</Table.Th>
          <Table.Th w={40} />
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {items.map((t) => {
          const state = stateOf(t, now);
          return (
            <Table.Tr key={t.id} data-testid={`${testId}-row`} data-token-name={t.name} data-state={state}>
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
              {extraColumn && <Table.Td>{extraColumn.cell(t)}</Table.Td>}
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
                <Tooltip
                  label={
                    t.revokedAt !== null
                      ? `Revoked ${new Date(t.revokedAt).toLocaleString()}`
                      : state === 'expired'
                        ? 'Past its expiry date'
                        : 'In use'
                  }
                >
                  <Badge variant="light" color={STATE_COLOR[state]} data-testid={`${testId}-state`}>
                    {state}
                  </Badge>
                </Tooltip>
              </Table.Td>
              <Table.Td>
                {state !== 'revoked' && (
                  <Tooltip label="Revoke">
                    <ActionIcon
                      color="red"
                      aria-label={`Revoke ${t.name}`}
                      onClick={() => onRevoke(t)}
                      data-testid={`revoke-${testId}`}
                    >
                      <IconTrash size={16} />
                    </ActionIcon>
                  </Tooltip>
                )}
              </Table.Td>
            </Table.Tr>
          );
        })}
      </Table.Tbody>
    </Table>
  );
}

/** Asks before revoking `token`; then revokes it and says so (or why it could not). */
export function confirmRevoke({
  title,
  body,
  testId,
  token,
  revoke,
  revoked,
}: {
  title: string;
  body: ReactNode;
  testId: string;
  token: TokenSummary;
  revoke: (id: string) => Promise<unknown>;
  /** After it is revoked: forget it where it is shown, read the list again. */
  revoked: () => Promise<unknown>;
}): void {
  modals.openConfirmModal({
    title,
    children: <Text size="sm">{body}</Text>,
    labels: { confirm: 'Revoke', cancel: 'Cancel' },
    confirmProps: { color: 'red', 'data-testid': `confirm-revoke-${testId}` },
    onConfirm: () =>
      void revoke(token.id)
        .then(() => {
          notifications.show({ message: `Revoked ${token.name}` });
          return revoked();
        })
        .catch((e: unknown) =>
          notifications.show({ color: 'red', title: 'Cannot revoke', message: errorMessage(e) }),
        ),
  });
}

/** The form that makes a token: its name (and whatever `children` add), then `create`. */
export function CreateTokenForm<C>({
  testId,
  formLabel,
  nameLabel,
  nameDescription,
  placeholder,
  nameWidth,
  buttonLabel,
  create,
  onCreated,
  children,
}: {
  testId: string;
  formLabel: string;
  nameLabel: string;
  nameDescription?: string;
  placeholder: string;
  nameWidth: number;
  buttonLabel: string;
  create: (name: string) => Promise<C>;
  onCreated: (created: C) => void;
  /** Fields between the name and the button. */
  children?: ReactNode;
}) {
  const [name, setName] = useState('');
  const mutation = useMutation({
    mutationFn: () => create(name.trim()),
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
      aria-label={formLabel}
    >
      <Group align="flex-end" gap="xs">
        <TextInput
          label={nameLabel}
          {...(nameDescription !== undefined ? { description: nameDescription } : {})}
          placeholder={placeholder}
          maxLength={100}
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          w={nameWidth}
          data-testid={`${testId}-name`}
        />
        {children}
        <Button
          type="submit"
          leftSection={<IconKey size={14} />}
          disabled={!name.trim()}
          loading={mutation.isPending}
          data-testid={`create-${testId}`}
        >
          {buttonLabel}
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
