// The live display (a terminal) loads log-update on demand (openRunRenderer): what it redraws is the status block,
// and the lines printed above it are the same as without it.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ExecutionEvent } from '@deepforge/protocol';
import { openRunRenderer } from './run.renderer.js';

function terminal(): { out: PassThrough & { isTTY: boolean; columns: number }; text: () => string } {
  const out = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  return { out, text: () => Buffer.concat(chunks).toString('utf8') };
}

const log = (text: string) =>
  ({
    type: 'job.log',
    executionId: 'e1',
    node: 'one',
    stream: 'stdout',
    text,
    t: 1,
  }) as unknown as ExecutionEvent;

describe('openRunRenderer', () => {
  it('on a terminal, redraws the status block with log-update around the printed lines', async () => {
    const { out, text } = terminal();
    const renderer = await openRunRenderer([{ node: 'one', operation: 'One' }], {
      out,
      live: true,
      color: false,
    });
    renderer.handle(log('hello'));
    // The line, then the status block redrawn below it (log-update erases the previous block first).
    expect(text()).toMatch(/One +│ hello\n/);
    expect(text()).toMatch(/○ One +pending/);
    expect(text()).not.toContain('\u001b[');
    // The next line first erases the block drawn below the last one.
    renderer.handle(log('again'));
    expect(text()).toContain('\u001b[');
    expect(text()).toMatch(/One +│ again\n○ One +pending\n$/);
  });

  it('without a terminal, prints lines only', async () => {
    const { out, text } = terminal();
    out.isTTY = false;
    const renderer = await openRunRenderer([{ node: 'one', operation: 'One' }], {
      out,
      live: false,
      color: false,
    });
    renderer.handle(log('hello'));
    expect(text()).toBe('One  │ hello\n');
  });
});
