import { describe, expect, it } from 'vitest';
import { colorOf, initials, localUser } from './local-user.js';

describe('local user', () => {
  it('is the account when signed in, with a colour of its own in every browser', () => {
    const u = localUser('alice');
    expect(u.name).toBe('alice');
    expect(u.color).toBe(colorOf('alice'));
    expect(u.colorLight).toBe(`${u.color}33`);
    expect(localUser('alice')).toEqual(u);
    // Names spread over the palette rather than all landing on one colour.
    const colors = new Set(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'].map(colorOf));
    expect(colors.size).toBeGreaterThan(3);
  });
  it('makes avatar initials from names', () => {
    expect(initials('Ada 12')).toBe('A1');
    expect(initials('grace.hopper')).toBe('GH');
    expect(initials('alice')).toBe('AL');
    expect(initials('a')).toBe('A');
  });
});
