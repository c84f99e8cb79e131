import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS, auditActionColor, auditPage } from './audit-log.js';

describe('audit log', () => {
  it('lists each action once', () => {
    expect(new Set(AUDIT_ACTIONS).size).toBe(AUDIT_ACTIONS.length);
    expect(AUDIT_ACTIONS).toContain('sign-in-failed');
    expect(AUDIT_ACTIONS).toContain('role-change');
    expect(AUDIT_ACTIONS).toContain('token-use');
  });
  it('makes failures and removals stand out', () => {
    expect(auditActionColor('sign-in-failed')).toBe('red');
    expect(auditActionColor('member-remove')).toBe('orange');
    expect(auditActionColor('token-revoke')).toBe('orange');
    expect(auditActionColor('sign-in')).toBe('gray');
    expect(auditActionColor('something-new')).toBe('indigo');
  });
  it('reads the page parameter safely', () => {
    expect(auditPage(null)).toBe(1);
    expect(auditPage('3')).toBe(3);
    expect(auditPage('0')).toBe(1);
    expect(auditPage('-2')).toBe(1);
    expect(auditPage('2.5')).toBe(1);
    expect(auditPage('abc')).toBe(1);
  });
});
