import {
  Alert,
  Button,
  Center,
  Code,
  Group,
  Loader,
  Paper,
  PasswordInput,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { IconAlertCircle, IconInfoCircle, IconLock } from '@tabler/icons-react';
import { useEffect, useState } from 'react';
import { Navigate, useSearchParams } from 'react-router';
import { signIn } from '../api/endpoints.js';
import { ApiRequestError, errorMessage } from '../api/http.js';
import { formatWait } from '../lib/account-rules.js';
import type { SignedOutReason } from '../lib/auth-state.js';
import { returnPath } from '../lib/return-path.js';
import { Logo } from '../shell/logo.js';
import { useAuth } from './auth.context.js';

const REASON_TEXT: Record<Exclude<SignedOutReason, 'start'>, string> = {
  'signed-out': 'You have signed out.',
  'session-ended': 'Your session has ended. Sign in again to continue where you were.',
  'password-changed': 'Your password was changed and every session ended. Sign in with the new password.',
};

/** The sign-in page (accounts on): name and password; afterwards back to `?next=`, or the projects. */
export function SignInPage() {
  const { state, recheck } = useAuth();
  const [params] = useSearchParams();
  const next = returnPath(params.get('next'));

  if (state.phase === 'off' || state.phase === 'signed-in') return <Navigate to={next} replace />;
  if (state.phase === 'loading') {
    return (
      <Center h="100vh">
        <Loader size="sm" />
      </Center>
    );
  }
  if (state.phase === 'unreachable') return <ServerUnreachable message={state.message} onRetry={recheck} />;

  return (
    <Center h="100vh" p="md" style={{ overflow: 'auto' }}>
      <Paper
        withBorder
        shadow="sm"
        radius="md"
        p="xl"
        w={state.needsFirstUser ? 440 : 380}
        maw="100%"
        data-testid="sign-in-page"
      >
        <Stack gap="md">
          <Group gap="xs">
            <Logo size={32} />
            <Title order={3}>Sign in to DeepForge</Title>
          </Group>
          {state.needsFirstUser ? (
            <FirstUser onRecheck={recheck} />
          ) : (
            <>
              {state.reason !== 'start' && (
                <Text
                  size="sm"
                  c={state.reason === 'signed-out' ? 'dimmed' : undefined}
                  data-testid="sign-in-reason"
                  data-reason={state.reason}
                >
                  {REASON_TEXT[state.reason]}
                </Text>
              )}
              <SignInForm initialName={state.lastName ?? ''} />
            </>
          )}
        </Stack>
      </Paper>
    </Center>
  );
}

function SignInForm({ initialName }: { initialName: string }) {
  const { signedIn } = useAuth();
  const [name, setName] = useState(initialName);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // After a 429 for this name: no point in trying it again before the server's Retry-After has passed (the
  // limit counts per name and address, so another name may still be tried).
  const [lock, setLock] = useState<{ name: string; until: number } | null>(null);
  const now = useTickWhile(lock !== null);
  const waitS = lock && lock.name === name.trim() ? Math.max(0, (lock.until - now) / 1000) : 0;
  useEffect(() => {
    if (lock !== null && lock.until <= now) setLock(null);
  }, [lock, now]);

  const submit = async (): Promise<void> => {
    if (!name.trim() || !password || busy || waitS > 0) return;
    setBusy(true);
    setError(null);
    try {
      const user = await signIn({ name: name.trim(), password });
      signedIn(user);
    } catch (e) {
      setPassword('');
      if (e instanceof ApiRequestError && e.status === 401) setError('Wrong name or password.');
      else if (e instanceof ApiRequestError && e.status === 429) {
        const seconds = e.retryAfterS ?? 60;
        setLock({ name: name.trim(), until: Date.now() + seconds * 1000 });
        setError(`Too many failed sign-ins. Try again in ${formatWait(seconds)}.`);
      } else setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
      aria-label="Sign in"
      data-testid="sign-in-form"
    >
      <Stack gap="sm">
        <TextInput
          size="sm"
          label="Name"
          name="username"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          autoFocus={initialName === ''}
          required
          value={name}
          onChange={(e) => setName(e.currentTarget.value)}
          data-testid="sign-in-name"
        />
        <PasswordInput
          size="sm"
          label="Password"
          name="password"
          autoComplete="current-password"
          autoFocus={initialName !== ''}
          required
          value={password}
          onChange={(e) => setPassword(e.currentTarget.value)}
          data-testid="sign-in-password"
        />
        {error && (
          <Alert
            color="red"
            variant="light"
            p="xs"
            icon={<IconAlertCircle size={16} />}
            role="alert"
            data-testid="sign-in-error"
          >
            <Text size="sm">{error}</Text>
          </Alert>
        )}
        <Button
          type="submit"
          size="sm"
          fullWidth
          loading={busy}
          disabled={!name.trim() || !password || waitS > 0}
          leftSection={<IconLock size={16} />}
          data-testid="sign-in-submit"
        >
          {waitS > 0 ? `Sign in (in ${formatWait(waitS)})` : 'Sign in'}
        </Button>
      </Stack>
    </form>
  );
}

function FirstUser({ onRecheck }: { onRecheck: () => void }) {
  return (
    <Stack gap="sm" data-testid="needs-first-user">
      <Alert color="blue" variant="light" icon={<IconInfoCircle size={16} />} title="No accounts yet">
        <Stack gap={6}>
          <Text size="sm">
            Accounts are on, but nobody can sign in yet. On the server&apos;s machine, create the first user,
            an admin:
          </Text>
          <Code block style={{ whiteSpace: 'pre-wrap' }}>
            deepforge users add &lt;name&gt; --admin
          </Code>
          <Text size="xs" c="dimmed">
            It asks for the password (or reads it from stdin). Admins add the others the same way.
          </Text>
        </Stack>
      </Alert>
      <Button variant="default" onClick={onRecheck} data-testid="recheck-first-user">
        I have created it: sign in
      </Button>
    </Stack>
  );
}

/** The status request failed: the server is down or unreachable. */
export function ServerUnreachable({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <Center h="100vh" data-testid="server-unreachable">
      <Stack align="center" gap="xs" maw={480}>
        <Title order={3}>Cannot reach DeepForge</Title>
        <Text size="sm" c="dimmed" ta="center">
          {message}
        </Text>
        <Button variant="light" onClick={onRetry}>
          Try again
        </Button>
      </Stack>
    </Center>
  );
}

/** Date.now(), updated every second while `active`. */
function useTickWhile(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}
