import type { MemberDto, ProjectRoleDto } from '@deepforge/protocol';
import {
  ActionIcon,
  Alert,
  Badge,
  Button,
  Center,
  Group,
  Loader,
  Modal,
  PasswordInput,
  Select,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Tooltip,
} from '@mantine/core';
import { modals } from '@mantine/modals';
import { notifications } from '@mantine/notifications';
import {
  IconAlertCircle,
  IconDoorExit,
  IconKey,
  IconTrash,
  IconUserPlus,
  IconUsers,
} from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useNavigate } from 'react-router';
import type { SecretDto } from '../api/endpoints.js';
import {
  deleteSecret,
  listMembers,
  listSecrets,
  listUsers,
  putMember,
  putSecret,
  qk,
  removeMember,
} from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { secretNameProblem } from '../lib/account-rules.js';
import { formatRelativeTime } from '../lib/job-status.js';
import {
  PROJECT_ROLES,
  removalProblem,
  ROLE_DESCRIPTION,
  roleChangeProblem,
  sortMembers,
} from '../lib/project-capabilities.js';
import { useAuth } from './auth.context.js';
import { useProjectAccess } from './project-access.context.js';

const ROLE_OPTIONS = PROJECT_ROLES.map((r) => ({ value: r, label: r }));

export interface ShareModalProps {
  projectId: string;
  projectName: string;
  onClose: () => void;
}

/**
 * Sharing a project (accounts on): its members and their roles; owners add users, change roles and remove
 * members, anyone may leave. Owners also set the project's secrets here (accounts off: only those).
 */
export function ShareModal({ projectId, projectName, onClose }: ShareModalProps) {
  const { enabled } = useAuth();
  const access = useProjectAccess();
  const tabs = [
    ...(enabled ? (['members'] as const) : []),
    ...(access.canManageSecrets ? (['secrets'] as const) : []),
  ];
  const [tab, setTab] = useState<string | null>(tabs[0] ?? null);
  return (
    <Modal
      opened
      onClose={onClose}
      size="lg"
      title={enabled ? `Share ${projectName}` : `Secrets of ${projectName}`}
      data-testid="share-dialog"
    >
      {tabs.length > 1 ? (
        <Tabs value={tab} onChange={setTab} keepMounted={false}>
          <Tabs.List mb="md">
            <Tabs.Tab value="members" leftSection={<IconUsers size={14} />} data-testid="share-tab-members">
              Members
            </Tabs.Tab>
            <Tabs.Tab value="secrets" leftSection={<IconKey size={14} />} data-testid="share-tab-secrets">
              Secrets
            </Tabs.Tab>
          </Tabs.List>
          <Tabs.Panel value="members">
            <Members projectId={projectId} onLeft={onClose} />
          </Tabs.Panel>
          <Tabs.Panel value="secrets">
            <Secrets projectId={projectId} />
          </Tabs.Panel>
        </Tabs>
      ) : tabs[0] === 'members' ? (
        <Members projectId={projectId} onLeft={onClose} />
      ) : tabs[0] === 'secrets' ? (
        <Secrets projectId={projectId} />
      ) : null}
    </Modal>
  );
}

