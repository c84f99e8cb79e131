// DeepForge's own packages from their TypeScript sources (the `source` export condition, as Vitest resolves them),
// so the benchmarks measure the working tree without a build; every other package from what it publishes for
// Node, as `deepforge start` loads it (a global --conditions=source would also take Hocuspocus, toad-cache and
// others from their sources). Imported with --import after tsx, which compiles the .ts files; on the main thread
// it registers itself as a module resolve hook, which Node runs on its hooks thread.
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, next) {
  if (!specifier.startsWith('@deepforge/')) return next(specifier, context);
  return next(specifier, { ...context, conditions: [...context.conditions, 'source'] });
}
