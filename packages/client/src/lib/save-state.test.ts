import { describe, expect, it } from 'vitest';
import { saveState } from './save-state.js';

describe('saveState', () => {
  it('is saved until this editor changes something, saving until the server has it, offline while away', () => {
    expect(saveState(false, 'connected', 3)).toBe('saved');
    expect(saveState(true, 'connected', 1)).toBe('saving');
    expect(saveState(true, 'connected', 0)).toBe('saved');
    expect(saveState(true, 'disconnected', 1)).toBe('offline');
    expect(saveState(true, 'connecting', 0)).toBe('offline');
  });
});
