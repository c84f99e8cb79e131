import type { SyntaxNode } from '@lezer/common';
import type { Diagnostic, OperationInterface } from './model.js';
import { identifierProblem } from './python-identifier.js';
import { hintText, parseOperationSource, returnCount } from './python-interface.parser.js';
import { parseExpression } from './python-literal.evaluator.js';
import {
  allVariableNames,
  analyzeSource,
  bodyStatements,
  childNodes,
  contentEnd,
  importedNames,
  itemExpression,
  lineEnd,
  lineIndent,
  lineStart,
  nameReferences,
  newlineOf,
  ownReturnStatements,
  parseReturn,
  selectOperationClass,
  selfAttributeReferences,
  sourceOf,
  splitCommaList,
} from './python-operation.syntax.js';
import type {
  ClassSyntax,
  CommaList,
  FunctionSyntax,
  ListItem,
  ParamSyntax,
  ReturnSyntax,
} from './python-operation.syntax.js';

/**
 * Edits of an operation's interface made by editing its code, as the operation editor's interface panel does.
 * Each edit changes as little text as it can (formatting and comments stay), then parses the result again and
 * refuses to return code that lost what it was asked to do or gained errors.
 */

export type EditResult = { code: string } | { error: string };

export interface EditOptions {
  /** The operation class, when the file may hold several classes with `execute`. */
  className?: string;
}

interface Change {
  from: number;
  to: number;
  insert: string;
}

function applyChanges(code: string, changes: readonly Change[]): string {
  const sorted = [...changes].sort((a, b) => b.from - a.from || b.to - a.to);
  let out = code;
  let limit = Number.POSITIVE_INFINITY;
  for (const c of sorted) {
    if (c.to > limit) throw new Error('overlapping edits');
    out = out.slice(0, c.from) + c.insert + out.slice(c.to);
    limit = c.from;
  }
  return out;
}

interface Context {
  code: string;
  cls: ClassSyntax;
  execute: FunctionSyntax;
  iface: OperationInterface;
  diagnostics: Diagnostic[];
  nl: string;
}

function contextOf(code: string, className: string | undefined): Context | { error: string } {
  const source = analyzeSource(code);
  if (source.problem) return { error: source.problem.message };
  const selection = selectOperationClass(source, className);
  if (selection.kind === 'no-class') return { error: 'no operation class found in the code' };
  if (selection.kind === 'class-not-found')
    return { error: `no class named ${selection.className} in the code` };
  if (selection.kind === 'no-execute') return { error: `class ${selection.cls.name} has no execute method` };
  const cls = selection.cls;
  const parsed = parseOperationSource(code, { className: cls.name });
  if (!parsed.interface)
    return { error: parsed.diagnostics[0]?.message ?? 'the operation could not be read' };
  return {
    code,
    cls,
    execute: cls.execute as FunctionSyntax,
    iface: parsed.interface,
    diagnostics: parsed.diagnostics,
    nl: newlineOf(code),
  };
}

function load(code: string, options: EditOptions): Context | { error: string } {
  return contextOf(code, options.className);
}

const errorCount = (ds: readonly Diagnostic[]): number => ds.filter((d) => d.severity === 'error').length;

/** Parses the edited code again: the edit must have done what it says and added no errors. */
function verify(
  before: Context,
  code: string,
  what: string,
  check: (iface: OperationInterface) => boolean,
): EditResult {
  const parsed = parseOperationSource(code, { className: before.cls.name });
  if (!parsed.interface) {
    return {
      error: `${what} would leave no operation class: ${parsed.diagnostics[0]?.message ?? ''}`.trim(),
    };
  }
  if (errorCount(parsed.diagnostics) > errorCount(before.diagnostics)) {
    const old = new Set(before.diagnostics.map((d) => d.message.replace(/line \d+, column \d+/, '')));
    const added = parsed.diagnostics.find(
      (d) => d.severity === 'error' && !old.has(d.message.replace(/line \d+, column \d+/, '')),
    );
    return { error: `${what} would make the code invalid: ${added?.message ?? 'new errors'}` };
  }
  if (!check(parsed.interface)) return { error: `${what} could not be applied to this code` };
  return { code };
}

