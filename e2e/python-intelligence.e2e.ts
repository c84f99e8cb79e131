import { describe, expect, it } from 'vitest';
import { snap } from './support/browser.js';
import { keepEvidence } from './support/evidence.js';
import { browserSession } from './support/session.js';

const TEST = 'python-intelligence';

const UTIL = `def scale(x, factor):
    """Scales x by factor."""
    return x * factor
`;

/** An operation that uses a util, an undefined name and torch; the user then types `torch.nn.` below it. */
const CODE = `import torch
from utils.shapes import scale


class Probe:
    def execute(self, data):
        result = scale(data, 2)
        print(undefined_thing)
        return result
`;

describe('the Python language server in the code editors', () => {
  const session = browserSession();

  it('underlines an undefined name, completes torch.nn. and goes to a util definition', async () => {
    const { server, rest, tab } = session;
    keepEvidence(TEST, { tab }, () => server);
    const { page } = tab;
    const project = await rest.createProject('Editor smarts');
    await rest.ok('PUT', `/api/projects/${project.id}/utils/shapes`, { code: UTIL });
    await rest.ok('POST', `/api/projects/${project.id}/operations`, { name: 'Probe', code: CODE });

    await page.goto(`/projects/${project.id}/operations/Probe`);
    const code = page.getByRole('textbox', { name: 'Code of Probe' });
    await code.waitFor();

    // pyflakes, through the language server: the undefined name is underlined as an error, with its message.
    const underlined = page.locator('.cm-lintRange-error', { hasText: 'undefined_thing' });
    await underlined.waitFor({ timeout: 60_000 });
    await underlined.hover();
    await expect
      .poll(() => page.locator('.cm-tooltip-lint').textContent(), { timeout: 15_000 })
      .toContain("undefined name 'undefined_thing'");
    await snap(page, TEST, '01-undefined-name');

    // F12 on `scale` opens the util's editor at its definition (the lint tooltip is moved away from first).
    await page.mouse.move(5, 5);
    await page.locator('.cm-tooltip-lint').waitFor({ state: 'detached' });
    await page.locator('.cm-line', { hasText: 'result = scale(data, 2)' }).click();
    // Home goes to `result`; 11 characters on is inside `scale`.
    await page.keyboard.press('Home');
    for (let i = 0; i < 11; i++) await page.keyboard.press('ArrowRight');
    await page.keyboard.press('F12');
    await page.waitForURL(`**/projects/${project.id}/utils/shapes?line=1`, { timeout: 30_000 });
    await page.getByRole('textbox', { name: 'utils/shapes.py' }).waitFor();
    await snap(page, TEST, '02-definition-in-utils');

    // Back in the operation: typing `torch.nn.` on a new last line pops up torch's modules.
    await page.goto(`/projects/${project.id}/operations/Probe`);
    await code.waitFor();
    await page.locator('.cm-line', { hasText: 'return result' }).click();
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('torch.nn.');
    const linear = page.locator('.cm-tooltip-autocomplete .cm-completionLabel', { hasText: /^Linear$/ });
    await linear.waitFor({ timeout: 60_000 });
    await snap(page, TEST, '03-torch-nn-completion');
    expect(tab.problems.pageErrors).toEqual([]);
  });
});
