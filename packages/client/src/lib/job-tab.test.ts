import { describe, expect, it } from 'vitest';
import { jobTab, tabOnSelect } from './job-tab.js';

describe('the tab a job opens on', () => {
  it('is Error for a failed node with an error, Console otherwise, unless a tab is asked for', () => {
    expect(jobTab(null, true)).toBe('error');
    expect(jobTab(null, false)).toBe('console');
    expect(jobTab('metrics', true)).toBe('metrics');
    // An Error tab asked for on a node without one.
    expect(jobTab('error', false)).toBe('console');
  });

  it('follows to a failed node’s Error when it is selected, and keeps the tab otherwise', () => {
    expect(tabOnSelect('console', true)).toBe('error');
    expect(tabOnSelect(null, true)).toBe('error');
    expect(tabOnSelect('metrics', false)).toBe('metrics');
    expect(tabOnSelect('error', false)).toBeNull();
  });
});
