/**
 * The actions the server and the CLI write to the audit log (ADR 0009), for the audit page's filter. The server
 * filters on the exact name.
 */
export const AUDIT_ACTIONS = [
  'sign-in',
  'sign-in-failed',
  'sign-out',
  'password-change',
  'token-create',
  'token-use',
  'token-revoke',
  'member-add',
  'role-change',
  'member-remove',
  'secret-set',
  'secret-remove',
  'project-create',
  'user-add',
  'user-remove',
  'admin-on',
  'admin-off',
] as const;

/** Failures and removals stand out; the rest is quiet. */
export function auditActionColor(action: string): string {
  if (action === 'sign-in-failed') return 'red';
  if (/-(remove|revoke)$|^admin-/.test(action)) return 'orange';
  if (action.startsWith('sign-')) return 'gray';
  if (action.startsWith('token-')) return 'cyan';
  if (action.startsWith('secret-')) return 'grape';
  return 'indigo';
}

/** The `page` query parameter as a page number: 1 when absent or not a positive whole number. */
export function auditPage(raw: string | null): number {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}
