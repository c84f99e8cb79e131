import type { SyntaxNode, Tree } from '@lezer/common';
import type {
  AttributeSpec,
  AttributeType,
  Diagnostic,
  OperationInterface,
  PortSpec,
  Severity,
  SourceRange,
} from './model.js';
import { assertNever } from './assert-never.js';
import { evaluateLiteralNode, LITERAL_TOO_DEEP } from './python-literal.evaluator.js';
import { LineIndex } from './source-lines.js';
import {
  analyzeSource,
  childNodes,
  isNoneReturn,
  itemExpression,
  ownReturnStatements,
  parseReturn,
  selectOperationClass,
  sourceOf,
} from './python-operation.syntax.js';
import type {
  ClassSyntax,
  FunctionSyntax,
  ListItem,
  ParamSyntax,
  ReturnSyntax,
  Span,
} from './python-operation.syntax.js';

export interface ParseOperationOptions {
  /** The expected class name (the file stem under `operations/`). */
  className?: string;
}

export interface ParseOperationResult {
  /**
   * Null when there is no operation class to speak of (no class, wrong name, no `execute`). With other errors
   * (syntax errors, unsupported parameters) it is the best reading of the source, for the editor to show.
   */
  interface: OperationInterface | null;
  diagnostics: Diagnostic[];
}

export { lineColumn } from './source-lines.js';

/**
 * The line index of the code being read: many lookups per parse (a range per port, a line per diagnostic) would
 * each walk the code from its start. One entry is enough, as a parse looks up one code at a time.
 */
let lastIndex: LineIndex | undefined;
let lastIndexed: string | undefined;
function positionIn(code: string, offset: number): { line: number; column: number } {
  if (lastIndexed !== code || !lastIndex) {
    lastIndex = new LineIndex(code);
    lastIndexed = code;
  }
  return lastIndex.at(offset);
}

export function sourceRange(code: string, span: Span): SourceRange {
  return { from: span.from, to: span.to, ...positionIn(code, span.from) };
}

/** How much of an error's text is looked at to describe it: error nodes can span most of the code. */
const DESCRIBE_WINDOW = 256;

function describeUnexpected(code: string, node: Span): string {
  const text = code.slice(node.from, Math.min(node.to, node.from + DESCRIBE_WINDOW));
  if (text.length > 0) {
    if (text.trim() === '') return 'unexpected indentation';
    const first = text.trim().split(/[\r\n]/)[0] as string;
    return `unexpected "${first.length > 24 ? `${first.slice(0, 24)}…` : first}"`;
  }
  const rest = code.slice(node.from, node.from + DESCRIBE_WINDOW).replace(/^[ \t\f]+/, '');
  if (rest === '') return 'unexpected end of file';
  if (/^[\r\n]/.test(rest)) return 'unexpected end of line';
  const token = /^(\w+|\S)/.exec(rest)?.[0] ?? rest[0];
  return `unexpected "${token}"`;
}

/**
 * Where lezer had to recover from syntax errors: the first place on each line, because one mistake often makes
 * it recover twice in a row (`a $ 1` has an unexpected `$`, then a `1` where it wanted an operator).
 */
export function syntaxDiagnostics(code: string, tree: Tree): Diagnostic[] {
  const seenLines = new Set<number>();
  const out: Diagnostic[] = [];
  tree.iterate({
    enter: (node) => {
      if (!node.type.isError) return;
      const { line, column } = positionIn(code, node.from);
      if (seenLines.has(line)) return;
      seenLines.add(line);
      out.push({
        severity: 'error',
        code: 'syntax',
        message: `syntax error at line ${line}, column ${column}: ${describeUnexpected(code, node)}`,
        line,
        column,
      });
    },
  });
  return out;
}

