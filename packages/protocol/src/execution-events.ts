import { z } from 'zod';
import { EXECUTION_EVENTS_VERSION } from './execution-events-version.js';
import { EXECUTION_STATUSES, JOB_STATUSES } from '@deepforge/core';
import { ComputeStateSchema } from './compute-api.js';
import {
  ErrorKindSchema,
  JobUsageSchema,
  PlotAxesSchema,
  TraceFrameSchema,
  MetricEventSchema,
  ProgressEventSchema,
  PlotEventSchema,
} from './runtime-events.js';

/**
 * Live execution events: what the engine tells its observers (the CLI's `--json`, the web server) while
 * executions run, what the web server's `/api/events` WebSocket sends on (the same events, with log lines and
 * metrics in batches: LiveEvent), and what an observer may ask of it.
 *
 * Bump EXECUTION_EVENTS_VERSION on any change an older peer would misread. Adding an optional field is not
 * such a change; adding an event type is (old peers should ignore types they do not know, but may not).
 * Version 2: the WebSocket sends `job.logs` and `job.metrics` batches instead of one `job.log` / `job.metric`
 * frame per line or value.
 */
export { EXECUTION_EVENTS_VERSION };

/** Core's job and execution statuses (its state model, execution-state.machine.ts) as the wire carries them. */
export const JobStatusSchema = z.enum(JOB_STATUSES);
export const ExecutionStatusSchema = z.enum(EXECUTION_STATUSES);

/**
 * Why a job did not succeed. `kind` is one of the harness's error kinds (the operation raised, could not be
 * imported, returned the wrong number of values, …) or one the engine decides itself.
 */
export const JobErrorKindSchema = z.union([
  ErrorKindSchema,
  z.enum([
    /** The operation ran past `executions.timeout`. */
    'timeout',
    /** The user canceled the execution. */
    'canceled',
    /** An upstream job failed, so this one never ran. */
    'upstream-failed',
    /** The engine process that ran the job died (killed, crashed, machine restarted). */
    'runner-died',
    /** The harness process ended without saying why (killed by a signal, crashed, out of memory). */
    'crash',
    /** An Input or a reference names an artifact that cannot be found. */
    'missing-artifact',
    /** The harness reported success but an output it declared is missing or unreadable. */
    'output',
    /** The operation's environment file does not read, or pip could not build its environment. */
    'environment',
    /** The engine itself failed (could not start the process, could not store an output). */
    'engine',
  ]),
]);
export type JobErrorKind = z.infer<typeof JobErrorKindSchema>;

export const JobErrorSchema = z.strictObject({
  kind: JobErrorKindSchema,
  /** One line a user can act on. */
  message: z.string(),
  traceback: z.string().optional(),
  frames: z.array(TraceFrameSchema).optional(),
  location: z.strictObject({ file: z.string(), line: z.number().int() }).optional(),
  /** For `upstream-failed`: the node whose failure stopped this one. */
  upstream: z.string().optional(),
});
export type JobError = z.infer<typeof JobErrorSchema>;

const eventBase = {
  v: z.literal(EXECUTION_EVENTS_VERSION),
  /** Milliseconds since the Unix epoch. */
  t: z.number(),
  executionId: z.string(),
};

const jobBase = {
  ...eventBase,
  jobId: z.string(),
  /** The pipeline node id the job runs. */
  node: z.string(),
};

// ── engine → observer ─────────────────────────────────────────────────────────────────────────────────────

export const ExecutionStatusEventSchema = z.strictObject({
  ...eventBase,
  type: z.literal('execution.status'),
  status: ExecutionStatusSchema,
  pipeline: z.string(),
  /** The project's name. */
  project: z.string(),
  /** The project's id on the web server ('' for the CLI's unnamed scope): lists follow new executions live. */
  projectId: z.string().optional(),
});

export const JobStatusEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.status'),
  operation: z.string(),
  status: JobStatusSchema,
  /** How many times the job has been started (0 until it first runs). */
  attempt: z.number().int(),
  exitCode: z.number().int().nullable().optional(),
  error: JobErrorSchema.optional(),
  /** For `cached`: the job whose outputs were reused. */
  cachedFrom: z.string().optional(),
  /** Once it ended: what it used (CPU time, peak memory), when its process said. */
  usage: JobUsageSchema.optional(),
});

export const JobLogEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.log'),
  stream: z.enum(['stdout', 'stderr', 'engine']),
  /** One line without its newline. */
  text: z.string(),
  /**
   * A line that a later one replaces, like a progress bar redrawn with `\r`. Transient lines are shown live but
   * not written to the console log.
   */
  transient: z.boolean().optional(),
});

export const JobPlotEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.plot'),
  figure: PlotEventSchema.shape.figure,
  seq: PlotEventSchema.shape.seq,
  title: z.string().optional(),
  svg: z.string().optional(),
  png: z.string().optional(),
  axes: z.array(PlotAxesSchema),
});

