import { Avatar, Badge, Group, Menu, Text, UnstyledButton } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconChevronDown, IconListDetails, IconLogout, IconUser } from '@tabler/icons-react';
import { Link, useNavigate } from 'react-router';
import { errorMessage } from '../api/http.js';
import { colorOf, initials } from '../collab/local-user.js';
import { SIGN_IN_PATH } from '../lib/return-path.js';
import { useAuth } from './auth.context.js';

/** The signed-in user's name in the header, with Profile, the audit log (admins) and Sign out. */
export function UserMenu() {
  const { user, signOut } = useAuth();
  const navigate = useNavigate();
  if (!user) return null;
  return (
    <Menu position="bottom-end" width={240} withinPortal>
      <Menu.Target>
        <UnstyledButton
          data-testid="user-menu"
          data-user={user.name}
          aria-label={`${user.name}: account menu`}
        >
          <Group gap={6} wrap="nowrap">
            <Avatar size={24} radius="xl" variant="filled" color={colorOf(user.name)}>
              {initials(user.name)}
            </Avatar>
            <Text size="sm" fw={500} data-testid="user-name">
              {user.name}
            </Text>
            <IconChevronDown size={14} color="var(--mantine-color-dimmed)" />
          </Group>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>
          <Group gap={6} justify="space-between" wrap="nowrap">
            <Text size="xs" c="dimmed" truncate>
              Signed in as {user.name}
            </Text>
            {user.admin && (
              <Badge size="xs" variant="light" color="grape">
                admin
              </Badge>
            )}
          </Group>
        </Menu.Label>
        <Menu.Item
          component={Link}
          to="/profile"
          leftSection={<IconUser size={14} />}
          data-testid="user-menu-profile"
        >
          Profile
        </Menu.Item>
        {user.admin && (
          <Menu.Item
            component={Link}
            to="/admin/audit"
            leftSection={<IconListDetails size={14} />}
            data-testid="user-menu-audit"
          >
            Audit log
          </Menu.Item>
        )}
        <Menu.Divider />
        <Menu.Item
          leftSection={<IconLogout size={14} />}
          onClick={() => {
            signOut()
              .catch((e: unknown) =>
                notifications.show({ color: 'red', title: 'Sign-out failed', message: errorMessage(e) }),
              )
              .finally(() => void navigate(SIGN_IN_PATH, { replace: true }));
          }}
          data-testid="sign-out"
        >
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
