import type {
  ErrorEvent,
  HelloEvent,
  JobSpec,
  JobUsage,
  OutputEvent,
  RuntimeEvent,
  SlurmJobOptions,
} from '@deepforge/protocol';
import type { PrestartedWarmWorker } from './warm-worker.js';

/** What the engine asks a compute adapter to run: one operation, as a harness job. */
export interface ComputeJobRequest {
  /** Stable id of the job; processes started for it carry it (see process-tree.ts). */
  jobId: string;
  runnerId: string;
  /** The job spec without its event channel, which the adapter chooses. */
  spec: Omit<JobSpec, 'eventsFd' | 'eventsFile'>;
  /** A directory of the job's own, for job.json and the like. */
  jobDir: string;
  /** The job's folder exists already (the job runner made it): the adapter need not make it. */
  jobDirMade?: boolean;
  /**
   * The console log file, appended to as output arrives; null keeps none (a remote worker: the server keeps the
   * job's log from the lines it is sent), the lines still counting against logMaxBytes.
   */
  logFile: string | null;
  logMaxBytes: number;
  /** Milliseconds the operation may run; 0 = no limit. */
  timeoutMs: number;
  python: string;
  /**
   * Project secrets, given to the job as environment variables only: never written to job.json, and their values
   * are masked (`***`) in the console and in error messages.
   */
  secretEnv?: Readonly<Record<string, string>>;
  /** Where and how long the job runs on Slurm (docs/adr/0016); adapters other than Slurm ignore it. */
  slurm?: SlurmJobOptions;
  /**
   * The content ids of the files in `spec.inputs` and `spec.references`, for adapters that run the job on another
   * machine, which fetches them by id (remote workers); local compute reads the paths.
   */
  blobs?: { inputs: Readonly<Record<string, string>>; references: Readonly<Record<string, string>> };
  /** Labels the machine running the job must have (remote workers); local compute has every label. */
  labels?: readonly string[];
  /**
   * GPUs the job needs (0 when absent): the machine running it gives it that many GPUs of its own, which no other
   * job has until it ends, and sets CUDA_VISIBLE_DEVICES to them.
   */
  gpus?: number;
  /**
   * The indices of the GPUs already chosen for the job (a worker's, chosen by the server when it leased the job):
   * the job runs with CUDA_VISIBLE_DEVICES set to them, and local compute allocates none of its own.
   */
  gpuDevices?: readonly number[];
  /**
   * Aborted when the job is stopped before `start` resolves (an adapter may wait, e.g. for a worker): `start`
   * then rejects with an AbortError and nothing of the job runs.
   */
  signal?: AbortSignal;
}

export type LogStream = 'stdout' | 'stderr' | 'engine';

export interface ComputeLogLine {
  stream: LogStream;
  text: string;
  transient?: boolean;
}

export interface ComputeHandlers {
  /** Runtime events other than logs, as they arrive (already validated). */
  onEvent(event: Exclude<RuntimeEvent, { type: 'log' }>): void;
  /** Console lines, as they arrive; only non-transient lines are in the log file. */
  onLog(line: ComputeLogLine): void;
}

export type ComputeOutcome =
  /** The harness exited by itself; exitCode/signal and the events say how it went. */
  | 'exited'
  | 'timeout'
  | 'canceled'
  /**
   * The machine running it was lost (a remote worker stopped renewing its lease) and the job is not to run again
   * (`executions.onRestart` = fail); `lostReason` says what happened.
   */
  | 'lost';

export interface ComputeResult {
  outcome: ComputeOutcome;
  exitCode: number | null;
  signal: string | null;
  hello?: HelloEvent;
  outputs: OutputEvent[];
  error?: ErrorEvent;
  /** The last lines of stderr, for a crash without an error event. */
  stderrTail: string[];
  logTruncated: boolean;
  /** Event lines that could not be understood (each was logged as a warning). */
  badEvents: number;
  /**
   * With outcome `exited`: why the system running the job ended it, when it did (Slurm: its state and reason,
   * e.g. a time limit, a preemption, out of memory); the job fails with it when no error event says more.
   */
  endedBy?: string;
  /** With outcome `lost`: which machine was lost, and how. */
  lostReason?: string;
  /**
   * Outputs the machine that ran the job stored in the artifact storage itself (a remote worker writing to S3),
   * by output name: the engine records them once the storage has them, whole, instead of storing a file.
   */
  storedOutputs?: Readonly<Record<string, { hash: string; size: number }>>;
  /** What the job used, when its process said as it ended (a `usage` event; none from a killed process). */
  usage?: JobUsage;
}

export interface RunningJob {
  pid: number;
  /** The process group the job's processes share; killing it kills the tree. */
  pgid: number;
  result: Promise<ComputeResult>;
  /** Stops the job: SIGTERM to the group, SIGKILL after a grace period. `result` then says `canceled`. */
  cancel(): void;
}

/**
 * The compute port: runs harness jobs somewhere. Adapters: local processes (local.compute.ts, with or without the
 * warm worker), remote workers (remote.compute.ts, docs/adr/0015) and Slurm (later); every adapter passes
 * compute.conformance.ts.
 */
export interface Compute {
  /**
   * True when the adapter's machines fetch inputs themselves by content id (`request.blobs`): the engine then makes
   * no local copy of them first, and `spec.inputs` / `spec.references` carry serializers with empty paths.
   */
  readonly fetchesInputsById?: boolean;
  /**
   * True when a job's `output` events reach the engine as its harness wrote them, on the machine that holds its
   * files: the engine may then ask for small outputs in the events instead of files (`outputInlineMaxBytes`).
   */
  readonly inlineOutputs?: boolean;
  /** Resolves once the job's process exists; rejects when it cannot be started at all. */
  start(request: ComputeJobRequest, handlers: ComputeHandlers): Promise<RunningJob>;
  /** Releases what the adapter keeps between jobs (warm workers, connections); jobs still running may die. */
  close(): Promise<void>;
  /**
   * Stops what is left of a job whose engine died, where this adapter runs jobs (Slurm: cancels its batch job by
   * name). Local processes need none: recovery finds them on this machine by their marker (process-tree.ts).
   */
  stopOrphan?(job: { jobId: string; runnerId: string }): Promise<void>;
  /** The indices of this machine's GPUs that its jobs hold now (adapters that give jobs GPUs of this machine). */
  gpusInUse?(): number[];
  /**
   * Gets ready to start jobs with this interpreter for this runner before the first one comes (local warm workers:
   * starts the interpreter's worker, or takes `started` when it was started with what this adapter would have;
   * `started` is stopped otherwise). Best effort: a failure shows, or is worked around, at the first job.
   */
  prestart?(python: string, runnerId: string, started?: PrestartedWarmWorker): void;
}

/** More GPUs than one job could ask of any machine (nvidia-smi reports up to 64 per machine in our protocol). */
export const MAX_GPUS = 64;

/**
 * The GPUs a job needs: the larger of the execution's and the node's counts; without either, one when it requires
 * the label `gpu` (a job asking for a GPU machine wants a GPU of it), else none.
 */
export function gpusNeeded(labels: readonly string[], gpus?: number, nodeGpus?: number): number {
  if (gpus === undefined && nodeGpus === undefined) return labels.includes('gpu') ? 1 : 0;
  return Math.max(gpus ?? 0, nodeGpus ?? 0);
}
