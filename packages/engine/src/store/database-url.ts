/**
 * `database.url` as people see it: with the password replaced by `***`, in `deepforge config`, in every error
 * message and in logs. The password itself only ever goes to the database driver.
 */

/** PostgreSQL's own URL schemes; anything else is not a database this DeepForge opens. */
export const POSTGRES_URL_SCHEMES = ['postgres:', 'postgresql:'] as const;

/**
 * `postgres://user:secret@host:5432/db` → `postgres://user:***@host:5432/db`. Works on text that is not a valid URL
 * too (an error message may quote what someone typed), and masks a `password=` query parameter.
 */
export function maskDatabaseUrl(url: string): string {
  const masked = url.replace(/([?&]password=)[^&#]*/gi, '$1***');
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/is.exec(masked);
  if (!m) return masked;
  const rest = m[2]!;
  // The password ends at the last `@`: one typed with a raw `@` or `/` in it is masked whole, never in part.
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (at < 0 || colon < 0 || colon > at) return masked;
  return `${m[1]}${rest.slice(0, colon)}:***${rest.slice(at)}`;
}

/** Where a PostgreSQL URL points, for messages: host, port (5432 when absent), database and user; no password. */
export interface DatabaseAddress {
  host: string;
  port: number;
  database: string;
  user: string;
  /** The whole URL, password masked. */
  shown: string;
}

export function describeDatabaseUrl(url: string): DatabaseAddress {
  const shown = maskDatabaseUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { host: '?', port: 5432, database: '?', user: '?', shown };
  }
  // A socket directory given as ?host=/run/postgresql wins over the (empty) host part, as libpq reads it.
  const host = parsed.searchParams.get('host') ?? (decodeURIComponent(parsed.hostname) || 'localhost');
  const port = Number(parsed.port || parsed.searchParams.get('port') || 5432);
  const database =
    decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username);
  return { host, port, database, user: decodeURIComponent(parsed.username) || '(default)', shown };
}

/** Whether `url` asks for PostgreSQL (`postgres://…` or `postgresql://…`). */
export function isPostgresUrl(url: string): boolean {
  return (POSTGRES_URL_SCHEMES as readonly string[]).some((s) => url.toLowerCase().startsWith(`${s}//`));
}
