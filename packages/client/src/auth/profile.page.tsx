import type { AccessTokenDto, CreatedAccessToken } from '@deepforge/protocol';
import {
  Badge,
  Box,
  Button,
  Code,
  Container,
  Group,
  Paper,
  PasswordInput,
  Select,
  Stack,
  Text,
  Title,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
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
import type { TokenExpiryChoice } from '../lib/account-rules.js';
import {
  DEFAULT_TOKEN_EXPIRY,
  expiresInDays,
  passwordProblem,
  repeatProblem,
  TOKEN_EXPIRY_CHOICES,
  tokenState,
} from '../lib/account-rules.js';
import { TopBar } from '../shell/top-bar.js';
import { ShownOnce } from '../ui/shown-once.js';
import { confirmRevoke, CreateTokenForm, TokenTable } from '../ui/token-list.js';
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

function AccessTokens() {
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: qk.accessTokens, queryFn: listAccessTokens });
  const [created, setCreated] = useState<CreatedAccessToken | null>(null);
  const [expiry, setExpiry] = useState<TokenExpiryChoice>(DEFAULT_TOKEN_EXPIRY);
  const reread = (): Promise<void> => queryClient.invalidateQueries({ queryKey: qk.accessTokens });

  const revoke = (t: AccessTokenDto): void =>
    confirmRevoke({
      title: `Revoke the token ${t.name}?`,
      body: (
        <>
          Scripts and CLIs that use it (<Code>{t.prefix}…</Code>) are refused from now on. This cannot be
          undone.
        </>
      ),
      testId: 'token',
      token: t,
      revoke: revokeAccessToken,
      revoked: () => {
        if (created?.info.id === t.id) setCreated(null);
        return reread();
      },
    });

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
        <CreateTokenForm
          testId="token"
          formLabel="Create a token"
          nameLabel="Token name"
          placeholder="laptop CLI"
          nameWidth={240}
          buttonLabel="Create token"
          create={(name) => createAccessToken({ name, expiresInDays: expiresInDays(expiry) })}
          onCreated={(t) => {
            setCreated(t);
            void reread();
          }}
        >
          <Select
            label="Expires"
            data={TOKEN_EXPIRY_CHOICES.map((c) => ({ value: c.value, label: c.label }))}
            value={expiry}
            onChange={(v) => v && setExpiry(v as TokenExpiryChoice)}
            allowDeselect={false}
            w={130}
            data-testid="token-expiry"
          />
        </CreateTokenForm>
        {created && (
          <ShownOnce
            title={`Your new token “${created.info.name}”`}
            value={created.token}
            label="New access token"
            onDone={() => setCreated(null)}
          />
        )}
        <TokenTable
          tokens={tokens}
          testId="token"
          stateOf={tokenState}
          extraColumn={{
            header: 'Expires',
            cell: (t) =>
              t.expiresAt === null ? (
                <Text size="xs">never</Text>
              ) : (
                <Text size="xs" title={new Date(t.expiresAt).toLocaleString()}>
                  {new Date(t.expiresAt).toLocaleDateString()}
                </Text>
              ),
          }}
          onRevoke={revoke}
          empty="No tokens yet."
        />
      </Stack>
    </Section>
  );
}
