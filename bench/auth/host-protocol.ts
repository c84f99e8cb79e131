/** Messages between run.ts and a server host process (server-host.ts), and what the benchmarks get from them. */

export interface HostOptions {
  /** DeepForge with accounts on (auth.enabled) or off. */
  accounts: boolean;
  /** Accounts on: users to make; the first owns the project, the others are writers. */
  users: number;
  /** Also a bare Hocuspocus server (no extensions) in this process, the co-editing baseline. */
  baseline: boolean;
}

export interface HostReady {
  type: 'ready';
  url: string;
  /** A project made from the `hello` example (by the first user, with accounts on). */
  projectId: string;
  /** Accounts on: one session cookie (`name=value`) per user. */
  cookies: string[];
  /** Accounts on: an access token of the first user. */
  token: string | null;
  baselineCollabUrl: string | null;
}

/** Writes the accounts store made since the server was ready. */
export interface HostStats {
  sessionTouches: number;
  tokenTouches: number;
  auditRows: number;
}

/** The servers of one run: each DeepForge server in a process of its own. */
export interface Servers {
  /** Accounts off; the process also holds the bare Hocuspocus server. */
  off: { url: string; projectId: string };
  /** Accounts on: the session-cookie requests and the co-editing. */
  on: { url: string; projectId: string; cookies: string[] };
  /** Accounts on, another process: the access-token requests (each kind has a process to itself). */
  onToken: { url: string; projectId: string; token: string };
  /** The bare Hocuspocus server, for the co-editing baseline. */
  baselineCollabUrl: string;
}
