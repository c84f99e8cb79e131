import type { Diagnostic, OperationInterface } from './model.js';
import { parseOperationSource } from './python-interface.parser.js';

/**
 * Reading one operation file: what the operation reader's worker threads load (packages/engine's
 * operation-reader.ts), so it imports nothing of the model's schemas or of the rest of the project format.
 */

export const OPERATIONS_DIR = 'operations';

/** A diagnostic about `file`; its message names the file. */
export function fileDiagnostic(
  severity: Diagnostic['severity'],
  code: string,
  file: string,
  message: string,
  at?: { line: number; column: number },
): Diagnostic {
  return { severity, code, message: `${file}: ${message}`, file, ...(at ?? {}) };
}

/** What reading one operation file gives. */
export interface OperationReading {
  /** Null while the code has errors. */
  interface: OperationInterface | null;
  /** Their messages name the file. */
  diagnostics: Diagnostic[];
}

/** Reads the operation `name` (operations/<name>.py) from its code, as parseProjectOperations does. */
export function readOperationFile(name: string, code: string): OperationReading {
  return parseOperationFile(`${OPERATIONS_DIR}/${name}.py`, name, code);
}

/** Parses one operation file; its diagnostics name the file. */
function parseOperationFile(file: string, name: string, code: string): OperationReading {
  const parsed = parseOperationSource(code, { className: name });
  const diagnostics = parsed.diagnostics.map((d) => {
    const at =
      d.line !== undefined && d.column !== undefined ? { line: d.line, column: d.column } : undefined;
    let message = d.message;
    let diagnosticCode = d.code;
    if (d.code === 'class-not-found') {
      const actual = parseOperationSource(code).interface?.className;
      diagnosticCode = actual ? 'class-name-mismatch' : 'no-class';
      message = actual
        ? `the operation class is named ${actual}, but it must be named ${name} like its file`
        : `no class named ${name}: the file must define class ${name} with an execute method`;
    }
    return { ...fileDiagnostic(d.severity, diagnosticCode, file, message, at), operation: name };
  });
  const usable = !diagnostics.some((d) => d.severity === 'error');
  return { interface: usable ? parsed.interface : null, diagnostics };
}
