// What the CLI's entry module (main.ts) loads: the program on demand, and before it, for `deepforge run`, what starts
// the run's workers early (docs/adr/0029). In the program's bundle (scripts/bundle-cli.mjs) everything the program
// imports stays behind esbuild's lazy module wrappers until loadProgram() is called, so that prestartRun() runs
// after evaluating little more than the settings, the interpreter check's cache and core (the reader's).
export { prestartRun } from '@deepforge/engine/run-prestart';
import type * as Program from './program.js';

export function loadProgram(): Promise<typeof Program> {
  return import('./program.js');
}
