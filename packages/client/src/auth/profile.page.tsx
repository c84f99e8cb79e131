import type { AccessTokenDto, CreatedAccessToken } from '@deepforge/protocol';
import {
  ActionIcon,
  Badge,
  Box,
  Button,
  Center,
  Code,
  Container,
  Group,
  Loader,
  Paper,
  PasswordInput,
  Select,
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
import type { ReactNode } from 'react';
import { useState } from 'react';
import { Navigate } from 'react-router';
import {
  changePassword,
  createAccessToken,
  listAccessTokens,
  qk,
  revokeAccessToken,
} from '../api/endpoints.js';
import { ApiRequestError, errorMessage } from '../api/http.js';
import type { TokenExpiryChoice, TokenState } from '../lib/account-rules.js';
import {
  DEFAULT_TOKEN_EXPIRY,
  expiresInDays,
  passwordProblem,
  repeatProblem,
  TOKEN_EXPIRY_CHOICES,
  tokenState,
} from '../lib/account-rules.js';
import { TopBar } from '../shell/top-bar.js';
import { DateText } from '../ui/date-text.js';
import { ShownOnce } from '../ui/shown-once.js';
import { useAuth } from './auth.context.js';

/** Profile (accounts on): change the password, manage personal access tokens. */
export function ProfilePage() {
  const { enabled, user } = useAuth();
  if (!enabled || !user) return <Navigate to="/" replace />;
  return (
    <Box style={{ height: '100vh', display: 'flex', flexDirection: 'column' }}>
      <TopBar />
      <Box className="df-fill" style={{ overflow: 'auto' }}>
        <Container size="md" py="xl" data-testid="profile-page">
          <Group gap="xs" mb="lg" align="baseline">
            <Title order={2}>Profile</Title>
            <Text c="dimmed" size="sm">
              Signed in as <b>{user.name}</b>
            </Text>
            {user.admin && (
              <Badge variant="light" color="grape">
                admin
              </Badge>
            )}
          </Group>
          <Stack gap="lg">
            <AccessTokens />
            <ChangePassword />
          </Stack>
        </Container>
      </Box>
    </Box>
  );
}

function Section({
  title,
  description,
  children,
  testId,
}: {
  title: string;
  description: ReactNode;
  children: ReactNode;
  testId: string;
}) {
  return (
    <Paper withBorder p="lg" radius="md" component="section" aria-label={title} data-testid={testId}>
      <Title order={4}>{title}</Title>
      <Text size="sm" c="dimmed" mt={4} mb="md">
        {description}
      </Text>
      {children}
    </Paper>
  );
}

function ChangePassword() {
  const { passwordChanged } = useAuth();
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [touched, setTouched] = useState(false);
  const newProblem = password === '' ? null : passwordProblem(password);
  const repeatError = repeatProblem(password, repeat);
  const ready = current !== '' && password !== '' && !newProblem && repeat === password;
  const mutation = useMutation({
    mutationFn: () => changePassword(current, password),
    onSuccess: () => {
      notifications.show({ color: 'green', message: 'Password changed: sign in with the new one.' });
      passwordChanged();
    },
  });
  const error = mutation.error;
  return (
    <Section
      title="Password"
      description="Changing it ends every session of yours, in every browser: you sign in again afterwards. Access tokens keep working."
      testId="change-password"
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setTouched(true);
          if (ready) mutation.mutate();
        }}
        aria-label="Change password"
      >
        <Stack gap="sm" maw={360}>
          <PasswordInput
            label="Current password"
            autoComplete="current-password"
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
            error={
              error instanceof ApiRequestError && error.status === 403
                ? 'the current password is wrong'
                : null
            }
            data-testid="current-password"
          />
          <PasswordInput
            label="New password"
            description="At least 8 characters"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={touched || password.length >= 8 ? newProblem : null}
            data-testid="new-password"
          />
          <PasswordInput
            label="New password again"
            autoComplete="new-password"
            value={repeat}
            onChange={(e) => setRepeat(e.currentTarget.value)}
            error={repeatError}
            data-testid="repeat-password"
          />
          {error && !(error instanceof ApiRequestError && error.status === 403) && (
            <Text c="red" size="sm" role="alert">
              {errorMessage(error)}
            </Text>
          )}
          <Group>
            <Button
              type="submit"
              disabled={!ready}
              loading={mutation.isPending}
              data-testid="change-password-submit"
            >
              Change password
            </Button>
          </Group>
        </Stack>
      </form>
    </Section>
  );
}

