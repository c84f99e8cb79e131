import type { ApiError, DiagnosticDto } from '@deepforge/protocol';

/** A REST call that did not succeed, with the server's error code, message and the field to blame. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  readonly status: number;
  readonly code: ApiError['error'] | 'network';
  readonly field: string | undefined;
  readonly diagnostics: DiagnosticDto[];
  readonly uses: { pipeline: string; node: string }[];
  /** Seconds to wait before asking again (a 429's Retry-After), when the server said. */
  readonly retryAfterS: number | undefined;

  constructor(status: number, body: Partial<ApiError> | null, fallback: string, retryAfter?: string | null) {
    super(body?.message ?? fallback);
    this.status = status;
    this.code = body?.error ?? (status === 0 ? 'network' : 'internal');
    this.field = body?.field;
    this.diagnostics = body?.diagnostics ?? [];
    this.uses = body?.uses ?? [];
    const seconds = retryAfter ? Number(retryAfter) : NaN;
    this.retryAfterS = Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds) : undefined;
  }
}

type ApiErrorListener = (error: ApiRequestError) => void;
const errorListeners = new Set<ApiErrorListener>();

/**
 * Hears every failed API call (the sign-in's own wrong password excepted): the auth context sends a 401 (the
 * session ended) to the sign-in page, a project's access re-reads its role after a 403.
 */
export function onApiError(listener: ApiErrorListener): () => void {
  errorListeners.add(listener);
  return () => errorListeners.delete(listener);
}

/** Tells the listeners of onApiError; for requests made without `api` (uploads). */
export function reportApiError(error: ApiRequestError): void {
  for (const l of errorListeners) l(error);
}

async function errorOf(res: Response): Promise<ApiRequestError> {
  let body: Partial<ApiError> | null = null;
  try {
    body = (await res.json()) as Partial<ApiError>;
  } catch {
    body = null;
  }
  return new ApiRequestError(
    res.status,
    body,
    `${res.status} ${res.statusText || 'request failed'}`,
    res.headers.get('retry-after'),
  );
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** JSON body (objects), or raw bytes (Blob/File) sent as they are. */
  body?: unknown;
  signal?: AbortSignal;
  /** A sign-in: its 401 means a wrong name or password, not an ended session (listeners are not told). */
  signIn?: boolean;
}

/** Calls the REST API and returns the parsed JSON (undefined for 204). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = 'GET', body, signal, signIn = false } = options;
  const headers: Record<string, string> = { accept: 'application/json' };
  let payload: BodyInit | undefined;
  if (body instanceof Blob) {
    payload = body;
    headers['content-type'] = body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload ?? null, signal: signal ?? null });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiRequestError(0, null, 'cannot reach the DeepForge server');
  }
  if (!res.ok) {
    const error = await errorOf(res);
    if (!signIn) reportApiError(error);
    throw error;
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Calls a REST route that answers plain text (a file of a version), with the same errors as `api`. */
export async function apiText(path: string, signal?: AbortSignal): Promise<string> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { accept: 'text/plain' }, signal: signal ?? null });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiRequestError(0, null, 'cannot reach the DeepForge server');
  }
  if (!res.ok) {
    const error = await errorOf(res);
    reportApiError(error);
    throw error;
  }
  return res.text();
}

/** One line for a notification: the server's message, plus the field it blames. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiRequestError) return e.field ? `${e.message} (${e.field})` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
