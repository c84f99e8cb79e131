import { z } from 'zod';
import {
  CONTENT_HASH_BLOCK_BYTES,
  ContentHashSchema,
  isContentHash,
  type ContentHash,
} from '@deepforge/core';

/**
 * The runtime protocol: what the Python harness (python/deepforge/harness.py) and the engine say to each other.
 *
 * Engine → harness: one `JobSpec` JSON file, passed as the harness's only argument.
 * Harness → engine: `RuntimeEvent`s, one JSON object per line, on a channel of their own (file descriptor
 * `eventsFd`, or the file `eventsFile`), never on stdout, so that whatever user code prints cannot break it.
 * The engine itself turns the process's stdout/stderr into `log` events, so output from C extensions and
 * subprocesses is kept too.
 *
 * Bump RUNTIME_PROTOCOL_VERSION on any change an older peer would misread; both sides refuse a version they
 * do not know with a message saying which side is too old.
 */
export const RUNTIME_PROTOCOL_VERSION = 1;

export const InputSpecSchema = z.strictObject({
  /** Absolute path of the stored bytes; read in place, never copied. */
  path: z.string(),
  /** Serializer name the bytes were written with (`pickle` or a registered class's qualified name). */
  serializer: z.string(),
});
export type InputSpec = z.infer<typeof InputSpecSchema>;

/** The most bytes an engine may ask to get inline in an `output` event (`JobSpec.outputInlineMaxBytes`). */
export const OUTPUT_INLINE_MAX_BYTES = 1024 * 1024;

export const JobSpecSchema = z.strictObject({
  v: z.literal(RUNTIME_PROTOCOL_VERSION),
  /** Snapshot of the project code: `operations/`, `utils/` (importable as `utils.x`), `serializers/`. */
  codeDir: z.string(),
  operation: z.strictObject({
    /** Path relative to codeDir, e.g. `operations/Multiply.py`. */
    file: z.string(),
    className: z.string(),
  }),
  attributes: z.record(z.string(), z.unknown()),
  references: z.record(z.string(), InputSpecSchema),
  /**
   * References that name an architecture (a resource): reference name → its generated module in codeDir
   * (`resources.<Name>`) and class. The harness builds a fresh instance of each and passes it like a reference.
   * Optional both ways: sent only when a node references an architecture.
   */
  architectures: z
    .record(z.string(), z.strictObject({ module: z.string(), className: z.string() }))
    .optional(),
  inputs: z.record(z.string(), InputSpecSchema),
  /** Output names in the order `execute` returns them. */
  outputs: z.array(z.string()),
  /** Directory the harness writes one file per output into (named after the output). */
  outputDir: z.string(),
  /** Where events go: an inherited file descriptor (local compute) or a file path (batch systems). */
  eventsFd: z.number().int().optional(),
  eventsFile: z.string().optional(),
  /** Work directory for the operation (its cwd); files it writes there stay with the job. */
  workDir: z.string(),
  debug: z.boolean().default(false),
  /**
   * Ask for the sha256 of each output in its `output` event (`OutputEvent.sha256`). Optional both ways: an
   * older harness ignores it (and sends no hashes), an older engine does not send it (and gets none). A harness
   * that knows content ids (`outputContentIds`) sends `sha256` only for outputs of at most 8 MiB, whose id is
   * their plain sha256: for bigger ones it would be a second, sequential pass (docs/adr/0006).
   */
  outputHashes: z.boolean().optional(),
  /**
   * Ask for the content id of each output in its `output` event (`OutputEvent.hash`): `sha256:<hex>` up to
   * 8 MiB, `sha256t:<hex>` (the block tree, docs/adr/0006) above. Optional both ways, like `outputHashes`: an
   * older harness ignores it (the engine then uses `sha256` where it is the id, and hashes the rest itself), an
   * older engine does not send it and so never gets a `hash` field its strict schema would refuse. An engine
   * sends both, so that an older harness still hashes the outputs for which it can. Protocol version 1 either
   * way.
   */
  outputContentIds: z.boolean().optional(),
  /**
   * Ask for a `usage` event (the job's CPU time and peak memory) as the harness ends. Optional both ways, like
   * `outputHashes`: an older harness ignores it, an older engine does not send it and so never gets an event
   * type its schema does not know.
   */
  usage: z.boolean().optional(),
  /**
   * Ask the last `usage` event to carry `exitCode` when nothing but the exit is left (the harness then closes its
   * streams after it, and the engine may end the job without waiting for the exit). Optional both ways, like
   * `usage`: an older harness ignores it, an older engine does not send it and so never gets a field its strict
   * schema would refuse.
   */
  announceExit: z.boolean().optional(),
  /**
   * Ask for outputs of at most this many bytes, written by a built-in serializer, to come in their `output`
   * event (`OutputEvent.data`) instead of a file: the engine hashes and stores the bytes it is given
   * (docs/adr/0035). Optional both ways, like `usage`: an older harness ignores it and writes files, an older
   * engine does not send it and so never gets a field its strict schema would refuse.
   */
  outputInlineMaxBytes: z.number().int().min(0).max(OUTPUT_INLINE_MAX_BYTES).optional(),
});
export type JobSpec = z.infer<typeof JobSpecSchema>;

