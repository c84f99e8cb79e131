import { readFileSync } from 'node:fs';

/**
 * The version of the package this CLI was installed from: the `version` of the package.json one level above
 * dist/ (packages/cli/package.json in a checkout, the `deepforge` package's own once installed), so that
 * `deepforge --version` names what `npm install` installed.
 */
export function readCliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') throw new Error('the CLI package.json has no version');
  return manifest.version;
}
