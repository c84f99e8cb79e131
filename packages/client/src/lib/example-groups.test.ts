import { describe, expect, it } from 'vitest';
import { exampleGroups, exampleProjectName } from './example-groups.js';

describe('exampleGroups', () => {
  it("lists DeepForge's examples, then each extension's under its name", () => {
    expect(
      exampleGroups([
        { name: 'hello', pipelines: ['hello'] },
        { name: 'image-classification/fashion-classifier', pipelines: [], extension: 'image-classification' },
        { name: 'plots', pipelines: [] },
      ]),
    ).toEqual([
      {
        group: 'Examples',
        items: [
          { value: 'hello', label: 'hello' },
          { value: 'plots', label: 'plots' },
        ],
      },
      {
        group: 'Extension: image-classification',
        items: [{ value: 'image-classification/fashion-classifier', label: 'fashion-classifier' }],
      },
    ]);
    expect(exampleProjectName('image-classification/fashion-classifier')).toBe('fashion-classifier');
    expect(exampleProjectName('hello')).toBe('hello');
  });
});
