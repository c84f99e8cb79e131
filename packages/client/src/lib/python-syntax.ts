import type { Diagnostic } from '@deepforge/core';
import { LineIndex, parsePythonBounded } from '@deepforge/core';

/**
 * The largest module checked in the browser. Modules (utils, serializers) have no size limit of their own, but
 * parsing runs on the page's main thread: past this the check is skipped, with a warning saying so.
 */
export const MODULE_CHECK_MAX_BYTES = 1024 * 1024;

/**
 * Syntax errors of a Python module (utils, serializers), one per line at most, from the same Lezer grammar the
 * core's operation parser uses, within its bounds (nesting, error recovery). Operations get the richer checks of
 * core's parseOperationSource instead.
 */
export function pythonSyntaxDiagnostics(code: string, max = 20): Diagnostic[] {
  const out: Diagnostic[] = [];
  const lines = new Set<number>();
  const { tree, problem } = parsePythonBounded(code, {
    subject: 'the module',
    maxBytes: MODULE_CHECK_MAX_BYTES,
  });
  const index = new LineIndex(code);
  tree.iterate({
    enter: (node) => {
      if (!node.type.isError || out.length >= max) return;
      const { line, column } = index.at(node.from);
      if (lines.has(line)) return;
      lines.add(line);
      out.push({
        severity: 'error',
        code: 'syntax',
        message: `syntax error at line ${line}, column ${column}`,
        line,
        column,
      });
    },
  });
  if (problem) {
    out.push({
      severity: problem.code === 'code-too-large' ? 'warning' : 'error',
      code: problem.code,
      message:
        problem.code === 'code-too-large'
          ? `${problem.message}: its syntax is not checked here`
          : problem.message,
      ...(problem.line !== undefined && problem.column !== undefined
        ? { line: problem.line, column: problem.column }
        : {}),
    });
  }
  return out;
}
