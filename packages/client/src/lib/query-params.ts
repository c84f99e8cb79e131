import type { ExecutionStatus } from '@deepforge/core';
import type { ExecutionSort, SortOrder } from '@deepforge/protocol';

type QueryValue = string | number | boolean | null | undefined | readonly string[];

/**
 * A query string from a plain object: undefined, null and '' are left out, arrays become comma lists (as the
 * server's `status=failed,canceled` expects), keys keep their order. Returns '' or `?…`.
 */
export function queryString(params: Readonly<Record<string, QueryValue>>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) {
      if (value.length > 0) q.set(key, value.join(','));
      continue;
    }
    q.set(key, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface ExecutionListParams {
  search?: string;
  status?: readonly ExecutionStatus[];
  pipeline?: string;
  sort?: ExecutionSort;
  order?: SortOrder;
  page: number;
  pageSize: number;
}

/** The query of GET …/executions for one page of the table (pages count from 1). */
export function executionListQuery(p: ExecutionListParams): string {
  const page = Math.max(1, Math.floor(p.page));
  return queryString({
    search: p.search?.trim(),
    status: p.status,
    pipeline: p.pipeline,
    sort: p.sort,
    order: p.order,
    limit: p.pageSize,
    offset: (page - 1) * p.pageSize,
  });
}

/** Which page holds the last row, for clamping after a filter shrinks the list. */
export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/** Reads the table state from the URL (so a view can be linked and survives reload), with safe defaults. */
export function readListState<S extends string>(
  search: URLSearchParams,
  sorts: readonly S[],
  defaultSort: S,
): { q: string; sort: S; order: SortOrder; page: number } {
  const sortRaw = search.get('sort') as S | null;
  const sort = sortRaw && sorts.includes(sortRaw) ? sortRaw : defaultSort;
  const order: SortOrder = search.get('order') === 'asc' ? 'asc' : 'desc';
  const pageRaw = Number(search.get('page') ?? '1');
  const page = Number.isInteger(pageRaw) && pageRaw >= 1 ? pageRaw : 1;
  return { q: search.get('q') ?? '', sort, order, page };
}
