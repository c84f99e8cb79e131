import { describe, expect, it } from 'vitest';
import { nodeLink } from './node-link.js';

describe('nodeLink', () => {
  const ids = new Set(['product', 'left', 'right']);
  it('leads to the node itself, to its new id after renames, or says it is gone', () => {
    expect(nodeLink('left', {}, ids)).toEqual({ kind: 'same', id: 'left' });
    expect(nodeLink('multiply', { multiply: 'product' }, ids)).toEqual({ kind: 'renamed', id: 'product' });
    expect(nodeLink('multiply', {}, ids)).toEqual({ kind: 'gone' });
    // Renamed, then deleted.
    expect(nodeLink('print', { print: 'show' }, ids)).toEqual({ kind: 'gone' });
  });
});