export const JobMetricEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.metric'),
  step: MetricEventSchema.shape.step,
  values: MetricEventSchema.shape.values,
});

export const JobProgressEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.progress'),
  bar: z.string(),
  desc: z.string().optional(),
  n: z.number(),
  total: z.number().nullable(),
  unit: z.string().optional(),
  rate: ProgressEventSchema.shape.rate,
  done: z.boolean().optional(),
});

/** Everything the engine reports about executions as they run. */
export const ExecutionEventSchema = z.discriminatedUnion('type', [
  ExecutionStatusEventSchema,
  JobStatusEventSchema,
  JobLogEventSchema,
  JobPlotEventSchema,
  JobMetricEventSchema,
  JobProgressEventSchema,
]);
export type ExecutionEvent = z.infer<typeof ExecutionEventSchema>;
export type ExecutionStatusEvent = z.infer<typeof ExecutionStatusEventSchema>;
export type JobStatusEvent = z.infer<typeof JobStatusEventSchema>;
export type JobLogEvent = z.infer<typeof JobLogEventSchema>;
export type JobPlotEvent = z.infer<typeof JobPlotEventSchema>;
export type JobMetricEvent = z.infer<typeof JobMetricEventSchema>;
export type JobProgressEvent = z.infer<typeof JobProgressEventSchema>;

// ── the WebSocket's batches ───────────────────────────────────────────────────────────────────────────────
//
// A job printing in a tight loop makes hundreds of thousands of lines a second: one frame each floods the socket
// and the page. The server coalesces a job's lines (and metric values) per subscription into one frame about
// every 50 ms or when a batch is full, in the order they came, and sends what is pending before any other event
// (so a job's final status always follows its last line). A client that reads too slowly gets `skipped` counts
// instead of lines it could not take; the full log stays readable over REST.

/** One line of a `job.logs` batch: a `job.log` event without what the batch says once. */
export const LiveLogLineSchema = z.strictObject({
  stream: JobLogEventSchema.shape.stream,
  text: JobLogEventSchema.shape.text,
  transient: z.literal(true).optional(),
});
export type LiveLogLine = z.infer<typeof LiveLogLineSchema>;

export const JobLogsEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.logs'),
  /**
   * The number of the first line in `lines`, counting the job's lines this subscription has sent or skipped
   * from 0; the lines are consecutive, so the next batch starts at `seq + lines.length`.
   */
  seq: z.number().int().nonnegative(),
  /** In the order printed; may be empty when the batch only says that lines were skipped. */
  lines: z.array(LiveLogLineSchema),
  /**
   * Lines left out just before these (numbers `seq - skipped` to `seq - 1`) because the client read too
   * slowly; the stored log over REST has them (transient ones aside).
   */
  skipped: z.number().int().positive().optional(),
});

export const LiveMetricSchema = z.strictObject({
  /** When the values were logged (ms since the epoch), as a `job.metric` event's `t`. */
  t: z.number(),
  step: JobMetricEventSchema.shape.step,
  values: JobMetricEventSchema.shape.values,
});
export type LiveMetric = z.infer<typeof LiveMetricSchema>;

export const JobMetricsEventSchema = z.strictObject({
  ...jobBase,
  type: z.literal('job.metrics'),
  /** `job.metric` events in the order logged. */
  points: z.array(LiveMetricSchema),
  /** Metric events left out before these because the client read too slowly; REST lists them all. */
  skipped: z.number().int().positive().optional(),
});

/** What `/api/events` sends about executions: ExecutionEvents, with log lines and metrics batched. */
export const LiveEventSchema = z.discriminatedUnion('type', [
  ExecutionStatusEventSchema,
  JobStatusEventSchema,
  JobLogsEventSchema,
  JobPlotEventSchema,
  JobMetricsEventSchema,
  JobProgressEventSchema,
]);
export type LiveEvent = z.infer<typeof LiveEventSchema>;
export type JobLogsEvent = z.infer<typeof JobLogsEventSchema>;
export type JobMetricsEvent = z.infer<typeof JobMetricsEventSchema>;

// ── observer → engine ─────────────────────────────────────────────────────────────────────────────────────

const commandBase = { v: z.literal(EXECUTION_EVENTS_VERSION) };

export const EXECUTION_EVENT_TYPES = [
  'execution.status',
  'job.status',
  'job.log',
  'job.plot',
  'job.metric',
  'job.progress',
] as const;
/** The types of LiveEvent, which a WebSocket subscription may choose from. */
export const LIVE_EVENT_TYPES = [
  'execution.status',
  'job.status',
  'job.logs',
  'job.plot',
  'job.metrics',
  'job.progress',
] as const;
export type LiveEventType = (typeof LIVE_EVENT_TYPES)[number];
/** The events that say where executions and jobs stand (what lists of executions need). */
export const LIFECYCLE_EVENT_TYPES = ['execution.status', 'job.status'] as const;