function Members({ projectId, onLeft }: { projectId: string; onLeft: () => void }) {
  const { user } = useAuth();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const members = useQuery({ queryKey: qk.members(projectId), queryFn: () => listMembers(projectId) });
  const you = members.data?.you ?? 'reader';
  const owner = you === 'owner';
  const users = useQuery({ queryKey: qk.users, queryFn: listUsers, enabled: owner });
  const [error, setError] = useState<string | null>(null);
  const [adding, setAdding] = useState<string | null>(null);
  const [addRole, setAddRole] = useState<ProjectRoleDto>('writer');
  const items = sortMembers(members.data?.items ?? []);
  const me = user?.name ?? '';
  const refresh = (): Promise<void> => queryClient.invalidateQueries({ queryKey: qk.members(projectId) });

  const change = useMutation({
    mutationFn: ({ name, role }: { name: string; role: ProjectRoleDto }) => putMember(projectId, name, role),
    onMutate: () => setError(null),
    onSuccess: () => refresh(),
    onError: (e) => setError(errorMessage(e)),
  });
  const remove = useMutation({
    mutationFn: (name: string) => removeMember(projectId, name),
    onMutate: () => setError(null),
    onSuccess: async (_, name) => {
      if (name === me) {
        notifications.show({ message: 'You have left the project.' });
        await queryClient.invalidateQueries({ queryKey: qk.projects });
        onLeft();
        void navigate('/');
        return;
      }
      await refresh();
    },
    onError: (e) => setError(errorMessage(e)),
  });

  const confirmRemove = (m: MemberDto): void => {
    const self = m.name === me;
    modals.openConfirmModal({
      title: self ? 'Leave this project?' : `Remove ${m.name}?`,
      children: (
        <Text size="sm">
          {self
            ? 'You will no longer see it; an owner can add you again.'
            : `${m.name} will no longer see the project.`}
        </Text>
      ),
      labels: { confirm: self ? 'Leave' : 'Remove', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-remove-member' },
      onConfirm: () => remove.mutate(m.name),
    });
  };

  if (members.isLoading) {
    return (
      <Center py="lg">
        <Loader size="sm" />
      </Center>
    );
  }
  if (members.error) {
    return (
      <Text c="red" size="sm">
        {errorMessage(members.error)}
      </Text>
    );
  }
  const memberNames = new Set(items.map((m) => m.name));
  const candidates = (users.data?.items ?? [])
    .filter((u) => !memberNames.has(u.name))
    .map((u) => ({ value: u.name, label: u.name }));

  return (
    <Stack gap="md" data-testid="share-members">
      {owner && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (!adding) return;
            change.mutate({ name: adding, role: addRole }, { onSuccess: () => setAdding(null) });
          }}
          aria-label="Add a member"
        >
          <Group align="flex-end" gap="xs" wrap="nowrap">
            <Select
              label="Add a person"
              placeholder={users.isLoading ? 'Loading users…' : 'Choose a user'}
              data={candidates}
              value={adding}
              onChange={setAdding}
              searchable
              nothingFoundMessage={
                users.data && candidates.length === 0
                  ? 'Everyone is a member already'
                  : 'No user by that name'
              }
              className="df-fill"
              data-testid="share-user-select"
            />
            <Select
              label="Role"
              data={ROLE_OPTIONS}
              value={addRole}
              onChange={(v) => v && setAddRole(v as ProjectRoleDto)}
              allowDeselect={false}
              w={110}
              data-testid="share-role-select"
            />
            <Button
              type="submit"
              leftSection={<IconUserPlus size={14} />}
              disabled={!adding}
              loading={change.isPending && change.variables.name === adding}
              data-testid="share-add"
            >
              Add
            </Button>
          </Group>
        </form>
      )}
      {error && (
        <Alert
          color="red"
          variant="light"
          p="xs"
          icon={<IconAlertCircle size={16} />}
          role="alert"
          withCloseButton
          onClose={() => setError(null)}
          data-testid="share-error"
        >
          <Text size="sm">{error}</Text>
        </Alert>
      )}
      <Table data-testid="members-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Member</Table.Th>
            <Table.Th w={150}>Role</Table.Th>
            <Table.Th w={110} />
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {items.map((m) => {
            const self = m.name === me;
            const removeWhyNot = removalProblem(items, { name: me, role: you }, m.name);
            return (
              <Table.Tr key={m.name} data-testid="member-row" data-member={m.name} data-role={m.role}>
                <Table.Td>
                  <Group gap={6} wrap="nowrap">
                    <Text size="sm" fw={500}>
                      {m.name}
                    </Text>
                    {self && (
                      <Badge size="xs" variant="light" color="gray">
                        you
                      </Badge>
                    )}
                  </Group>
                  <Text size="xs" c="dimmed">
                    {ROLE_DESCRIPTION[m.role]}
                  </Text>
                </Table.Td>
                <Table.Td>
                  {owner ? (
                    <Select
                      aria-label={`Role of ${m.name}`}
                      data={ROLE_OPTIONS.map((o) => ({
                        ...o,
                        disabled: roleChangeProblem(items, you, m.name, o.value) !== null,
                      }))}
                      value={m.role}
                      onChange={(v) => {
                        if (v && v !== m.role) change.mutate({ name: m.name, role: v as ProjectRoleDto });
                      }}
                      allowDeselect={false}
                      disabled={change.isPending && change.variables.name === m.name}
                      data-testid={`member-role-${m.name}`}
                    />
                  ) : (
                    <Badge variant="light" data-testid={`member-role-${m.name}`}>
                      {m.role}
                    </Badge>
                  )}
                </Table.Td>
                <Table.Td ta="right">
                  {self ? (
                    <Tooltip label={removeWhyNot ?? 'Stop being a member'}>
                      <Button
                        variant="subtle"
                        color="red"
                        leftSection={<IconDoorExit size={14} />}
                        data-disabled={removeWhyNot !== null || undefined}
                        aria-disabled={removeWhyNot !== null || undefined}
                        onClick={(e) => {
                          if (removeWhyNot) e.preventDefault();
                          else confirmRemove(m);
                        }}
                        data-testid="leave-project"
                      >
                        Leave
                      </Button>
                    </Tooltip>
                  ) : owner ? (
                    <Tooltip label={removeWhyNot ?? `Remove ${m.name}`}>
                      <ActionIcon
                        color="red"
                        aria-label={`Remove ${m.name}`}
                        data-disabled={removeWhyNot !== null || undefined}
                        aria-disabled={removeWhyNot !== null || undefined}
                        onClick={() => !removeWhyNot && confirmRemove(m)}
                        data-testid={`remove-member-${m.name}`}
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  ) : null}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
      {items.length === 0 && (
        <Text size="sm" c="dimmed">
          Nobody is a member yet: as an admin you own it until you add someone.
        </Text>
      )}
      {!owner && (
        <Text size="xs" c="dimmed">
          Your role: {you}. Only owners add members and change roles.
        </Text>
      )}
    </Stack>
  );
}

function Secrets({ projectId }: { projectId: string }) {
  const queryClient = useQueryClient();
  const secrets = useQuery({ queryKey: qk.secrets(projectId), queryFn: () => listSecrets(projectId) });
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const names = new Set((secrets.data?.items ?? []).map((s) => s.name));
  const problem = secretNameProblem(name.trim());
  const refresh = (): Promise<void> => queryClient.invalidateQueries({ queryKey: qk.secrets(projectId) });

  const save = useMutation({
    mutationFn: () => putSecret(projectId, name.trim(), value),
    onMutate: () => setError(null),
    onSuccess: () => {
      notifications.show({
        color: 'green',
        message: `${names.has(name.trim()) ? 'Replaced' : 'Set'} the secret ${name.trim()}`,
      });
      setName('');
      setValue('');
      setTouched(false);
      return refresh();
    },
    onError: (e) => setError(errorMessage(e)),
  });
  const remove = (s: SecretDto): void => {
    modals.openConfirmModal({
      title: `Remove the secret ${s.name}?`,
      children: <Text size="sm">Jobs started from now on no longer get {s.name}.</Text>,
      labels: { confirm: 'Remove', cancel: 'Cancel' },
      confirmProps: { color: 'red', 'data-testid': 'confirm-remove-secret' },
      onConfirm: () =>
        void deleteSecret(projectId, s.name)
          .then(refresh)
          .catch((e: unknown) => setError(errorMessage(e))),
    });
  };

  return (
    <Stack gap="md" data-testid="share-secrets">
      <Text size="sm" c="dimmed">
        Secrets (API keys a job needs) reach this project&apos;s jobs as environment variables. Values are
        write-only: nobody can read them back here, and they never appear in job specs, logs or downloads.
      </Text>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setTouched(true);
          if (!problem && value !== '') save.mutate();
        }}
        aria-label="Set a secret"
      >
        <Group align="flex-start" gap="xs" wrap="nowrap">
          <TextInput
            label="Name"
            placeholder="WANDB_API_KEY"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={name !== '' || touched ? problem : null}
            w={200}
            styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            data-testid="secret-name"
          />
          <PasswordInput
            label="Value"
            placeholder={names.has(name.trim()) ? 'a new value replaces the old' : 'write-only'}
            autoComplete="new-password"
            value={value}
            onChange={(e) => setValue(e.currentTarget.value)}
            className="df-fill"
            data-testid="secret-value"
          />
          <Button
            type="submit"
            mt={23}
            disabled={problem !== null || value === ''}
            loading={save.isPending}
            data-testid="secret-save"
          >
            {names.has(name.trim()) ? 'Replace' : 'Set'}
          </Button>
        </Group>
      </form>
      {error && (
        <Alert color="red" variant="light" p="xs" role="alert" data-testid="secret-error">
          <Text size="sm">{error}</Text>
        </Alert>
      )}
      {secrets.isLoading ? (
        <Center py="md">
          <Loader size="sm" />
        </Center>
      ) : secrets.error ? (
        <Text c="red" size="sm">
          {errorMessage(secrets.error)}
        </Text>
      ) : (secrets.data?.items.length ?? 0) === 0 ? (
        <Text size="sm" c="dimmed" data-testid="secrets-empty">
          No secrets yet.
        </Text>
      ) : (
        <Table data-testid="secrets-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Value</Table.Th>
              <Table.Th>Set</Table.Th>
              <Table.Th w={70} />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {secrets.data?.items.map((s) => (
              <Table.Tr key={s.name} data-testid="secret-row" data-secret={s.name}>
                <Table.Td className="df-mono">{s.name}</Table.Td>
                <Table.Td>
                  <Text size="xs" c="dimmed">
                    ••••••••
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Text size="xs" title={new Date(s.updatedAt).toLocaleString()}>
                    {formatRelativeTime(s.updatedAt, Date.now())}
                    {s.updatedBy ? ` by ${s.updatedBy}` : ''}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Group gap={2} wrap="nowrap">
                    <Tooltip label="Set a new value">
                      <ActionIcon
                        aria-label={`Set a new value for ${s.name}`}
                        onClick={() => {
                          setName(s.name);
                          setValue('');
                        }}
                        data-testid="secret-replace"
                      >
                        <IconKey size={16} />
                      </ActionIcon>
                    </Tooltip>
                    <Tooltip label="Remove">
                      <ActionIcon
                        color="red"
                        aria-label={`Remove ${s.name}`}
                        onClick={() => remove(s)}
                        data-testid="secret-remove"
                      >
                        <IconTrash size={16} />
                      </ActionIcon>
                    </Tooltip>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}
