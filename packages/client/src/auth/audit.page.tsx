import {
  Badge,
  Box,
  Center,
  Container,
  Group,
  Loader,
  Pagination,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { IconSearch } from '@tabler/icons-react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Navigate, useSearchParams } from 'react-router';
import type { AuditParams } from '../api/endpoints.js';
import { getAudit, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { AUDIT_ACTIONS, auditActionColor, auditPage } from '../lib/audit-log.js';
import { pageCount } from '../lib/query-params.js';
import { TopBar } from '../shell/top-bar.js';
import { useAuth } from './auth.context.js';

const PAGE_SIZE = 50;

/** The audit log (admins): sign-ins, failed sign-ins, role changes, token use…, newest first, filterable. */
export function AuditPage() {
  const { enabled, user } = useAuth();
  if (!enabled || !user) return <Navigate to="/" replace />;
  return (
    <Box style={{ height: '100vh', display: 'flex', flexDirection: 'column' }}>
      <TopBar />
      <Box className="df-fill" style={{ overflow: 'auto' }}>
        <Container size="xl" py="xl" data-testid="audit-page">
          {user.admin ? (
            <AuditLog />
          ) : (
            <Center py={60}>
              <Stack align="center" gap={4}>
                <Text fw={600}>Only admins read the audit log</Text>
                <Text size="sm" c="dimmed">
                  An admin can make you one: deepforge users admin {user.name} on
                </Text>
              </Stack>
            </Center>
          )}
        </Container>
      </Box>
    </Box>
  );
}

function AuditLog() {
  const [params, setParams] = useSearchParams();
  const action = params.get('action') ?? '';
  const page = auditPage(params.get('page'));
  const [actor, setActor] = useState(params.get('actor') ?? '');
  const [debouncedActor] = useDebouncedValue(actor.trim(), 300);
  const update = (patch: Record<string, string | null>): void => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };
  useEffect(() => {
    if ((params.get('actor') ?? '') !== debouncedActor) update({ actor: debouncedActor, page: null });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debouncedActor]);

  const query: AuditParams = {
    limit: PAGE_SIZE,
    offset: (page - 1) * PAGE_SIZE,
    action: action || undefined,
    actor: params.get('actor') || undefined,
  };
  const log = useQuery({
    queryKey: qk.audit(query),
    queryFn: () => getAudit(query),
    placeholderData: keepPreviousData,
  });
  const total = log.data?.total ?? 0;
  const pages = pageCount(total, PAGE_SIZE);

  return (
    <>
      <Group justify="space-between" mb="md" wrap="wrap">
        <Group gap="xs" align="baseline">
          <Title order={2}>Audit log</Title>
          {log.data && (
            <Text size="sm" c="dimmed" data-testid="audit-total">
              {total} entr{total === 1 ? 'y' : 'ies'}
            </Text>
          )}
        </Group>
        <Group gap="xs">
          <Select
            placeholder="Any action"
            aria-label="Action"
            data={AUDIT_ACTIONS.map((a) => ({ value: a, label: a }))}
            value={action || null}
            onChange={(v) => update({ action: v, page: null })}
            searchable
            clearable
            w={190}
            data-testid="audit-action-filter"
          />
          <TextInput
            placeholder="Actor"
            aria-label="Actor"
            leftSection={<IconSearch size={14} />}
            value={actor}
            onChange={(e) => setActor(e.currentTarget.value)}
            w={160}
            data-testid="audit-actor-filter"
          />
        </Group>
      </Group>
      {log.isLoading ? (
        <Center py="xl">
          <Loader size="sm" />
        </Center>
      ) : log.error ? (
        <Text c="red" size="sm">
          {errorMessage(log.error)}
        </Text>
      ) : total === 0 ? (
        <Center py={60} data-testid="audit-empty">
          <Text size="sm" c="dimmed">
            {action || query.actor ? 'No entry matches.' : 'Nothing recorded yet.'}
          </Text>
        </Center>
      ) : (
        <Table striped data-testid="audit-table" style={{ opacity: log.isPlaceholderData ? 0.6 : 1 }} fz="xs">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={170}>When</Table.Th>
              <Table.Th>Actor</Table.Th>
              <Table.Th>Action</Table.Th>
              <Table.Th>Target</Table.Th>
              <Table.Th>Detail</Table.Th>
              <Table.Th>Address</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {log.data?.items.map((e) => (
              <Table.Tr key={e.id} data-testid="audit-row" data-action={e.action}>
                <Table.Td style={{ whiteSpace: 'nowrap' }}>{new Date(e.at).toLocaleString()}</Table.Td>
                <Table.Td>
                  {e.actor ?? (
                    <Text span size="xs" c="dimmed">
                      —
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <Badge variant="light" color={auditActionColor(e.action)}>
                    {e.action}
                  </Badge>
                </Table.Td>
                <Table.Td className="df-mono" style={{ wordBreak: 'break-all' }}>
                  {e.target ?? ''}
                </Table.Td>
                <Table.Td className="df-mono" style={{ wordBreak: 'break-all' }}>
                  {e.detail ?? ''}
                </Table.Td>
                <Table.Td className="df-mono">{e.ip ?? ''}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
      {pages > 1 && (
        <Group justify="center" mt="md">
          <Pagination
            total={pages}
            value={Math.min(page, pages)}
            onChange={(p) => update({ page: p === 1 ? null : String(p) })}
            size="sm"
            data-testid="audit-pages"
          />
        </Group>
      )}
    </>
  );
}