const STATE_COLOR: Record<TokenState, string> = { active: 'green', expired: 'gray', revoked: 'red' };

function AccessTokens() {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: qk.accessTokens, queryFn: listAccessTokens });
  const [created, setCreated] = useState<CreatedAccessToken | null>(null);
  const now = Date.now();

  const revoke = (t: AccessTokenDto): void => {
    modals.openConfirmModal({
      title: `Revoke the token ${t.name}?`,
      children: (
        <Text size="sm">
          Scripts and CLIs that use it (<Code>{t.prefix}…</Code>) are refused from now on. This cannot be
          undone.
        </Text>
      ),
      labels: { confirm: 'Revoke', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-revoke-token' },
      onConfirm: () =>
        void revokeAccessToken(t.id)
          .then(() => {
            if (created?.info.id === t.id) setCreated(null);
            notifications.show({ message: `Revoked ${t.name}` });
            return queryClient.invalidateQueries({ queryKey: qk.accessTokens });
          })
          .catch((e: unknown) =>
            notifications.show({ color: 'red', title: 'Cannot revoke', message: errorMessage(e) }),
          ),
    });
  };

  return (
    <Section
      title="Personal access tokens"
      description={
        <>
          For the CLI (<Code>deepforge login</Code>) and scripts: send one as{' '}
          <Code>Authorization: Bearer &lt;token&gt;</Code>. A token can do whatever you can.
        </>
      }
      testId="access-tokens"
    >
      <Stack gap="md">
        <CreateToken
          onCreated={(t) => {
            setCreated(t);
            void queryClient.invalidateQueries({ queryKey: qk.accessTokens });
          }}
        />
        {created && (
          <ShownOnce
            title={`Your new token “${created.info.name}”`}
            value={created.token}
            label="New access token"
            onDone={() => setCreated(null)}
          />
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
          <Text size="sm" c="dimmed" data-testid="tokens-empty">
            No tokens yet.
          </Text>
        ) : (
          <Table data-testid="tokens-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Token</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th>Last used</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th w={40} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {tokens.data?.items.map((t) => {
                const state = tokenState(t, now);
                return (
                  <Table.Tr key={t.id} data-testid="token-row" data-token-name={t.name} data-state={state}>
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
                      {t.expiresAt === null ? (
                        <Text size="xs">never</Text>
                      ) : (
                        <Text size="xs" title={new Date(t.expiresAt).toLocaleString()}>
                          {new Date(t.expiresAt).toLocaleDateString()}
                        </Text>
                      )}
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
                      <Tooltip
                        label={
                          t.revokedAt !== null
                            ? `Revoked ${new Date(t.revokedAt).toLocaleString()}`
                            : state === 'expired'
                              ? 'Past its expiry date'
                              : 'In use'
                        }
                      >
                        <Badge variant="light" color={STATE_COLOR[state]} data-testid="token-state">
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
                            onClick={() => revoke(t)}
                            data-testid="revoke-token"
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
        )}
      </Stack>
    </Section>
  );
}

function CreateToken({ onCreated }: { onCreated: (t: CreatedAccessToken) => void }) {
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState<TokenExpiryChoice>(DEFAULT_TOKEN_EXPIRY);
  const mutation = useMutation({
    mutationFn: () => createAccessToken({ name: name.trim(), expiresInDays: expiresInDays(expiry) }),
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
      aria-label="Create a token"
    >
      <Group align="flex-end" gap="xs">
        <TextInput
          label="Token name"
          placeholder="laptop CLI"
          maxLength={100}
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          w={240}
          data-testid="token-name"
        />
        <Select
          label="Expires"
          data={TOKEN_EXPIRY_CHOICES.map((c) => ({ value: c.value, label: c.label }))}
          value={expiry}
          onChange={(v) => v && setExpiry(v as TokenExpiryChoice)}
          allowDeselect={false}
          w={130}
          data-testid="token-expiry"
        />
        <Button
          type="submit"
          leftSection={<IconKey size={14} />}
          disabled={!name.trim()}
          loading={mutation.isPending}
          data-testid="create-token"
        >
          Create token
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