/** Collapses the line breaks of a multi-line hint so that it reads as written on one line. */
function normalizeHint(text: string): string {
  // Whole runs of whitespace are matched and then looked at: patterns like /\s*[\r\n]\s*/ or /\s+([\]),])/
  // would scan a long run from each of its spaces (quadratic).
  return text
    .replace(/\s+/g, (run) => (/[\r\n]/.test(run) ? ' ' : run))
    .replace(/([[(])\s+/g, '$1')
    .replace(/\s+/g, (run, offset: number, all: string) =>
      /[\]),]/.test(all.charAt(offset + run.length)) ? '' : run,
    )
    .replace(/,\s*([\])])/g, '$1')
    .trim();
}

export function hintText(code: string, hint: SyntaxNode): string {
  // A quoted annotation (`x: "np.ndarray"`) is a forward reference to the type inside the quotes.
  if (hint.name === 'String') {
    const r = evaluateLiteralNode(code, hint);
    if (r.ok && typeof r.value === 'string') return normalizeHint(r.value);
  }
  return normalizeHint(sourceOf(code, hint));
}

const TYPING_PREFIX = /^(typing|t)\./;

/** The attribute type a hint gives, e.g. `Optional[float]` → float, `List[int]` → list. */
export function attributeTypeOfHint(hint: string): AttributeType {
  const h = hint.replace(/\s+/g, '').replace(TYPING_PREFIX, '');
  const optional = /^Optional\[(.*)\]$/.exec(h);
  if (optional) return attributeTypeOfHint(optional[1] as string);
  const union = h.split('|');
  if (union.length === 2 && union.includes('None')) {
    return attributeTypeOfHint(union.find((p) => p !== 'None') as string);
  }
  const base = h.replace(/\[.*$/s, '').replace(TYPING_PREFIX, '');
  switch (base) {
    case 'int':
      return 'int';
    case 'float':
      return 'float';
    case 'str':
      return 'str';
    case 'bool':
      return 'bool';
    case 'list':
    case 'List':
    case 'tuple':
    case 'Tuple':
    case 'Sequence':
      return 'list';
    case 'dict':
    case 'Dict':
    case 'Mapping':
      return 'dict';
    case 'None':
      return 'none';
    default:
      return 'any';
  }
}

class DiagnosticSink {
  readonly items: Diagnostic[] = [];
  constructor(
    private readonly code: string,
    private readonly operation: string | undefined,
  ) {}
  add(severity: Severity, code: string, message: string, at?: Span): void {
    const where = at ? positionIn(this.code, at.from) : undefined;
    this.items.push({
      severity,
      code,
      message,
      ...(this.operation ? { operation: this.operation } : {}),
      ...(where ? { line: where.line, column: where.column } : {}),
    });
  }
}

/** A name quoted in many messages (one per later parameter) is cut short, or the messages grow quadratically. */
function shortName(name: string | null): string {
  return name !== null && name.length > 40 ? `${name.slice(0, 40)}…` : String(name);
}

function checkParams(fn: FunctionSyntax, sink: DiagnosticSink, code: string): void {
  const seen = new Set<string>();
  for (const p of fn.params) {
    if (p.name !== null) {
      if (seen.has(p.name)) {
        sink.add('error', 'duplicate-parameter', `${fn.name}: parameter "${p.name}" is declared twice`, p);
      }
      seen.add(p.name);
    }
  }
  let withDefault: ParamSyntax | null = null;
  for (const p of fn.args) {
    if (p.kind !== 'plain' || p.keywordOnly) continue;
    if (p.default) withDefault = p;
    else if (withDefault) {
      // Python refuses this too ("non-default argument follows default argument").
      sink.add(
        'error',
        'parameter-order',
        `${fn.name}: parameter "${p.name}" has no default but follows "${shortName(withDefault.name)}", which has one`,
        p,
      );
    }
  }
  const hasPositionalOnly = fn.args.some((a) => a.positionalOnly);
  for (const p of fn.args) {
    if (p.kind === 'var-positional' || p.kind === 'var-keyword') {
      // Not /\s*:.*$/s, which scans a long run of spaces from each of them.
      const text = sourceOf(code, p);
      const colon = text.indexOf(':');
      const written = colon < 0 ? text : text.slice(0, colon).trimEnd();
      sink.add(
        'error',
        'unsupported-parameter',
        `${fn.name}: "${written}" is not supported: DeepForge passes each ${fn.name === 'execute' ? 'input' : 'attribute and reference'} by name, so every parameter must be named`,
        p,
      );
    } else if (p.kind === 'positional-marker' && hasPositionalOnly) {
      sink.add(
        'error',
        'unsupported-parameter',
        `${fn.name}: positional-only parameters ("/") are not supported: DeepForge passes arguments by name`,
        p,
      );
    }
  }
}

function namedArgs(fn: FunctionSyntax): ParamSyntax[] {
  return fn.args.filter((p) => p.kind === 'plain' && p.name !== null);
}

function portOf(code: string, p: ParamSyntax): PortSpec {
  const nameNode = p.nameNode as SyntaxNode;
  return {
    name: p.name as string,
    ...(p.hint ? { type: hintText(code, p.hint) } : {}),
    range: sourceRange(code, nameNode),
  };
}

function attributeOf(code: string, p: ParamSyntax, sink: DiagnosticSink): AttributeSpec {
  const defaultNode = p.default as SyntaxNode;
  const literal = evaluateLiteralNode(code, defaultNode);
  if (!literal.ok && literal.reason === LITERAL_TOO_DEEP) {
    sink.add(
      'warning',
      'default-too-deep',
      `__init__: the default of "${shortName(p.name)}" is ${LITERAL_TOO_DEEP}: it is not read as a value`,
      defaultNode,
    );
  }
  const hint = p.hint ? hintText(code, p.hint) : undefined;
  return {
    name: p.name as string,
    type: hint !== undefined ? attributeTypeOfHint(hint) : literal.type,
    default: literal.ok ? literal.value : undefined,
    defaultSource: sourceOf(code, defaultNode),
    ...(hint !== undefined ? { hint } : {}),
    range: sourceRange(code, p.nameNode as SyntaxNode),
  };
}

function outputName(code: string, item: ListItem, selfName: string | undefined): string | null {
  const expr = itemExpression(item);
  if (!expr) return null;
  if (expr.name === 'VariableName') return sourceOf(code, expr);
  if (expr.name === 'MemberExpression' && selfName) {
    const [object, dot, prop] = childNodes(expr);
    if (
      object?.name === 'VariableName' &&
      sourceOf(code, object) === selfName &&
      dot?.name === '.' &&
      prop?.name === 'PropertyName'
    ) {
      return sourceOf(code, prop);
    }
  }
  return null;
}

/** The names of the values a return statement returns, `output`/`output<i>` for expressions. */
export function returnedNames(code: string, ret: ReturnSyntax, selfName: string | undefined): string[] {
  const items = ret.list.items;
  return items.map(
    (item, i) => outputName(code, item, selfName) ?? (items.length === 1 ? 'output' : `output${i + 1}`),
  );
}

export function returnCount(code: string, ret: ReturnSyntax): number {
  return isNoneReturn(code, ret) ? 0 : ret.list.items.length;
}

/** Element types of `Tuple[a, b]` / `tuple[a, b]` hints, or null when the hint is not a tuple. */
function tupleHintElements(code: string, hint: SyntaxNode, count: number): string[] | null {
  if (hint.name !== 'MemberExpression') return null;
  const kids = childNodes(hint);
  const base = kids[0];
  if (!base || kids[1]?.name !== '[') return null;
  if (!/^(typing\.)?(Tuple|tuple)$/.test(sourceOf(code, base).replace(/\s+/g, ''))) return null;
  const elements = kids.slice(2).filter((n) => n.name !== ',' && n.name !== ']' && n.name !== 'Comment');
  if (elements.length === 2 && elements[1]?.name === 'Ellipsis') {
    return Array.from({ length: count }, () => hintText(code, elements[0] as SyntaxNode));
  }
  return elements.map((e) => hintText(code, e));
}

function outputsOf(code: string, execute: FunctionSyntax, sink: DiagnosticSink): PortSpec[] {
  const selfName = execute.self?.name ?? undefined;
  const returns = ownReturnStatements(execute).map((node) => parseReturn(code, node));
  const usable = returns.filter((r) => {
    if (r.starred) {
      sink.add(
        'error',
        'starred-return',
        'execute: a starred value ("*x") in return is not supported: the number of outputs must be fixed',
        r.node,
      );
    }
    return !r.starred;
  });
  const first = usable.find((r) => returnCount(code, r) > 0);
  const reference = first ?? usable[0];
  if (reference) {
    const expected = returnCount(code, reference);
    const line = positionIn(code, reference.node.from).line;
    for (const r of usable) {
      const count = returnCount(code, r);
      if (count === expected) continue;
      const other = positionIn(code, r.node.from).line;
      const plural = (n: number): string => `${n} value${n === 1 ? '' : 's'}`;
      sink.add(
        'error',
        'return-count-mismatch',
        `execute returns ${plural(expected)} at line ${line} but ${plural(count)} at line ${other}: every return must return the same outputs`,
        r.node,
      );
    }
  }
  if (!first) return [];
  const names = returnedNames(code, first, selfName);
  const items = first.list.items;
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name)) {
      sink.add(
        'error',
        'duplicate-output',
        `execute returns "${name}" twice: output names must be unique`,
        items[i] as ListItem,
      );
    }
    seen.add(name);
  });
  let types: (string | undefined)[] = names.map(() => undefined);
  const hint = execute.returnHint;
  if (hint) {
    const whole = hintText(code, hint);
    if (whole === 'None') {
      sink.add(
        'warning',
        'return-hint-mismatch',
        `execute is annotated "-> None" but returns ${names.length} value(s)`,
        hint,
      );
    } else if (names.length === 1) {
      types = [whole];
    } else {
      const elements = tupleHintElements(code, hint, names.length);
      if (elements && elements.length === names.length) types = elements;
      else {
        sink.add(
          'warning',
          'return-hint-mismatch',
          `execute returns ${names.length} values but its return hint "${whole}" does not describe ${names.length} values`,
          hint,
        );
      }
    }
  }
  return names.map((name, i) => {
    const type = types[i];
    const anyType = type === undefined || type === 'Any' || type === 'typing.Any';
    return {
      name,
      ...(anyType ? {} : { type }),
      range: sourceRange(code, items[i] as ListItem),
    };
  });
}

