import { COMPARE_LIMITS, EXECUTION_STATUSES, type ExecutionStatus } from '@deepforge/core';
import type { ExecutionSort, ExecutionSummaryDto, SortOrder } from '@deepforge/protocol';
import { EXECUTION_SORT_KEYS } from '@deepforge/protocol';
import {
  Box,
  Button,
  Center,
  Checkbox,
  Group,
  Loader,
  MultiSelect,
  Pagination,
  Select,
  Table,
  Text,
  TextInput,
  UnstyledButton,
} from '@mantine/core';
import { useDebouncedValue, useHotkeys } from '@mantine/hooks';
import {
  IconChartLine,
  IconChevronDown,
  IconChevronUp,
  IconSearch,
  IconSelector,
  IconX,
} from '@tabler/icons-react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { listExecutions, qk } from '../api/endpoints.js';
import { errorMessage } from '../api/http.js';
import { useExecutionEvents } from '../api/events.context.js';
import { pipelineNames } from '../collab/doc-read.js';
import { useDocSelector } from '../collab/project-doc.context.js';
import { formatDuration, formatRelativeTime, isUnderway, liveDuration } from '../lib/job-status.js';
import { useServerNow } from '../lib/use-server-now.js';
import { pageCount, readListState } from '../lib/query-params.js';
import { useThrottledInvalidate } from '../pipelines/execution-tray.js';
import { ViewToolbar } from '../shell/project-layout.js';
import { showAllUntilTyped } from '../shell/select-filter.js';
import { CompareExecutions } from './compare-executions.js';
import { JobCounts, StatusBadge } from './execution-status-badge.js';

const PAGE_SIZE = 50;
const MAX_COMPARE = COMPARE_LIMITS.maxExecutions;

/**
 * Every execution of the project: searched, filtered, sorted and paged on the server (so ten thousand of them
 * cost one page), updating live. The table state is in the URL; select 2 to 8 to compare them (outcomes, differences, plots, metrics).
 */
