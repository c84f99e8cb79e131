export {
  BindRefusedError,
  COLLAB_PATH,
  EVENTS_PATH,
  SERVER_HOST,
  SERVER_VERSION,
  bindProblem,
  createServer,
  isLoopbackHost,
} from './server.app.js';
export type { DeepForgeServer, ServerOptions } from './server.app.js';
export type { ComputeMode } from './server.context.js';
export { WorkerAgent } from './workers/worker.agent.js';
export type { WorkerAgentOptions } from './workers/worker.agent.js';
export { detectGpus, gpuLabels, gpuModelLabel } from './workers/gpu-detect.js';
export type { GpuInfo } from './workers/gpu-detect.js';
export { ExecutionFollower, executionEventsOf } from './remote/execution-follower.js';
export type { ExecutionFollowerOptions } from './remote/execution-follower.js';
export { readFolderFiles } from './projects/project-folder-files.js';
export { zipProject } from './projects/project-zip.js';