const base = {
  v: z.literal(RUNTIME_PROTOCOL_VERSION),
  /** Milliseconds since the Unix epoch, from the process that made the event. */
  t: z.number(),
};

export const HelloEventSchema = z.strictObject({
  ...base,
  type: z.literal('hello'),
  runtime: z.string(),
  python: z.string(),
  pid: z.number().int(),
});

export const PhaseEventSchema = z.strictObject({
  ...base,
  type: z.literal('phase'),
  phase: z.enum(['loading-inputs', 'executing', 'saving-outputs']),
});

export const LogEventSchema = z.strictObject({
  ...base,
  type: z.literal('log'),
  stream: z.enum(['stdout', 'stderr']),
  /** One line without its newline (a very long line is split, never dropped). */
  text: z.string(),
});

const NumberArray = z.array(z.number().nullable());

export const PlotLineSchema = z.strictObject({
  label: z.string().optional(),
  x: NumberArray,
  y: NumberArray,
  color: z.string().optional(),
  style: z.string().optional(),
});

export const PlotScatterSchema = z.strictObject({
  label: z.string().optional(),
  x: NumberArray,
  y: NumberArray,
  /** Present on 3D axes. */
  z: NumberArray.optional(),
  color: z.string().optional(),
  marker: z.string().optional(),
});

export const PlotImageSchema = z.strictObject({
  /** Shape of the array as given to imshow, e.g. [28, 28] or [32, 32, 3]. */
  shape: z.array(z.number().int()),
  /** The image as a PNG (base64), downsampled when large. */
  png: z.string(),
  cmap: z.string().optional(),
});

/** Vertical / horizontal reference lines (axvline / axhline). */
export const PlotRuleSchema = z.strictObject({
  axis: z.enum(['x', 'y']),
  value: z.number(),
  color: z.string().optional(),
  label: z.string().optional(),
});

export const PlotAxesSchema = z.strictObject({
  kind: z.enum(['2d', '3d']),
  /** Position in the figure's subplot grid, when it has one. */
  row: z.number().int().optional(),
  col: z.number().int().optional(),
  title: z.string().optional(),
  xlabel: z.string().optional(),
  ylabel: z.string().optional(),
  zlabel: z.string().optional(),
  xlim: z.tuple([z.number(), z.number()]).optional(),
  ylim: z.tuple([z.number(), z.number()]).optional(),
  lines: z.array(PlotLineSchema),
  scatters: z.array(PlotScatterSchema),
  images: z.array(PlotImageSchema),
  rules: z.array(PlotRuleSchema),
});

export const PlotEventSchema = z.strictObject({
  ...base,
  type: z.literal('plot'),
  /** matplotlib figure number: later events with the same figure replace earlier ones. */
  figure: z.number().int(),
  /** Increments with each snapshot of the same figure. */
  seq: z.number().int(),
  title: z.string().optional(),
  /** The rendered figure; exactly one of svg / png. */
  svg: z.string().optional(),
  png: z.string().optional(),
  axes: z.array(PlotAxesSchema),
});

export const MetricEventSchema = z.strictObject({
  ...base,
  type: z.literal('metric'),
  step: z.number().nullable(),
  values: z.record(z.string(), z.number()),
});

export const ProgressEventSchema = z.strictObject({
  ...base,
  type: z.literal('progress'),
  /** Identifies one progress bar within the job. */
  bar: z.string(),
  desc: z.string().optional(),
  n: z.number(),
  total: z.number().nullable(),
  unit: z.string().optional(),
  /** Units per second, when known. */
  rate: z.number().nullable().optional(),
  done: z.boolean().optional(),
});

