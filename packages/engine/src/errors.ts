import type { Diagnostic } from '@deepforge/core';

/**
 * Every error the engine throws on purpose is an EngineError with a stable `code`, so callers (the CLI, the web
 * server) can choose an exit code or HTTP status without matching on messages.
 */
export type EngineErrorCode =
  | 'settings'
  | 'invalid-pipeline'
  | 'project-folder'
  | 'not-found'
  | 'ambiguous'
  | 'illegal-transition'
  | 'interpreter'
  | 'environment'
  | 'execution-state'
  | 'storage'
  | 'database'
  | 'closed'
  /** A compute backend refused a job (Slurm's sbatch). */
  | 'compute'
  /** An extension that cannot be added, read or removed (docs/extensions.md). */
  | 'extension'
  /** A file another process holds locked for longer than a change of it takes (withFileLock). */
  | 'busy';

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

export class SettingsError extends EngineError {
  /** The setting the error is about, when it is about one. */
  readonly key: string | undefined;
  constructor(message: string, key?: string) {
    super('settings', message);
    this.name = 'SettingsError';
    this.key = key;
  }
}

/**
 * The database cannot be opened or used: unreachable, a refused password, a schema written by a newer DeepForge.
 * The message names the database with its password masked.
 */
export class DatabaseError extends EngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('database', message, options);
    this.name = 'DatabaseError';
  }
}

/** The pipeline (or the project around it) has errors; nothing was stored. */
export class PipelineValidationError extends EngineError {
  readonly diagnostics: Diagnostic[];
  constructor(message: string, diagnostics: Diagnostic[]) {
    super('invalid-pipeline', `${message}\n${formatDiagnostics(diagnostics)}`);
    this.name = 'PipelineValidationError';
    this.diagnostics = diagnostics;
  }
}

/** A project folder could not be read or written. */
export class ProjectFolderError extends EngineError {
  readonly diagnostics: Diagnostic[];
  readonly dir: string;
  constructor(dir: string, message: string, diagnostics: Diagnostic[]) {
    super(
      'project-folder',
      diagnostics.length > 0 ? `${message}\n${formatDiagnostics(diagnostics)}` : message,
    );
    this.name = 'ProjectFolderError';
    this.dir = dir;
    this.diagnostics = diagnostics;
  }
}

export class NotFoundError extends EngineError {
  constructor(message: string) {
    super('not-found', message);
    this.name = 'NotFoundError';
  }
}

export class AmbiguousError extends EngineError {
  readonly candidates: string[];
  constructor(message: string, candidates: string[]) {
    super('ambiguous', message);
    this.name = 'AmbiguousError';
    this.candidates = candidates;
  }
}

export class IllegalTransitionError extends EngineError {
  readonly from: string;
  readonly to: string;
  constructor(what: string, from: string, to: string) {
    super('illegal-transition', `${what}: cannot go from ${from} to ${to}`);
    this.name = 'IllegalTransitionError';
    this.from = from;
    this.to = to;
  }
}

/** The configured Python interpreter cannot run operations. */
export class InterpreterError extends EngineError {
  constructor(message: string) {
    super('interpreter', message);
    this.name = 'InterpreterError';
  }
}

/** The execution is not in a state that allows what was asked (resume a running one, cancel a finished one). */
export class ExecutionStateError extends EngineError {
  constructor(message: string) {
    super('execution-state', message);
    this.name = 'ExecutionStateError';
  }
}

export class StorageError extends EngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('storage', message, options);
    this.name = 'StorageError';
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = [
    d.file
      ? `${d.file}${d.line !== undefined ? `:${d.line}${d.column !== undefined ? `:${d.column}` : ''}` : ''}`
      : '',
    d.pipeline ? `pipeline ${d.pipeline}` : '',
    d.node ? `node ${d.node}${d.port ? `.${d.port}` : ''}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `  ${d.severity}${where ? ` (${where})` : ''}: ${d.message} [${d.code}]`;
}

export function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map(formatDiagnostic).join('\n');
}

/**
 * An operation's environment could not be had: its file does not read, it asks for another Python, or pip could
 * not install it. The job fails with this message (kind `environment`); nothing half-built is kept.
 */
export class EnvironmentError extends EngineError {
  constructor(message: string, options?: ErrorOptions) {
    super('environment', message, options);
    this.name = 'EnvironmentError';
  }
}
