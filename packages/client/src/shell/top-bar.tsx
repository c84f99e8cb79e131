import { Anchor, Group, Text } from '@mantine/core';
import { IconCpu } from '@tabler/icons-react';
import { Link } from 'react-router';
import { UserMenu } from '../auth/user-menu.js';
import { ConnectionStatus } from './connection-status.js';
import { Logo } from './logo.js';

/** The bar above the pages outside a project (projects, compute, profile, audit log). */
export function TopBar() {
  return (
    <Group
      component="header"
      h={52}
      px="lg"
      justify="space-between"
      wrap="nowrap"
      style={{ borderBottom: '1px solid var(--mantine-color-default-border)', flex: '0 0 auto' }}
    >
      <Link to="/" aria-label="DeepForge: all projects" style={{ textDecoration: 'none', color: 'inherit' }}>
        <Group gap="xs" wrap="nowrap">
          <Logo size={28} />
          <Text fw={700}>DeepForge</Text>
        </Group>
      </Link>
      <Group gap="md" wrap="nowrap">
        <Anchor component={Link} to="/compute" size="sm" c="dimmed" data-testid="nav-compute">
          <Group gap={4} wrap="nowrap">
            <IconCpu size={16} />
            Compute
          </Group>
        </Anchor>
        <ConnectionStatus />
        <UserMenu />
      </Group>
    </Group>
  );
}