export const OutputEventSchema = z.strictObject({
  ...base,
  type: z.literal('output'),
  name: z.string(),
  /** File name inside the job's outputDir. */
  file: z.string(),
  serializer: z.string(),
  /** Qualified Python type name of the value, e.g. `numpy.ndarray`. */
  pyType: z.string(),
  size: z.number().int(),
  /**
   * The sha256 (64 lowercase hex digits) of the file's bytes, computed by the harness while it wrote them;
   * sent only when the spec asks for it (`outputHashes`), so an engine that does not know this field never
   * gets it. With it the engine stores the file under its content address at once and checks the hash in the
   * background (a mismatch quarantines the blob and marks the job's output corrupt). Without it (an older
   * harness, a foreign writer, outputs under 1 MiB, custom serializers that seek or write through the file
   * descriptor) the engine hashes the file itself before it records the job's success.
   */
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  /**
   * The content id of the file's bytes (`sha256:<hex>` up to 8 MiB, `sha256t:<hex>` above: docs/adr/0006),
   * computed by the harness while it wrote them; sent only when the spec asks for it (`outputContentIds`), and
   * left out when `sha256` would be (small outputs, custom serializers the hash cannot follow). The engine
   * prefers it to `sha256`, which an older harness sends for any size and which is the content id only up to
   * 8 MiB (see `outputExpectedHash`).
   */
  hash: ContentHashSchema.optional(),
  /**
   * The output's bytes, base64, when the spec asked for small outputs to come inline (`outputInlineMaxBytes`)
   * and this one is that small: no file was written (`file` names none), and `sha256`/`hash` are left out (the
   * engine hashes the bytes it stores).
   */
  data: z
    .string()
    .max(Math.ceil(OUTPUT_INLINE_MAX_BYTES / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/)
    .optional(),
});

export const ErrorKindSchema = z.enum([
  /** The operation raised. */
  'exception',
  /** The operation file, a util or a serializer could not be imported (syntax error, import error). */
  'import',
  /** execute returned a different number of values than the interface declares. */
  'bad-return',
  /** An output could not be serialized. */
  'serialization',
  /** An input or reference could not be loaded. */
  'input',
  /** The job spec was unusable (bad version, missing class). */
  'spec',
]);
export type ErrorKind = z.infer<typeof ErrorKindSchema>;

export const TraceFrameSchema = z.strictObject({
  /** Path relative to codeDir when the frame is in project code, absolute otherwise. */
  file: z.string(),
  line: z.number().int(),
  function: z.string(),
  /** True for frames in the project's own code (operations, utils, serializers). */
  user: z.boolean(),
});

export const ErrorEventSchema = z.strictObject({
  ...base,
  type: z.literal('error'),
  kind: ErrorKindSchema,
  /** One line, e.g. `ZeroDivisionError: division by zero`. */
  message: z.string(),
  /** The traceback as Python prints it, with harness frames removed. */
  traceback: z.string().optional(),
  frames: z.array(TraceFrameSchema).optional(),
  /** The innermost frame in project code: where the user should look. */
  location: z.strictObject({ file: z.string(), line: z.number().int() }).optional(),
});

/**
 * What a job used, measured by its own process as it ends: CPU time (user + system) of the job's process and of
 * the subprocesses it waited for, the peak resident set of the job's process (or of its biggest waited-for
 * subprocess, if bigger), and, when the job used CUDA through torch, the peak GPU memory torch allocated
 * (`torch.cuda.max_memory_allocated`, summed over the devices it used). A process forked from the warm worker
 * counts its CPU from the fork; its resident set counts the pages it shares with the warm worker, as any
 * process's does.
 */
export const JobUsageSchema = z.strictObject({
  cpuSeconds: z.number().finite().min(0),
  peakRssBytes: z.number().int().min(0),
  peakGpuBytes: z.number().int().min(0).optional(),
});
export type JobUsage = z.infer<typeof JobUsageSchema>;

/**
 * The job's resource usage, sent once as the harness ends when the spec asks for it (`usage`): after the job's
 * threads, `atexit` callbacks and open files are done with, its last event. `exitCode` comes with it when the
 * process has nothing left to do but exit with that code: the harness then closes its stdout, stderr and event
 * channel, and the engine may count the job ended once it has read them to their end, without waiting for the
 * kernel to take the process down. It is left out when the process still holds something that only its exit
 * frees (CUDA memory, a large resident set), when the harness could not end the usual way, and unless the spec
 * asks for it (`announceExit`).
 */
export const UsageEventSchema = JobUsageSchema.extend({
  ...base,
  type: z.literal('usage'),
  exitCode: z.number().int().min(0).max(255).optional(),
});

export const RuntimeEventSchema = z.discriminatedUnion('type', [
  HelloEventSchema,
  PhaseEventSchema,
  LogEventSchema,
  PlotEventSchema,
  MetricEventSchema,
  ProgressEventSchema,
  OutputEventSchema,
  ErrorEventSchema,
  UsageEventSchema,
]);
export type RuntimeEvent = z.infer<typeof RuntimeEventSchema>;
export type PlotEvent = z.infer<typeof PlotEventSchema>;
export type MetricEvent = z.infer<typeof MetricEventSchema>;
export type ProgressEvent = z.infer<typeof ProgressEventSchema>;
export type OutputEvent = z.infer<typeof OutputEventSchema>;
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;
export type LogEvent = z.infer<typeof LogEventSchema>;
export type UsageEvent = z.infer<typeof UsageEventSchema>;

/** Exit codes of the harness process, so the engine can tell a user failure from a harness crash. */
export const HARNESS_EXIT = {
  ok: 0,
  /** The operation failed; an `error` event says why. */
  operationFailed: 1,
  /** The job spec or protocol was unusable. */
  badSpec: 2,
} as const;

/**
 * The content id an `output` event vouches for, if any: its `hash`, else its `sha256` when that is the id (the
 * output is at most 8 MiB: an older harness sends the plain sha256 of bigger files too, whose id is the block
 * tree). Undefined: the engine hashes the file itself.
 */
export function outputExpectedHash(
  ev: Pick<OutputEvent, 'hash' | 'sha256' | 'size'>,
): ContentHash | undefined {
  if (ev.hash !== undefined && isContentHash(ev.hash)) return ev.hash;
  if (ev.sha256 !== undefined && ev.size <= CONTENT_HASH_BLOCK_BYTES) return `sha256:${ev.sha256}`;
  return undefined;
}
