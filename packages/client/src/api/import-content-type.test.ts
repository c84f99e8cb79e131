import { describe, expect, it } from 'vitest';
import { importContentType } from './endpoints.js';

describe('importContentType', () => {
  it('sends a .bundle as a git bundle (the project comes with its history) and anything else as a zip', () => {
    expect(importContentType('mnist.bundle')).toBe('application/x-git-bundle');
    expect(importContentType('MNIST.BUNDLE')).toBe('application/x-git-bundle');
    expect(importContentType('mnist.zip')).toBe('application/zip');
    expect(importContentType('bundle.zip')).toBe('application/zip');
    // Anything else goes as a zip, and the server's answer says what is wrong with it.
    expect(importContentType('notes.txt')).toBe('application/zip');
  });
});