function interfaceOf(code: string, cls: ClassSyntax, sink: DiagnosticSink): OperationInterface {
  const execute = cls.execute as FunctionSyntax;
  const nameSpan = childNodes(execute.node).find((n) => n.name === 'VariableName') ?? execute.node;
  if (execute.isAsync) {
    sink.add(
      'error',
      'async-execute',
      'execute must not be async: DeepForge calls it as a plain function',
      nameSpan,
    );
  }
  if (!execute.self && !execute.decorators.includes('staticmethod')) {
    sink.add(
      'error',
      'missing-self',
      'execute must take "self" as its first parameter',
      execute.paramList ?? nameSpan,
    );
  }
  if (cls.methods.filter((m) => m.name === 'execute').length > 1) {
    sink.add(
      'warning',
      'duplicate-method',
      `class ${cls.name} defines execute more than once: the last one counts`,
      nameSpan,
    );
  }
  checkParams(execute, sink, code);
  const inputs = namedArgs(execute).map((p) => portOf(code, p));
  const attributes: AttributeSpec[] = [];
  const references: PortSpec[] = [];
  const init = cls.init;
  if (init) {
    if (!init.self) {
      sink.add(
        'error',
        'missing-self',
        '__init__ must take "self" as its first parameter',
        init.paramList ?? init.node,
      );
    }
    if (cls.methods.filter((m) => m.name === '__init__').length > 1) {
      sink.add(
        'warning',
        'duplicate-method',
        `class ${cls.name} defines __init__ more than once: the last one counts`,
        init.node,
      );
    }
    checkParams(init, sink, code);
    for (const p of namedArgs(init)) {
      if (p.default) attributes.push(attributeOf(code, p, sink));
      else references.push(portOf(code, p));
    }
  }
  const outputs = outputsOf(code, execute, sink);
  return { className: cls.name, inputs, outputs, attributes, references };
}