function checkName(kind: string, name: string): string | null {
  const problem = identifierProblem(name);
  return problem ? `invalid ${kind} name: ${problem}` : null;
}

function checkExpression(kind: string, source: string): string | null {
  return parseExpression(source)
    ? null
    : `invalid ${kind}: ${JSON.stringify(source)} is not a Python expression`;
}

// ---- comma lists ------------------------------------------------------------------------------------------

function delimiterBefore(list: CommaList, index: number): number {
  if (index === 0) return list.open;
  return list.commas[index - 1]?.to ?? (list.items[index - 1] as ListItem).to;
}

/** Whether the list item starts a line of its own (a list written one item per line). */
function startsOwnLine(code: string, list: CommaList, index: number): boolean {
  const item = list.items[index] as ListItem;
  return /[\r\n]/.test(code.slice(delimiterBefore(list, index), item.from));
}

function indentBefore(code: string, pos: number): string {
  const prefix = code.slice(lineStart(code, pos), pos);
  return /^[ \t]*$/.test(prefix) ? prefix : ' '.repeat(prefix.length);
}

function insertItem(code: string, list: CommaList, index: number, text: string, nl: string): Change[] {
  const n = list.items.length;
  if (n === 0) return [{ from: list.open, to: list.open, insert: text }];
  if (index < n) {
    const item = list.items[index] as ListItem;
    const insert = startsOwnLine(code, list, index)
      ? `${text},${nl}${indentBefore(code, item.from)}`
      : `${text}, `;
    return [{ from: item.from, to: item.from, insert }];
  }
  const last = list.items[n - 1] as ListItem;
  const trailing = list.trailingComma;
  const after = trailing ? trailing.to : last.to;
  if (startsOwnLine(code, list, n - 1)) {
    const indent = indentBefore(code, last.from);
    const end = lineEnd(code, after);
    if (end < list.close) {
      const changes: Change[] = [
        { from: end, to: end, insert: `${nl}${indent}${text}${trailing ? ',' : ''}` },
      ];
      if (!trailing) changes.push({ from: last.to, to: last.to, insert: ',' });
      return changes;
    }
    return [
      { from: after, to: after, insert: trailing ? `${nl}${indent}${text},` : `,${nl}${indent}${text}` },
    ];
  }
  return trailing
    ? [{ from: trailing.to, to: trailing.to, insert: ` ${text},` }]
    : [{ from: last.to, to: last.to, insert: `, ${text}` }];
}

