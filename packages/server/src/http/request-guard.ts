import { isIP } from 'node:net';

/**
 * Which requests the server answers at all, before routing, body parsing or a WebSocket upgrade.
 *
 * Two attacks are closed here (ADR 0008):
 * - DNS rebinding: a web page re-points its own host name at 127.0.0.1 and is then same-origin with the server.
 *   Its requests carry that name in `Host`, so only names this server answers to are accepted: loopback names,
 *   IP literals (a literal cannot be re-pointed) and the names of `server.allowedHosts`.
 * - Cross-site requests (CSRF, cross-site WebSockets): a page of another site may send simple requests (text/plain,
 *   forms, multipart) and open WebSockets without CORS. Requests that change something, and every WebSocket, must
 *   come from the app's own origin: `Origin` equal to the `Host` they were sent to, and `Sec-Fetch-Site`, where a
 *   browser sends it, `same-origin` or `none`. Clients that are not browsers (the CLI, curl, scripts) send neither.
 */

/** The setting that allows more host names, named in every refusal. */
export const ALLOWED_HOSTS_SETTING = 'server.allowedHosts';
export const ALLOWED_HOSTS_ENV = 'DEEPFORGE_ALLOWED_HOSTS';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface GuardRequest {
  method: string;
  /** Raw header values as Node gives them. */
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  /** A WebSocket upgrade: checked like a mutating request whatever its method. */
  upgrade: boolean;
}

export type GuardVerdict =
  { ok: true } | { ok: false; reason: 'host' | 'origin'; message: string; hostName: string | undefined };

/** `name` of `name:port`, lower-cased, brackets kept for IPv6 (`[::1]`); undefined when it does not parse. */
export function hostNameOf(hostHeader: string): string | undefined {
  if (hostHeader.length > 300 || /[\s/\\@?#]/.test(hostHeader)) return undefined;
  try {
    const url = new URL(`http://${hostHeader}`);
    return url.hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Names allowed without configuration: loopback names, `*.localhost` (always loopback, RFC 6761), IP literals. */
function allowedByDefault(name: string): boolean {
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  return isIP(bare) !== 0;
}

/** `example.com` allows that name; `.example.com` allows it and every subdomain. */
export function hostAllowed(name: string, configured: readonly string[]): boolean {
  if (allowedByDefault(name)) return true;
  return configured.some((entry) => {
    const e = entry.toLowerCase();
    if (e.startsWith('.')) return name === e.slice(1) || name.endsWith(e);
    return name === e;
  });
}

function hostRefusal(host: string | undefined, name: string | undefined): GuardVerdict {
  const what =
    host === undefined
      ? 'the request has no Host header'
      : name === undefined
        ? `the Host header ${JSON.stringify(host.slice(0, 100))} is not a host name`
        : `the host name "${name}" is not one this server answers to`;
  return {
    ok: false,
    reason: 'host',
    hostName: name,
    message:
      `${what}. DeepForge answers to localhost, 127.0.0.1, [::1] and IP addresses, and to the names in the ` +
      `setting ${ALLOWED_HOSTS_SETTING} (env ${ALLOWED_HOSTS_ENV}); this protects against DNS rebinding. ` +
      (name === undefined
        ? ''
        : `To reach it as ${name}: deepforge config ${ALLOWED_HOSTS_SETTING} ${name}, then restart the server.`),
  };
}

/**
 * Whether `Origin` names the host and port the request was sent to. A Host without a port (a reverse proxy on the
 * default port) matches the origin's default port; the scheme is not compared, because TLS may end at a proxy.
 */
function sameOrigin(origin: string, host: string): boolean {
  let o: URL;
  let h: URL;
  try {
    o = new URL(origin);
    h = new URL(`http://${host}`);
  } catch {
    return false;
  }
  if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
  const defaultPort = o.protocol === 'https:' ? '443' : '80';
  const originPort = o.port || defaultPort;
  const hostPort = h.port || (/:\d+$/.test(host) ? '80' : defaultPort);
  return o.hostname.toLowerCase() === h.hostname.toLowerCase() && originPort === hostPort;
}

function originRefusal(message: string, name: string): GuardVerdict {
  return {
    ok: false,
    reason: 'origin',
    hostName: name,
    message: `${message}: requests that change something, and WebSockets, are taken from DeepForge's own pages only (cross-site requests are refused)`,
  };
}

export function checkRequest(req: GuardRequest, allowedHosts: readonly string[]): GuardVerdict {
  const host = req.host;
  const name = host === undefined ? undefined : hostNameOf(host);
  if (host === undefined || name === undefined || !hostAllowed(name, allowedHosts)) {
    return hostRefusal(host, name);
  }
  if (!req.upgrade && SAFE_METHODS.has(req.method.toUpperCase())) return { ok: true };
  const site = req.secFetchSite?.toLowerCase();
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return originRefusal(`the browser marks this request ${site} (Sec-Fetch-Site)`, name);
  }
  if (req.origin !== undefined && !sameOrigin(req.origin, host)) {
    return originRefusal(
      `the request comes from ${JSON.stringify(req.origin.slice(0, 200))}, not from ${host}`,
      name,
    );
  }
  return { ok: true };
}