/**
 * The most diagnostics one operation gets: each of 60,000 duplicate parameters would have one, megabytes of
 * them for the editor and every response that lists them. The rest are counted in a last diagnostic.
 */
export const OPERATION_MAX_DIAGNOSTICS = 100;

/** Reads an operation's interface from its Python source. */
export function parseOperationSource(
  code: string,
  options: ParseOperationOptions = {},
): ParseOperationResult {
  const result = readOperationSource(code, options);
  const { diagnostics } = result;
  if (diagnostics.length <= OPERATION_MAX_DIAGNOSTICS) return result;
  const kept = diagnostics.slice(0, OPERATION_MAX_DIAGNOSTICS - 1);
  const rest = diagnostics.slice(OPERATION_MAX_DIAGNOSTICS - 1);
  const errors = rest.filter((d) => d.severity === 'error').length;
  const last = diagnostics[diagnostics.length - 1] as Diagnostic;
  kept.push({
    severity: errors > 0 ? 'error' : 'warning',
    code: 'more-diagnostics',
    message: `${rest.length} more problems (${errors} errors) not listed: fix the ones above first`,
    ...(last.operation !== undefined ? { operation: last.operation } : {}),
  });
  return { interface: result.interface, diagnostics: kept };
}

function readOperationSource(code: string, options: ParseOperationOptions): ParseOperationResult {
  const source = analyzeSource(code);
  const syntax = syntaxDiagnostics(code, source.tree);
  if (source.problem) {
    const { code: problemCode, message, line, column } = source.problem;
    return {
      interface: null,
      diagnostics: [
        ...syntax,
        {
          severity: 'error',
          code: problemCode,
          message,
          ...(options.className !== undefined ? { operation: options.className } : {}),
          ...(line !== undefined && column !== undefined ? { line, column } : {}),
        },
      ],
    };
  }
  const selection = selectOperationClass(source, options.className);
  switch (selection.kind) {
    case 'no-class': {
      const message =
        options.className !== undefined
          ? `no class named ${options.className}`
          : 'no operation class found: an operation is a class with an execute method';
      return {
        interface: null,
        diagnostics: [...syntax, { severity: 'error', code: 'no-class', message }],
      };
    }
    case 'class-not-found': {
      const others = selection.others.length > 0 ? ` (found: ${selection.others.join(', ')})` : '';
      return {
        interface: null,
        diagnostics: [
          ...syntax,
          {
            severity: 'error',
            code: 'class-not-found',
            message: `no class named ${selection.className}${others}`,
            operation: selection.className,
          },
        ],
      };
    }
    case 'no-execute': {
      const sink = new DiagnosticSink(code, selection.cls.name);
      sink.add(
        'error',
        'missing-execute',
        `class ${selection.cls.name} has no execute method: an operation's inputs and outputs come from execute`,
        selection.cls.nameNode ?? selection.cls.node,
      );
      return { interface: null, diagnostics: [...syntax, ...sink.items] };
    }
    case 'found': {
      const sink = new DiagnosticSink(code, selection.cls.name);
      const iface = interfaceOf(code, selection.cls, sink);
      return { interface: iface, diagnostics: [...syntax, ...sink.items] };
    }
    default:
      return assertNever(selection);
  }
}