function removeItem(code: string, list: CommaList, index: number): Change[] {
  const n = list.items.length;
  const item = list.items[index] as ListItem;
  const comma = list.commas[index] ?? null;
  const delimEnd = comma ? comma.to : item.to;
  const end = lineEnd(code, delimEnd);
  const restOfLine = code.slice(delimEnd, end);
  if (
    n > 1 &&
    startsOwnLine(code, list, index) &&
    /^[ \t]*$/.test(code.slice(lineStart(code, item.from), item.from)) &&
    /^\s*(#.*)?$/.test(restOfLine) &&
    end < list.close
  ) {
    const breakLength = code.startsWith('\r\n', end) ? 2 : 1;
    const changes: Change[] = [{ from: lineStart(code, item.from), to: end + breakLength, insert: '' }];
    if (index === n - 1 && !comma) {
      // The item before becomes the last one; its comma would turn into a trailing comma, which is fine in
      // parameter lists but not wanted after the line is gone from a one-per-line list that had none.
      const prevComma = list.commas[index - 1];
      if (prevComma) changes.push({ from: prevComma.from, to: prevComma.to, insert: '' });
    }
    return changes;
  }
  if (index < n - 1) return [{ from: item.from, to: (list.items[index + 1] as ListItem).from, insert: '' }];
  if (n === 1) return [{ from: item.from, to: delimEnd, insert: '' }];
  return [{ from: (list.items[index - 1] as ListItem).to, to: item.to, insert: '' }];
}

// ---- statements -------------------------------------------------------------------------------------------

function indentUnit(code: string, cls: ClassSyntax, fn: FunctionSyntax | null): string {
  if (fn?.body) {
    const first = bodyStatements(fn.body)[0];
    const fnIndent = lineIndent(code, fn.outer.from);
    if (first && lineStart(code, first.from) !== lineStart(code, fn.node.from)) {
      const inner = lineIndent(code, first.from);
      if (inner.startsWith(fnIndent) && inner.length > fnIndent.length) return inner.slice(fnIndent.length);
    }
  }
  const methodIndent = cls.methods[0] ? lineIndent(code, cls.methods[0].outer.from) : '';
  const classIndent = lineIndent(code, cls.outer.from);
  if (methodIndent.startsWith(classIndent) && methodIndent.length > classIndent.length) {
    return methodIndent.slice(classIndent.length);
  }
  return '    ';
}

function isInlineBody(code: string, body: SyntaxNode): boolean {
  const first = bodyStatements(body)[0];
  return !!first && !/[\r\n]/.test(code.slice(body.from, first.from));
}

/** Inserts statements at the end (or start) of a function body, matching its indentation. */
function insertStatements(
  ctx: Context,
  fn: FunctionSyntax,
  lines: string[],
  where: 'start' | 'end' | SyntaxNode,
): Change[] {
  const { code, nl } = ctx;
  const body = fn.body;
  if (!body) throw new Error(`${fn.name} has no body`);
  const statements = bodyStatements(body);
  const first = statements[0];
  const last = statements[statements.length - 1];
  if (!first || !last) throw new Error(`${fn.name} has an empty body`);
  if (isInlineBody(code, body)) {
    // `def f(self): pass` becomes a block so that the new lines get lines of their own.
    const indent = lineIndent(code, fn.outer.from) + indentUnit(code, ctx.cls, fn);
    const existing = code.slice(first.from, contentEnd(code, last));
    const all = where === 'start' ? [...lines, existing] : [existing, ...lines];
    const colon = childNodes(body).find((n) => n.name === ':');
    const from = colon ? colon.to : first.from;
    return [{ from, to: contentEnd(code, last), insert: `${nl}${all.map((l) => indent + l).join(nl)}` }];
  }
  const indent = lineIndent(code, first.from);
  if (where === 'start') {
    const at = lineStart(code, first.from);
    return [{ from: at, to: at, insert: lines.map((l) => `${indent}${l}${nl}`).join('') }];
  }
  const after = where === 'end' ? last : where;
  const at = lineEnd(code, contentEnd(code, after));
  return [{ from: at, to: at, insert: lines.map((l) => `${nl}${indent}${l}`).join('') }];
}

/** Removes a simple statement that has its line to itself; null when it shares its line with other code. */
function removeStatementLine(code: string, statement: SyntaxNode): Change | null {
  const start = lineStart(code, statement.from);
  const stop = contentEnd(code, statement);
  const end = lineEnd(code, stop);
  if (!/^[ \t]*$/.test(code.slice(start, statement.from)) || !/^\s*(#.*)?$/.test(code.slice(stop, end)))
    return null;
  const breakLength = code.startsWith('\r\n', end) ? 2 : end < code.length ? 1 : 0;
  return { from: start, to: end + breakLength, insert: '' };
}

// ---- inputs -----------------------------------------------------------------------------------------------

function namedParam(fn: FunctionSyntax, name: string): ParamSyntax | undefined {
  return fn.args.find((p) => p.kind === 'plain' && p.name === name);
}

/** Where a new parameter without a default goes: before the first one that must come after it. */
function requiredParamIndex(fn: FunctionSyntax): number {
  const list = fn.list as CommaList;
  const blocker = fn.args.find(
    (p) =>
      p.kind === 'var-positional' ||
      p.kind === 'var-keyword' ||
      p.kind === 'keyword-marker' ||
      (p.kind === 'plain' && p.default !== null),
  );
  return blocker ? blocker.index : list.items.length;
}

/** Where a new parameter with a default goes: last, but before `**kwargs`. */
function optionalParamIndex(fn: FunctionSyntax): number {
  const list = fn.list as CommaList;
  const kw = fn.args.find((p) => p.kind === 'var-keyword');
  return kw ? kw.index : list.items.length;
}

export function addInput(code: string, name: string, type?: string, options: EditOptions = {}): EditResult {
  const bad = checkName('input', name) ?? (type !== undefined ? checkExpression('type hint', type) : null);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const { execute } = ctx;
  if (!execute.list) return { error: 'execute has no parameter list' };
  if (execute.params.some((p) => p.name === name))
    return { error: `execute already has a parameter named "${name}"` };
  const text = type !== undefined ? `${name}: ${type.trim()}` : name;
  const changes = insertItem(code, execute.list, requiredParamIndex(execute), text, ctx.nl);
  return verify(ctx, applyChanges(code, changes), `adding input "${name}"`, (i) =>
    i.inputs.some((p) => p.name === name && (type === undefined || p.type === type.trim())),
  );
}

function removeParam(ctx: Context, fn: FunctionSyntax, param: ParamSyntax): string {
  const { code } = ctx;
  const list = fn.list as CommaList;
  let next = applyChanges(code, removeItem(code, list, param.index));
  // A bare `*` with nothing after it is a syntax error: it goes too.
  const markerLeft =
    param.keywordOnly &&
    !fn.params.some((p) => p !== param && p.keywordOnly && p.kind !== 'keyword-marker') &&
    fn.params.some((p) => p.kind === 'keyword-marker');
  if (markerLeft) {
    const again = contextOf(next, ctx.cls.name);
    if (!('error' in again)) {
      const fn2 = fn.name === 'execute' ? again.execute : again.cls.init;
      const marker = fn2?.params.find((p) => p.kind === 'keyword-marker');
      if (fn2?.list && marker) next = applyChanges(next, removeItem(next, fn2.list, marker.index));
    }
  }
  return next;
}

export function removeInput(code: string, name: string, options: EditOptions = {}): EditResult {
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const param = namedParam(ctx.execute, name);
  if (!param) return { error: `execute has no input named "${name}"` };
  return verify(ctx, removeParam(ctx, ctx.execute, param), `removing input "${name}"`, (i) =>
    i.inputs.every((p) => p.name !== name),
  );
}

export function renameInput(
  code: string,
  oldName: string,
  newName: string,
  options: EditOptions = {},
): EditResult {
  const bad = checkName('input', newName);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const { execute } = ctx;
  const param = namedParam(execute, oldName);
  if (!param?.nameNode) return { error: `execute has no input named "${oldName}"` };
  if (oldName === newName) return { code };
  if (execute.params.some((p) => p.name === newName)) {
    return { error: `execute already has a parameter named "${newName}"` };
  }
  if (allVariableNames(code, execute.node).has(newName)) {
    return {
      error: `"${newName}" is already used in execute; renaming "${oldName}" to it would change what the code does`,
    };
  }
  if (execute.body && importedNames(code, execute.body).has(oldName)) {
    return { error: `"${oldName}" is also bound by an import in execute; rename it in the code` };
  }
  const uses = execute.body ? nameReferences(code, execute.body, oldName) : [];
  const changes = [param.nameNode, ...uses].map((n) => ({ from: n.from, to: n.to, insert: newName }));
  const position = ctx.iface.inputs.findIndex((p) => p.name === oldName);
  return verify(
    ctx,
    applyChanges(code, changes),
    `renaming input "${oldName}"`,
    (i) => i.inputs[position]?.name === newName && i.inputs.every((p) => p.name !== oldName),
  );
}

// ---- outputs ----------------------------------------------------------------------------------------------

function executeReturns(ctx: Context): ReturnSyntax[] {
  return ownReturnStatements(ctx.execute)
    .map((node) => parseReturn(ctx.code, node))
    .filter((r) => !r.starred);
}

/** The end of the returned values' text (without a trailing comment or line break). */
function returnValuesEnd(code: string, ret: ReturnSyntax): number {
  return contentEnd(code, ret.node);
}

export function addOutput(code: string, name: string, options: EditOptions = {}): EditResult {
  const bad = checkName('output', name);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  if (ctx.iface.outputs.some((o) => o.name === name))
    return { error: `execute already returns an output named "${name}"` };
  const returns = executeReturns(ctx);
  const withValues = returns.filter((r) => returnCount(code, r) > 0);
  const changes: Change[] = [];
  if (withValues.length > 0) {
    for (const r of withValues) {
      if (r.parenthesized) changes.push(...insertItem(code, r.list, r.list.items.length, name, ctx.nl));
      else if (r.list.trailingComma)
        changes.push({ from: r.list.trailingComma.to, to: r.list.trailingComma.to, insert: ` ${name}` });
      else {
        const last = r.list.items[r.list.items.length - 1] as ListItem;
        changes.push({ from: last.to, to: last.to, insert: `, ${name}` });
      }
    }
  } else {
    for (const r of returns) {
      changes.push({ from: r.keywordEnd, to: returnValuesEnd(code, r), insert: ` ${name}` });
    }
    const statements = ctx.execute.body ? bodyStatements(ctx.execute.body) : [];
    const last = statements[statements.length - 1];
    if (!last) return { error: 'execute has an empty body' };
    if (last.name !== 'ReturnStatement')
      changes.push(...insertStatements(ctx, ctx.execute, [`return ${name}`], 'end'));
  }
  return verify(ctx, applyChanges(code, changes), `adding output "${name}"`, (i) =>
    i.outputs.some((o) => o.name === name),
  );
}

/** The elements of a `Tuple[a, b]` return hint as a comma list, or null for other hints. */
function tupleHintList(code: string, hint: SyntaxNode): CommaList | null {
  if (hint.name !== 'MemberExpression') return null;
  const kids = childNodes(hint);
  const base = kids[0];
  const open = kids[1];
  const close = kids[kids.length - 1];
  if (!base || open?.name !== '[' || close?.name !== ']') return null;
  if (!/^(typing\.)?(Tuple|tuple)$/.test(sourceOf(code, base).replace(/\s+/g, ''))) return null;
  return splitCommaList(code, kids.slice(2, -1), open.to, close.from);
}

export function removeOutput(code: string, name: string, options: EditOptions = {}): EditResult {
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const index = ctx.iface.outputs.findIndex((o) => o.name === name);
  if (index < 0) return { error: `execute has no output named "${name}"` };
  const count = ctx.iface.outputs.length;
  const changes: Change[] = [];
  for (const r of executeReturns(ctx)) {
    if (returnCount(code, r) !== count) continue;
    const remaining = r.list.items.filter((_, i) => i !== index);
    const end = returnValuesEnd(code, r);
    if (remaining.length === 0) changes.push({ from: r.keywordEnd, to: end, insert: '' });
    else if (remaining.length === 1) {
      changes.push({ from: r.keywordEnd, to: end, insert: ` ${sourceOf(code, remaining[0] as ListItem)}` });
    } else changes.push(...removeItem(code, r.list, index));
  }
  const hint = ctx.execute.returnHint;
  if (hint) {
    const elements = tupleHintList(code, hint);
    const typeDef = hint.parent;
    const paramList = ctx.execute.paramList;
    const dropHint = (): void => {
      if (typeDef && paramList) changes.push({ from: paramList.to, to: typeDef.to, insert: '' });
    };
    if (count === 1 && hintText(code, hint) !== 'None') dropHint();
    else if (elements && elements.items.length === count) {
      const rest = elements.items.filter((_, i) => i !== index);
      if (rest.length === 1)
        changes.push({ from: hint.from, to: hint.to, insert: sourceOf(code, rest[0] as ListItem) });
      else changes.push(...removeItem(code, elements, index));
    }
  }
  return verify(
    ctx,
    applyChanges(code, changes),
    `removing output "${name}"`,
    (i) => i.outputs.length === count - 1 && i.outputs.every((o) => o.name !== name),
  );
}

function isSelfMember(
  code: string,
  node: SyntaxNode | null,
  selfName: string | undefined,
): SyntaxNode | null {
  if (!node || node.name !== 'MemberExpression' || !selfName) return null;
  const [object, dot, prop] = childNodes(node);
  if (
    object?.name === 'VariableName' &&
    sourceOf(code, object) === selfName &&
    dot?.name === '.' &&
    prop?.name === 'PropertyName'
  ) {
    return prop;
  }
  return null;
}

export function renameOutput(
  code: string,
  oldName: string,
  newName: string,
  options: EditOptions = {},
): EditResult {
  const bad = checkName('output', newName);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const { execute, cls } = ctx;
  const index = ctx.iface.outputs.findIndex((o) => o.name === oldName);
  if (index < 0) return { error: `execute has no output named "${oldName}"` };
  if (oldName === newName) return { code };
  if (ctx.iface.outputs.some((o) => o.name === newName)) {
    return { error: `execute already returns an output named "${newName}"` };
  }
  const count = ctx.iface.outputs.length;
  const selfName = execute.self?.name ?? undefined;
  const changes: Change[] = [];
  let renameVariable = false;
  let renameSelfAttribute = false;
  for (const r of executeReturns(ctx)) {
    if (returnCount(code, r) !== count) continue;
    const item = r.list.items[index] as ListItem;
    const expr = itemExpression(item);
    if (expr?.name === 'VariableName') {
      if (sourceOf(code, expr) === oldName) renameVariable = true;
      continue;
    }
    const prop = isSelfMember(code, expr, selfName);
    if (prop) {
      if (sourceOf(code, prop) === oldName) renameSelfAttribute = true;
      continue;
    }
    // An expression: name it with an assignment just before the return.
    const start = lineStart(code, r.node.from);
    if (!/^[ \t]*$/.test(code.slice(start, r.node.from))) {
      return {
        error: `output "${oldName}" is the expression "${sourceOf(code, item)}" in a return that shares its line with other code; assign it to a variable named "${newName}" first`,
      };
    }
    const indent = code.slice(start, r.node.from);
    changes.push({
      from: start,
      to: start,
      insert: `${indent}${newName} = ${sourceOf(code, item)}${ctx.nl}`,
    });
    changes.push({ from: item.from, to: item.to, insert: newName });
  }
  if (renameVariable || changes.length > 0) {
    if (renameVariable && execute.params.some((p) => p.name === oldName)) {
      return {
        error: `output "${oldName}" is the input "${oldName}" returned as it is; rename the input, or assign it to a variable named "${newName}" and return that`,
      };
    }
    if (allVariableNames(code, execute.node).has(newName) || execute.params.some((p) => p.name === newName)) {
      return {
        error: `"${newName}" is already used in execute; renaming the output to it would change what the code does`,
      };
    }
    if (renameVariable && execute.body && importedNames(code, execute.body).has(oldName)) {
      return { error: `"${oldName}" is bound by an import in execute; rename it in the code` };
    }
  }
  if (renameVariable && execute.body) {
    for (const n of nameReferences(code, execute.body, oldName))
      changes.push({ from: n.from, to: n.to, insert: newName });
  }
  if (renameSelfAttribute) {
    if (selfAttributeReferences(code, cls, newName).length > 0) {
      return { error: `"self.${newName}" is already used in class ${cls.name}` };
    }
    for (const n of selfAttributeReferences(code, cls, oldName))
      changes.push({ from: n.from, to: n.to, insert: newName });
  }
  return verify(
    ctx,
    applyChanges(code, changes),
    `renaming output "${oldName}"`,
    (i) => i.outputs[index]?.name === newName && i.outputs.every((o) => o.name !== oldName),
  );
}

// ---- attributes and references ----------------------------------------------------------------------------

function initParam(ctx: Context, name: string): ParamSyntax | undefined {
  return ctx.cls.init ? namedParam(ctx.cls.init, name) : undefined;
}

/** `self.<name> = <name>` statements directly in `__init__`'s body. */
function selfAssignments(ctx: Context, init: FunctionSyntax, name: string): SyntaxNode[] {
  if (!init.body || !init.self?.name) return [];
  const selfName = init.self.name;
  return bodyStatements(init.body).filter((s) => {
    if (s.name !== 'AssignStatement') return false;
    const kids = childNodes(s).filter((n) => n.name !== 'Comment');
    if (kids.length !== 3 || kids[1]?.name !== 'AssignOp') return false;
    const prop = isSelfMember(ctx.code, kids[0] ?? null, selfName);
    const value = kids[2] as SyntaxNode;
    return (
      !!prop &&
      sourceOf(ctx.code, prop) === name &&
      value.name === 'VariableName' &&
      sourceOf(ctx.code, value) === name
    );
  });
}

/** After the last `self.x = x`, else at the start of the body (after a docstring). */
function selfAssignmentPlace(ctx: Context, init: FunctionSyntax): 'start' | SyntaxNode {
  const statements = init.body ? bodyStatements(init.body) : [];
  const params = new Set(init.args.map((p) => p.name).filter((n): n is string => n !== null));
  const assigned = [...params].flatMap((p) => selfAssignments(ctx, init, p));
  // Syntax nodes are recreated on each access: compare positions, not identities.
  const assignedAt = new Set(assigned.map((s) => s.from));
  const lastAssigned = statements.filter((s) => assignedAt.has(s.from)).pop();
  if (lastAssigned) return lastAssigned;
  const first = statements[0];
  const isDocstring =
    first?.name === 'ExpressionStatement' &&
    ['String', 'ContinuedString'].includes(first.firstChild?.name ?? '');
  return isDocstring && first && statements.length > 1 ? first : 'start';
}

function addInitParam(ctx: Context, name: string, paramText: string, required: boolean): string {
  const { code, cls, execute, nl } = ctx;
  const init = cls.init;
  if (!init) {
    const indent = lineIndent(code, execute.outer.from);
    const unit = indentUnit(code, cls, execute);
    const at = lineStart(code, execute.outer.from);
    const text = `${indent}def __init__(self, ${paramText}):${nl}${indent}${unit}self.${name} = ${name}${nl}${nl}`;
    return applyChanges(code, [{ from: at, to: at, insert: text }]);
  }
  if (!init.list) throw new Error('__init__ has no parameter list');
  const index = required ? requiredParamIndex(init) : optionalParamIndex(init);
  const changes = insertItem(code, init.list, index, paramText, nl);
  if (init.self?.name && init.body && bodyStatements(init.body).length > 0) {
    const selfName = init.self.name;
    const place = selfAssignmentPlace(ctx, init);
    changes.push(...insertStatements(ctx, init, [`${selfName}.${name} = ${name}`], place));
  }
  return applyChanges(code, changes);
}

function removeInitParam(ctx: Context, param: ParamSyntax): string {
  const init = ctx.cls.init as FunctionSyntax;
  const name = param.name as string;
  let next = removeParam(ctx, init, param);
  const again = contextOf(next, ctx.cls.name);
  if ('error' in again || !again.cls.init?.body) return next;
  const init2 = again.cls.init;
  const body = init2.body as SyntaxNode;
  const assignments = selfAssignments(again, init2, name);
  const removals = assignments
    .map((s) => removeStatementLine(next, s))
    .filter((c): c is Change => c !== null);
  if (removals.length === 0) return next;
  const remainingStatements = bodyStatements(body).length - removals.length;
  if (remainingStatements === 0) {
    // An empty body is a syntax error: leave `pass` where the last statement was.
    const only = assignments[0] as SyntaxNode;
    return applyChanges(next, [{ from: only.from, to: contentEnd(next, only), insert: 'pass' }]);
  }
  next = applyChanges(next, removals);
  return next;
}

export function addAttribute(
  code: string,
  name: string,
  defaultSource: string,
  options: EditOptions = {},
): EditResult {
  const bad = checkName('attribute', name) ?? checkExpression('default value', defaultSource);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  if (ctx.cls.init?.params.some((p) => p.name === name)) {
    return { error: `__init__ already has a parameter named "${name}"` };
  }
  const source = defaultSource.trim();
  const next = addInitParam(ctx, name, `${name}=${source}`, false);
  return verify(ctx, next, `adding attribute "${name}"`, (i) =>
    i.attributes.some((a) => a.name === name && a.defaultSource === source),
  );
}

export function removeAttribute(code: string, name: string, options: EditOptions = {}): EditResult {
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const param = initParam(ctx, name);
  if (!param) return { error: `__init__ has no attribute named "${name}"` };
  if (!param.default)
    return { error: `"${name}" is a reference, not an attribute (it has no default value)` };
  return verify(ctx, removeInitParam(ctx, param), `removing attribute "${name}"`, (i) =>
    i.attributes.every((a) => a.name !== name),
  );
}

export function renameAttribute(
  code: string,
  oldName: string,
  newName: string,
  options: EditOptions = {},
): EditResult {
  return renameInitParam(code, oldName, newName, options, 'attribute');
}

function renameInitParam(
  code: string,
  oldName: string,
  newName: string,
  options: EditOptions,
  kind: 'attribute' | 'reference',
): EditResult {
  const bad = checkName(kind, newName);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const { cls } = ctx;
  const init = cls.init;
  const param = initParam(ctx, oldName);
  if (!init || !param?.nameNode || (kind === 'attribute') !== (param.default !== null)) {
    return { error: `__init__ has no ${kind} named "${oldName}"` };
  }
  if (oldName === newName) return { code };
  if (init.params.some((p) => p.name === newName))
    return { error: `__init__ already has a parameter named "${newName}"` };
  if (allVariableNames(code, init.node).has(newName)) {
    return {
      error: `"${newName}" is already used in __init__; renaming "${oldName}" to it would change what the code does`,
    };
  }
  if (init.body && importedNames(code, init.body).has(oldName)) {
    return { error: `"${oldName}" is also bound by an import in __init__; rename it in the code` };
  }
  const nodes = [param.nameNode, ...(init.body ? nameReferences(code, init.body, oldName) : [])];
  if (selfAssignments(ctx, init, oldName).length > 0) {
    if (selfAttributeReferences(code, cls, newName).length > 0) {
      return { error: `"self.${newName}" is already used in class ${cls.name}` };
    }
    nodes.push(...selfAttributeReferences(code, cls, oldName));
  }
  const changes = nodes.map((n) => ({ from: n.from, to: n.to, insert: newName }));
  const list = kind === 'attribute' ? ctx.iface.attributes : ctx.iface.references;
  const position = list.findIndex((a) => a.name === oldName);
  return verify(ctx, applyChanges(code, changes), `renaming ${kind} "${oldName}"`, (i) => {
    const after = kind === 'attribute' ? i.attributes : i.references;
    return after[position]?.name === newName && after.every((a) => a.name !== oldName);
  });
}

export function setAttributeDefault(
  code: string,
  name: string,
  defaultSource: string,
  options: EditOptions = {},
): EditResult {
  const bad = checkExpression('default value', defaultSource);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const param = initParam(ctx, name);
  if (!param) return { error: `__init__ has no attribute named "${name}"` };
  if (!param.default)
    return { error: `"${name}" is a reference, not an attribute (it has no default value)` };
  const source = defaultSource.trim();
  const next = applyChanges(code, [{ from: param.default.from, to: param.default.to, insert: source }]);
  return verify(ctx, next, `setting the default of "${name}"`, (i) =>
    i.attributes.some((a) => a.name === name && a.defaultSource === source),
  );
}

export function addReference(code: string, name: string, options: EditOptions = {}): EditResult {
  const bad = checkName('reference', name);
  if (bad) return { error: bad };
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  if (ctx.cls.init?.params.some((p) => p.name === name)) {
    return { error: `__init__ already has a parameter named "${name}"` };
  }
  const next = addInitParam(ctx, name, name, true);
  return verify(ctx, next, `adding reference "${name}"`, (i) => i.references.some((r) => r.name === name));
}

export function removeReference(code: string, name: string, options: EditOptions = {}): EditResult {
  const ctx = load(code, options);
  if ('error' in ctx) return ctx;
  const param = initParam(ctx, name);
  if (!param) return { error: `__init__ has no reference named "${name}"` };
  if (param.default) return { error: `"${name}" is an attribute, not a reference (it has a default value)` };
  return verify(ctx, removeInitParam(ctx, param), `removing reference "${name}"`, (i) =>
    i.references.every((r) => r.name !== name),
  );
}

export function renameReference(
  code: string,
  oldName: string,
  newName: string,
  options: EditOptions = {},
): EditResult {
  return renameInitParam(code, oldName, newName, options, 'reference');
}

/** The code of a new operation, like DeepForge's "New Operation…": one input, one output. */
export function newOperationSource(name: string): string {
  const problem = identifierProblem(name);
  if (problem) throw new Error(`invalid operation name: ${problem}`);
  return [
    `class ${name}:`,
    '    # Arguments of __init__ with a default are attributes, those without one are references:',
    '    # def __init__(self, model, epochs=10):',
    '',
    '    def execute(self, data):',
    '        # The arguments of execute are the inputs; the names it returns are the outputs.',
    '        result = data',
    '        return result',
    '',
  ].join('\n');
}
