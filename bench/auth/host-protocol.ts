/** Messages between run.ts and the server host process (server-host.ts). */

export interface HostOptions {
  /** Users made on the server with accounts on; the first owns the project, the others are writers. */
  users: number;
}

export interface HostReady {
  type: 'ready';
  /** Accounts off. */
  off: { url: string; projectId: string };
  /** Accounts on: one session cookie (`name=value`) per user, and an access token of the first user. */
  on: { url: string; projectId: string; cookies: string[]; token: string };
  /** A bare Hocuspocus server (no extensions), for the co-editing baseline. */
  baselineCollabUrl: string;
}

/** Writes the accounts store made on the server with accounts on since it was ready. */
export interface HostStats {
  sessionTouches: number;
  tokenTouches: number;
  auditRows: number;
}