export function ExecutionsListView() {
  const { projectId = '' } = useParams();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const { q, sort, order, page } = readListState(params, EXECUTION_SORT_KEYS, 'created');
  const status = (params.get('status') ?? '')
    .split(',')
    .filter((s): s is ExecutionStatus => (EXECUTION_STATUSES as readonly string[]).includes(s));
  const pipeline = params.get('pipeline') ?? '';
  const [search, setSearch] = useState(q);
  const [debounced] = useDebouncedValue(search, 250);
  const [selected, setSelected] = useState<Map<string, ExecutionSummaryDto>>(new Map());
  const [comparing, setComparing] = useState(false);
  const searchRef = useRef<HTMLInputElement>(null);
  const pipelines = useDocSelector((d) => pipelineNames(d), []);
  useHotkeys([['/', () => searchRef.current?.focus()]]);

  const update = (patch: Record<string, string | null>): void => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };
  useEffect(() => {
    if (debounced !== q) update({ q: debounced, page: null });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [debounced]);

  const listParams = {
    search: q,
    status,
    ...(pipeline ? { pipeline } : {}),
    sort,
    order,
    page,
    pageSize: PAGE_SIZE,
  };
  const key = [...qk.executions(projectId), 'list', listParams];
  const list = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => listExecutions(projectId, listParams, signal),
    placeholderData: keepPreviousData,
  });
  const refresh = useThrottledInvalidate(qk.executions(projectId), 1000);
  useExecutionEvents('*', (e) => {
    if (e.type === 'execution.status') refresh();
    else if (e.type === 'job.status' && list.data?.items.some((x) => x.id === e.executionId)) refresh();
  });

  const total = list.data?.total ?? 0;
  const pages = pageCount(total, PAGE_SIZE);
  // The rows shown, 1-based; also as data attributes of the footer, for tests to read unformatted.
  const first = (page - 1) * PAGE_SIZE + 1;
  const last = Math.min(page * PAGE_SIZE, total);
  useEffect(() => {
    if (list.data && page > pages) update({ page: String(pages) });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [list.data, page, pages]);

  const toggleSort = (key: ExecutionSort): void => {
    const nextOrder: SortOrder =
      sort === key ? (order === 'desc' ? 'asc' : 'desc') : key === 'name' ? 'asc' : 'desc';
    update({
      sort: key === 'created' ? null : key,
      order: nextOrder === 'desc' ? null : nextOrder,
      page: null,
    });
  };
  const toggle = (e: ExecutionSummaryDto): void =>
    setSelected((prev) => {
      const next = new Map(prev);
      if (next.has(e.id)) next.delete(e.id);
      else if (next.size < MAX_COMPARE) next.set(e.id, e);
      return next;
    });
  const items = list.data?.items ?? [];
  const serverNow = useServerNow(items.some(isUnderway));
  const allOnPage = items.length > 0 && items.every((e) => selected.has(e.id));
  const now = Date.now();

  return (
    <Box style={{ display: 'flex', flexDirection: 'column', height: '100%' }}>
      <ViewToolbar title="Executions" testId="executions-toolbar">
        <TextInput
          ref={searchRef}
          placeholder="Search name or pipeline  ( / )"
          leftSection={<IconSearch size={14} />}
          value={search}
          onChange={(e) => setSearch(e.currentTarget.value)}
          w={260}
          aria-label="Search executions"
          data-testid="executions-search"
          rightSection={
            search ? (
              <IconX
                size={12}
                style={{ cursor: 'pointer' }}
                onClick={() => setSearch('')}
                aria-label="Clear search"
              />
            ) : null
          }
        />
        <Select
          placeholder="All pipelines"
          data={pipelines}
          value={pipeline || null}
          onChange={(v) => update({ pipeline: v, page: null })}
          filter={showAllUntilTyped(pipeline)}
          clearable
          searchable
          w={170}
          aria-label="Pipeline"
          data-testid="executions-pipeline-filter"
        />
        <MultiSelect
          placeholder={status.length ? undefined : 'Any status'}
          data={EXECUTION_STATUSES.map((s) => ({ value: s, label: s }))}
          value={status}
          onChange={(v) => update({ status: v.join(','), page: null })}
          clearable
          w={200}
          aria-label="Status"
          data-testid="executions-status-filter"
        />
        <Button
          leftSection={<IconChartLine size={14} />}
          disabled={selected.size === 0}
          onClick={() => setComparing(true)}
          data-testid="compare-executions"
        >
          Compare{selected.size > 0 ? ` (${selected.size})` : ''}
        </Button>
      </ViewToolbar>
      <Box className="df-fill" style={{ overflow: 'auto' }}>
        {list.error ? (
          <Text c="red" size="sm" p="md">
            {errorMessage(list.error)}
          </Text>
        ) : list.isLoading ? (
          <Center py="xl">
            <Loader size="sm" />
          </Center>
        ) : items.length === 0 ? (
          <Center py={60} data-testid="executions-empty">
            <Text size="sm" c="dimmed">
              {q || status.length || pipeline
                ? 'No execution matches.'
                : 'No executions yet: open a pipeline and press Execute.'}
            </Text>
          </Center>
        ) : (
          <Table
            highlightOnHover
            stickyHeader
            data-testid="executions-table"
            data-placeholder={list.isPlaceholderData}
            style={{ opacity: list.isPlaceholderData ? 0.6 : 1 }}
          >
            <Table.Thead>
              <Table.Tr>
                <Table.Th w={36}>
                  <Checkbox
                    aria-label="Select this page"
                    checked={allOnPage}
                    indeterminate={!allOnPage && items.some((e) => selected.has(e.id))}
                    onChange={() =>
                      setSelected((prev) => {
                        const next = new Map(prev);
                        if (allOnPage) for (const e of items) next.delete(e.id);
                        else for (const e of items) if (next.size < MAX_COMPARE) next.set(e.id, e);
                        return next;
                      })
                    }
                  />
                </Table.Th>
                <SortTh label="Status" k="status" sort={sort} order={order} onSort={toggleSort} w={120} />
                <SortTh label="Name" k="name" sort={sort} order={order} onSort={toggleSort} />
                <Table.Th>Pipeline</Table.Th>
                <Table.Th>Jobs</Table.Th>
                <SortTh label="Created" k="created" sort={sort} order={order} onSort={toggleSort} w={130} />
                <SortTh label="Duration" k="duration" sort={sort} order={order} onSort={toggleSort} w={110} />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((e) => (
                <Table.Tr
                  key={e.id}
                  className="df-row-link"
                  data-testid="execution-row"
                  data-execution-id={e.id}
                  data-status={e.status}
                  onClick={() => void navigate(`/projects/${projectId}/executions/${e.id}`)}
                >
                  <Table.Td onClick={(ev) => ev.stopPropagation()}>
                    <Checkbox
                      aria-label={`Select ${e.name}`}
                      checked={selected.has(e.id)}
                      onChange={() => toggle(e)}
                    />
                  </Table.Td>
                  <Table.Td>
                    <StatusBadge status={e.status} />
                  </Table.Td>
                  <Table.Td>
                    <Text
                      size="sm"
                      fw={500}
                      component={Link}
                      to={`/projects/${projectId}/executions/${e.id}`}
                      c="inherit"
                      style={{ textDecoration: 'none' }}
                      onClick={(ev) => ev.stopPropagation()}
                    >
                      {e.name}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text
                      size="xs"
                      component={Link}
                      to={`/projects/${projectId}/pipelines/${encodeURIComponent(e.pipeline)}`}
                      onClick={(ev) => ev.stopPropagation()}
                      c="dimmed"
                    >
                      {e.pipeline}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <JobCounts counts={e.jobCounts} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed" title={new Date(e.createdAt).toLocaleString()}>
                      {formatRelativeTime(e.createdAt, now)}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="xs" c="dimmed">
                      {formatDuration(liveDuration(e, serverNow))}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </Box>
      <Group
        h={44}
        px="md"
        justify="space-between"
        style={{ borderTop: '1px solid var(--mantine-color-default-border)', flex: '0 0 auto' }}
      >
        <Text
          size="xs"
          c="dimmed"
          data-testid="executions-total"
          data-first={total === 0 ? 0 : first}
          data-last={last}
          data-total={total}
        >
          {total === 0
            ? ''
            : `${first.toLocaleString()}–${last.toLocaleString()} of ${total.toLocaleString()}`}
          {selected.size > 0 && ` · ${selected.size} selected`}
          {selected.size >= MAX_COMPARE && ` (at most ${MAX_COMPARE})`}
        </Text>
        <Pagination
          size="sm"
          total={pages}
          value={Math.min(page, pages)}
          onChange={(p) => update({ page: p === 1 ? null : String(p) })}
          siblings={1}
          boundaries={1}
          data-testid="executions-pagination"
        />
      </Group>
      {comparing && (
        <CompareExecutions
          projectId={projectId}
          executions={[...selected.values()]}
          onClose={() => setComparing(false)}
        />
      )}
    </Box>
  );
}

function SortTh({
  label,
  k,
  sort,
  order,
  onSort,
  w,
}: {
  label: string;
  k: ExecutionSort;
  sort: ExecutionSort;
  order: SortOrder;
  onSort: (k: ExecutionSort) => void;
  w?: number;
}) {
  const active = sort === k;
  const Icon = active ? (order === 'asc' ? IconChevronUp : IconChevronDown) : IconSelector;
  return (
    <Table.Th w={w} aria-sort={active ? (order === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <UnstyledButton onClick={() => onSort(k)} data-testid={`sort-${k}`}>
        <Group gap={4} wrap="nowrap">
          <Text size="sm" fw={600}>
            {label}
          </Text>
          <Icon size={14} color={active ? undefined : 'var(--mantine-color-dimmed)'} />
        </Group>
      </UnstyledButton>
    </Table.Th>
  );
}