/**
 * Start receiving events of one execution, or of all of them with `'*'`; with `types`, only events of those
 * types (a list of every execution wants `LIFECYCLE_EVENT_TYPES`, not every log line of every job). Subscribing
 * again to the same execution replaces the types.
 */
export const SubscribeCommandSchema = z.strictObject({
  ...commandBase,
  type: z.literal('subscribe'),
  executionId: z.string(),
  types: z.array(z.enum(LIVE_EVENT_TYPES)).min(1).optional(),
});

export const UnsubscribeCommandSchema = z.strictObject({
  ...commandBase,
  type: z.literal('unsubscribe'),
  executionId: z.string(),
});

export const CancelExecutionCommandSchema = z.strictObject({
  ...commandBase,
  type: z.literal('cancel'),
  executionId: z.string(),
});

/**
 * Start (or stop) receiving the Compute view's state: a `compute` message at once, then again whenever it changes
 * (a worker connects, is lost, reports its load, takes or ends a job), at most about once a second.
 */
export const WatchComputeCommandSchema = z.strictObject({
  ...commandBase,
  type: z.literal('watch-compute'),
});
export const UnwatchComputeCommandSchema = z.strictObject({
  ...commandBase,
  type: z.literal('unwatch-compute'),
});

export const ExecutionCommandSchema = z.discriminatedUnion('type', [
  SubscribeCommandSchema,
  UnsubscribeCommandSchema,
  CancelExecutionCommandSchema,
]);
export type ExecutionCommand = z.infer<typeof ExecutionCommandSchema>;

// ── the /api/events WebSocket ─────────────────────────────────────────────────────────────────────────────
//
// Each side's first message is `hello` with the EXECUTION_EVENTS_VERSION it speaks. When they differ, the
// server answers an `error` saying which side is too old and closes (code 4000 + nothing else follows). After
// the handshake the client sends ExecutionCommands; the server sends LiveEvents, `subscribed` (with the
// execution's current state as events right after it, so a late subscriber needs no extra request) and `error`.

/** Not `v: literal`: a peer must be able to read the version it does not speak, to say so. */
export const EventsHelloSchema = z.strictObject({
  type: z.literal('hello'),
  v: z.number().int(),
  /** Who is speaking (`deepforge-server 0.1.0`, `deepforge-client`), for logs. */
  agent: z.string().max(200).optional(),
});
export type EventsHello = z.infer<typeof EventsHelloSchema>;

export const EVENTS_ERROR_CODES = [
  /** The client speaks an older version than the server. */
  'client-too-old',
  /** The client speaks a newer version than the server. */
  'server-too-old',
  /** The first message was not `hello`. */
  'hello-expected',
  /** A cancel by someone who may read the execution's project but not run it (a reader). */
  'forbidden',
  /** Not JSON, or not a message of this protocol (the message names the field). */
  'bad-message',
  /** A subscribe or cancel named an execution that does not exist. */
  'not-found',
  /** A cancel of an execution that is not running here. */
  'execution-state',
] as const;
export const EventsErrorSchema = z.strictObject({
  type: z.literal('error'),
  code: z.enum(EVENTS_ERROR_CODES),
  message: z.string(),
  executionId: z.string().optional(),
});
export type EventsError = z.infer<typeof EventsErrorSchema>;

/** Sent once a subscription is in place; `'*'` subscribes to every execution. */
export const EventsSubscribedSchema = z.strictObject({
  type: z.literal('subscribed'),
  executionId: z.string(),
});
export type EventsSubscribed = z.infer<typeof EventsSubscribedSchema>;

/** The Compute view's state, to a client that watches it (`watch-compute`). */
export const EventsComputeSchema = z.strictObject({
  type: z.literal('compute'),
  compute: ComputeStateSchema,
});
export type EventsCompute = z.infer<typeof EventsComputeSchema>;

/** Client → server: `hello` first, then commands. */
export const EventsClientMessageSchema = z.discriminatedUnion('type', [
  EventsHelloSchema,
  SubscribeCommandSchema,
  UnsubscribeCommandSchema,
  CancelExecutionCommandSchema,
  WatchComputeCommandSchema,
  UnwatchComputeCommandSchema,
]);
export type EventsClientMessage = z.infer<typeof EventsClientMessageSchema>;

/** Server → client. */
export const EventsServerMessageSchema = z.union([
  EventsHelloSchema,
  EventsErrorSchema,
  EventsSubscribedSchema,
  EventsComputeSchema,
  LiveEventSchema,
]);
export type EventsServerMessage = z.infer<typeof EventsServerMessageSchema>;

/** The close code the server uses after a version mismatch or a broken handshake. */
export const EVENTS_CLOSE_PROTOCOL_ERROR = 4000;
