import type { SyntaxNode, Tree } from '@lezer/common';
import { parsePythonBounded } from './python-source.limits.js';
import type { BoundedParse, SourceLimitOptions, SourceProblem } from './python-source.limits.js';

/**
 * Where the parts of an operation class lie in its source: what both the interface parser and the code edits
 * need. Everything here is positions in the source string (UTF-16 offsets, as lezer and the editors use).
 */

export interface Span {
  from: number;
  to: number;
}

/** Parses Python within the limits of python-source.limits.ts (size, nesting, error recovery). */
export function parsePython(code: string, options?: SourceLimitOptions): BoundedParse {
  return parsePythonBounded(code, options);
}

export function childNodes(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) out.push(child);
  return out;
}

export function sourceOf(code: string, span: Span): string {
  return code.slice(span.from, span.to);
}

const COMPREHENSIONS: ReadonlySet<string> = new Set([
  'ComprehensionExpression',
  'ArrayComprehensionExpression',
  'SetComprehensionExpression',
  'DictionaryComprehensionExpression',
]);

/** An element of a comma-separated list: a parameter, a returned value. */
export interface ListItem extends Span {
  /** The syntax nodes of the element, comments left out; empty for the `/` marker, which lezer leaves unnamed. */
  nodes: SyntaxNode[];
}

export interface CommaList {
  /** Just after the opening bracket (or after `return`). */
  open: number;
  /** At the closing bracket (or at the end of the statement). */
  close: number;
  items: ListItem[];
  /** `commas[i]`: the comma that follows `items[i]`, when there is one. */
  commas: (Span | null)[];
  trailingComma: Span | null;
}

// Comments are blanked out (same length) so that positions found in the rest stay valid.
function blankComments(text: string): string {
  return text.replace(/#[^\n\r]*/g, (m) => ' '.repeat(m.length));
}

function trimmedSpan(code: string, from: number, to: number): Span | null {
  const text = blankComments(code.slice(from, to));
  const start = text.search(/\S/);
  if (start < 0) return null;
  return { from: from + start, to: from + text.trimEnd().length };
}

/** Splits the children of a bracketed construct (between `open` and `close`) at its top-level commas. */
export function splitCommaList(
  code: string,
  nodes: readonly SyntaxNode[],
  open: number,
  close: number,
): CommaList {
  const items: ListItem[] = [];
  const commas: (Span | null)[] = [];
  let group: SyntaxNode[] = [];
  let groupStart = open;
  let trailingComma: Span | null = null;
  const finish = (end: number, comma: Span | null): void => {
    const content = group.filter((n) => n.name !== 'Comment');
    if (content.length > 0) {
      const first = content[0] as SyntaxNode;
      const last = content[content.length - 1] as SyntaxNode;
      items.push({ from: first.from, to: last.to, nodes: content });
      commas.push(comma);
    } else {
      // Only the positional-only `/` marker is an unnamed token that can stand alone between commas.
      const span = trimmedSpan(code, groupStart, end);
      if (span) {
        items.push({ ...span, nodes: [] });
        commas.push(comma);
      }
    }
  };
  for (const node of nodes) {
    if (node.from < open || node.to > close) continue;
    if (node.name === ',') {
      finish(node.from, { from: node.from, to: node.to });
      group = [];
      groupStart = node.to;
    } else {
      group.push(node);
    }
  }
  const lastComma = commas.length > 0 ? commas[commas.length - 1] : null;
  const before = items.length;
  finish(close, null);
  if (items.length === before && lastComma && items.length > 0) trailingComma = lastComma;
  return { open, close, items, commas, trailingComma };
}

export type ParamKind =
  | 'plain'
  /** `*args` */
  | 'var-positional'
  /** `**kwargs` */
  | 'var-keyword'
  /** a bare `*`: what follows is keyword-only */
  | 'keyword-marker'
  /** `/`: what precedes is positional-only */
  | 'positional-marker'
  /** a part lezer could not make sense of (syntax error) */
  | 'unknown';

export interface ParamSyntax extends Span {
  kind: ParamKind;
  name: string | null;
  nameNode: SyntaxNode | null;
  hint: SyntaxNode | null;
  default: SyntaxNode | null;
  keywordOnly: boolean;
  positionalOnly: boolean;
  /** Index in the function's comma list. */
  index: number;
}

export interface FunctionSyntax {
  node: SyntaxNode;
  /** The decorated statement when there are decorators: where to insert something before the function. */
  outer: SyntaxNode;
  name: string;
  isAsync: boolean;
  decorators: string[];
  paramList: SyntaxNode | null;
  list: CommaList | null;
  params: ParamSyntax[];
  /** The first parameter, bound to the instance (absent for static methods). */
  self: ParamSyntax | null;
  /** The parameters after `self`. */
  args: ParamSyntax[];
  returnHint: SyntaxNode | null;
  body: SyntaxNode | null;
}

export interface ClassSyntax {
  node: SyntaxNode;
  outer: SyntaxNode;
  name: string;
  nameNode: SyntaxNode | null;
  body: SyntaxNode | null;
  methods: FunctionSyntax[];
  /** The last definitions win, as in Python. */
  init: FunctionSyntax | null;
  execute: FunctionSyntax | null;
}

export interface SourceSyntax {
  code: string;
  /** Empty, or only what was read before giving up, when there is a problem. */
  tree: Tree;
  /** Why the code was not read (or not all of it): then there are no classes. */
  problem: SourceProblem | null;
  /** Top-level classes in source order. */
  classes: ClassSyntax[];
}

function typeDefExpression(typeDef: SyntaxNode): SyntaxNode | null {
  return childNodes(typeDef).find((n) => n.name !== ':' && n.name !== '->' && n.name !== 'Comment') ?? null;
}

function parseParams(code: string, list: CommaList): ParamSyntax[] {
  const params: ParamSyntax[] = [];
  let keywordOnly = false;
  list.items.forEach((item, index) => {
    const nodes = item.nodes;
    const first = nodes[0];
    const base = { from: item.from, to: item.to, index, keywordOnly, positionalOnly: false };
    if (!first) {
      const isSlash = code.slice(item.from, item.to) === '/';
      params.push({
        ...base,
        kind: isSlash ? 'positional-marker' : 'unknown',
        name: null,
        nameNode: null,
        hint: null,
        default: null,
      });
      return;
    }
    if (first.name === '*' || first.name === '**') {
      const nameNode = nodes[1]?.name === 'VariableName' ? (nodes[1] as SyntaxNode) : null;
      const typeDef = nodes.find((n) => n.name === 'TypeDef');
      let kind: ParamKind =
        first.name === '**' ? 'var-keyword' : nameNode ? 'var-positional' : 'keyword-marker';
      if (first.name === '**' && !nameNode) kind = 'unknown';
      params.push({
        ...base,
        kind,
        name: nameNode ? sourceOf(code, nameNode) : null,
        nameNode,
        hint: typeDef ? typeDefExpression(typeDef) : null,
        default: null,
      });
      if (first.name === '*') keywordOnly = true;
      return;
    }
    if (first.name !== 'VariableName') {
      params.push({ ...base, kind: 'unknown', name: null, nameNode: null, hint: null, default: null });
      return;
    }
    const typeDef = nodes[1]?.name === 'TypeDef' ? (nodes[1] as SyntaxNode) : null;
    const assignIndex = nodes.findIndex((n) => n.name === 'AssignOp');
    const defaultNode = assignIndex >= 0 ? (nodes[assignIndex + 1] ?? null) : null;
    params.push({
      ...base,
      kind: 'plain',
      name: sourceOf(code, first),
      nameNode: first,
      hint: typeDef ? typeDefExpression(typeDef) : null,
      default: defaultNode,
    });
  });
  const slash = params.findIndex((p) => p.kind === 'positional-marker');
  for (let i = 0; i < slash; i++) (params[i] as ParamSyntax).positionalOnly = true;
  return params;
}

function parseFunction(code: string, node: SyntaxNode, outer: SyntaxNode, isMethod: boolean): FunctionSyntax {
  const kids = childNodes(node);
  const nameNode = kids.find((n) => n.name === 'VariableName');
  const paramList = kids.find((n) => n.name === 'ParamList') ?? null;
  const typeDef = kids.find((n) => n.name === 'TypeDef');
  const body = kids.find((n) => n.name === 'Body') ?? null;
  const decorators =
    outer === node
      ? []
      : childNodes(outer)
          .filter((n) => n.name === 'Decorator')
          .map((d) => {
            // Not a regex like /\s*\(.*$/s: from each of n spaces it would scan the rest (quadratic).
            const text = sourceOf(code, d).replace(/^@\s*/, '');
            const paren = text.indexOf('(');
            return (paren < 0 ? text : text.slice(0, paren)).trim();
          });
  let list: CommaList | null = null;
  let params: ParamSyntax[] = [];
  if (paramList) {
    const plKids = childNodes(paramList);
    const openTok = plKids.find((n) => n.name === '(');
    const closeTok = [...plKids].reverse().find((n) => n.name === ')');
    const open = openTok ? openTok.to : paramList.from;
    const close = closeTok ? closeTok.from : paramList.to;
    list = splitCommaList(
      code,
      plKids.filter((n) => n !== openTok && n !== closeTok),
      open,
      close,
    );
    params = parseParams(code, list);
  }
  const isStatic = decorators.includes('staticmethod');
  const firstParam = params[0];
  const self =
    isMethod && !isStatic && firstParam && firstParam.kind === 'plain' && !firstParam.keywordOnly
      ? firstParam
      : null;
  return {
    node,
    outer,
    name: nameNode ? sourceOf(code, nameNode) : '',
    isAsync: kids.some((n) => n.name === 'async'),
    decorators,
    paramList,
    list,
    params,
    self,
    args: params.filter((p) => p !== self),
    returnHint: typeDef ? typeDefExpression(typeDef) : null,
    body,
  };
}

/** The class or function a statement defines, looking through decorators. */
function definitionOf(statement: SyntaxNode): SyntaxNode | null {
  if (statement.name === 'ClassDefinition' || statement.name === 'FunctionDefinition') return statement;
  if (statement.name === 'DecoratedStatement') {
    return (
      childNodes(statement).find((n) => n.name === 'ClassDefinition' || n.name === 'FunctionDefinition') ??
      null
    );
  }
  return null;
}

function parseClass(code: string, node: SyntaxNode, outer: SyntaxNode): ClassSyntax {
  const kids = childNodes(node);
  const nameNode = kids.find((n) => n.name === 'VariableName') ?? null;
  const body = kids.find((n) => n.name === 'Body') ?? null;
  const methods: FunctionSyntax[] = [];
  for (const statement of body ? childNodes(body) : []) {
    const def = definitionOf(statement);
    if (def?.name === 'FunctionDefinition') methods.push(parseFunction(code, def, statement, true));
  }
  const last = (name: string): FunctionSyntax | null => methods.filter((m) => m.name === name).pop() ?? null;
  return {
    node,
    outer,
    name: nameNode ? sourceOf(code, nameNode) : '',
    nameNode,
    body,
    methods,
    init: last('__init__'),
    execute: last('execute'),
  };
}

export function analyzeSource(code: string): SourceSyntax {
  const { tree, problem } = parsePython(code, { subject: 'operation code' });
  const classes: ClassSyntax[] = [];
  if (problem) return { code, tree, problem, classes };
  for (const statement of childNodes(tree.topNode)) {
    const def = definitionOf(statement);
    if (def?.name === 'ClassDefinition') classes.push(parseClass(code, def, statement));
  }
  return { code, tree, problem: null, classes };
}

export type ClassSelection =
  | { kind: 'found'; cls: ClassSyntax }
  | { kind: 'no-class' }
  | { kind: 'class-not-found'; className: string; others: string[] }
  | { kind: 'no-execute'; cls: ClassSyntax };

/** The operation class: the one named `className` when given, else the last top-level class with `execute`. */
export function selectOperationClass(source: SourceSyntax, className?: string): ClassSelection {
  if (className !== undefined) {
    const cls = source.classes.filter((c) => c.name === className).pop();
    if (!cls) return { kind: 'class-not-found', className, others: source.classes.map((c) => c.name) };
    return cls.execute ? { kind: 'found', cls } : { kind: 'no-execute', cls };
  }
  const withExecute = source.classes.filter((c) => c.execute).pop();
  if (withExecute) return { kind: 'found', cls: withExecute };
  const last = source.classes[source.classes.length - 1];
  return last ? { kind: 'no-execute', cls: last } : { kind: 'no-class' };
}

/** Statements of a body, without the colon and comments. */
export function bodyStatements(body: SyntaxNode): SyntaxNode[] {
  return childNodes(body).filter((n) => n.name !== ':' && n.name !== 'Comment' && !n.type.isError);
}

/**
 * The `return` statements that belong to a function itself: those of nested functions, lambdas and classes
 * return from something else (the seeds' Scatter3DPlots has a nested helper with its own return).
 */
export function ownReturnStatements(fn: FunctionSyntax): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const walk = (node: SyntaxNode): void => {
    for (const child of childNodes(node)) {
      if (child.name === 'ReturnStatement') out.push(child);
      else if (
        child.name !== 'FunctionDefinition' &&
        child.name !== 'ClassDefinition' &&
        child.name !== 'LambdaExpression'
      ) {
        walk(child);
      }
    }
  };
  if (fn.body) walk(fn.body);
  return out;
}

export interface ReturnSyntax {
  node: SyntaxNode;
  /** End of the `return` keyword. */
  keywordEnd: number;
  /** The returned values; a parenthesized tuple `return (a, b)` lists the tuple's elements. */
  list: CommaList;
  /** True when `list` is the inside of a parenthesized tuple. */
  parenthesized: boolean;
  starred: boolean;
}

export function parseReturn(code: string, node: SyntaxNode): ReturnSyntax {
  const kids = childNodes(node);
  const keyword = kids.find((n) => n.name === 'return');
  const keywordEnd = keyword ? keyword.to : node.from;
  const rest = kids.filter((n) => n !== keyword);
  const list = splitCommaList(code, rest, keywordEnd, node.to);
  const only = list.items.length === 1 && !list.trailingComma ? list.items[0] : undefined;
  const tuple =
    only && only.nodes.length === 1 && only.nodes[0]?.name === 'TupleExpression' ? only.nodes[0] : null;
  if (tuple) {
    const tKids = childNodes(tuple);
    const open = tKids.find((n) => n.name === '(');
    const close = [...tKids].reverse().find((n) => n.name === ')');
    const inner = splitCommaList(
      code,
      tKids.filter((n) => n !== open && n !== close),
      open ? open.to : tuple.from,
      close ? close.from : tuple.to,
    );
    return {
      node,
      keywordEnd,
      list: inner,
      parenthesized: true,
      starred: inner.items.some((i) => i.nodes[0]?.name === '*'),
    };
  }
  return {
    node,
    keywordEnd,
    list,
    parenthesized: false,
    starred: list.items.some((i) => i.nodes[0]?.name === '*'),
  };
}

/**
 * The single expression node of a list item, or null when the item is starred or not one expression. Error
 * nodes are looked past, so that `return result $` (being typed) still returns `result`.
 */
export function itemExpression(item: ListItem): SyntaxNode | null {
  const nodes = item.nodes.filter((n) => !n.type.isError);
  return nodes.length === 1 ? (nodes[0] as SyntaxNode) : null;
}

/** True for `None`: returning it is the same as a bare `return`. */
export function isNoneReturn(code: string, ret: ReturnSyntax): boolean {
  if (ret.parenthesized || ret.list.items.length !== 1 || ret.list.trailingComma) return false;
  const expr = itemExpression(ret.list.items[0] as ListItem);
  return expr?.name === 'None';
}

// ---- names and scopes -------------------------------------------------------------------------------------

function isKeywordArgumentName(code: string, node: SyntaxNode): boolean {
  const next = node.nextSibling;
  return node.parent?.name === 'ArgList' && next?.name === 'AssignOp' && sourceOf(code, next) === '=';
}

/** Names bound by an assignment target (`a`, `a, b`, `[a, *b]`); `a.x` and `a[i]` bind nothing. */
function targetNames(code: string, node: SyntaxNode, out: Set<string>): void {
  if (node.name === 'VariableName') out.add(sourceOf(code, node));
  else if (
    node.name === 'TupleExpression' ||
    node.name === 'ArrayExpression' ||
    node.name === 'ParenthesizedExpression'
  ) {
    for (const child of childNodes(node)) targetNames(code, child, out);
  }
}

function isScope(node: SyntaxNode): boolean {
  return (
    node.name === 'FunctionDefinition' ||
    node.name === 'ClassDefinition' ||
    node.name === 'LambdaExpression' ||
    COMPREHENSIONS.has(node.name)
  );
}

/** Names a comprehension binds with its `for` clauses. */
function comprehensionTargets(code: string, node: SyntaxNode): Set<string> {
  const out = new Set<string>();
  let inTarget = false;
  for (const child of childNodes(node)) {
    if (child.name === 'for') inTarget = true;
    else if (child.name === 'in') inTarget = false;
    else if (inTarget) targetNames(code, child, out);
  }
  return out;
}

/** Names an import statement binds: `import a.b` binds a, `import a as b` b, `from m import a, b as c` a and c. */
function importBindings(code: string, statement: SyntaxNode, out: Set<string>): void {
  const kids = childNodes(statement);
  const isFrom = kids[0]?.name === 'from';
  let afterImport = !isFrom;
  kids.forEach((n, i) => {
    if (n.name === 'import') afterImport = true;
    if (n.name !== 'VariableName') return;
    if (kids[i - 1]?.name === 'as') out.add(sourceOf(code, n));
    else if (kids[i + 1]?.name === 'as') return;
    else if (isFrom && afterImport) out.add(sourceOf(code, n));
    else if (!isFrom && kids[i - 1]?.name !== '.') out.add(sourceOf(code, n));
  });
}

/** Names bound by import statements anywhere under `root`. */
export function importedNames(code: string, root: SyntaxNode): Set<string> {
  const out = new Set<string>();
  forEachDescendant(root, (node) => {
    if (node.name === 'ImportStatement') importBindings(code, node, out);
  });
  return out;
}

/** Names bound directly in a scope's own block (not in nested scopes), minus those declared nonlocal. */
export function scopeBindings(code: string, scope: SyntaxNode): Set<string> {
  const bound = new Set<string>();
  const nonlocal = new Set<string>();
  const walk = (node: SyntaxNode): void => {
    for (const child of childNodes(node)) {
      switch (child.name) {
        case 'FunctionDefinition':
        case 'ClassDefinition': {
          const name = childNodes(child).find((n) => n.name === 'VariableName');
          if (name) bound.add(sourceOf(code, name));
          break;
        }
        case 'LambdaExpression':
          break;
        case 'AssignStatement': {
          const kids = childNodes(child);
          const lastAssign = kids.map((n) => n.name === 'AssignOp').lastIndexOf(true);
          const annotated = kids.findIndex((n) => n.name === 'TypeDef');
          const targetsEnd =
            annotated >= 0 && (lastAssign < 0 || annotated < lastAssign) ? annotated : lastAssign;
          kids.slice(0, Math.max(targetsEnd, 0)).forEach((n) => targetNames(code, n, bound));
          kids.slice(Math.max(targetsEnd, 0)).forEach((n) => walkExpression(n));
          break;
        }
        case 'UpdateStatement': {
          const first = child.firstChild;
          if (first) targetNames(code, first, bound);
          walk(child);
          break;
        }
        case 'ForStatement': {
          let inTarget = false;
          for (const part of childNodes(child)) {
            if (part.name === 'for') inTarget = true;
            else if (part.name === 'in') inTarget = false;
            else if (inTarget) targetNames(code, part, bound);
            else walkExpression(part);
          }
          break;
        }
        case 'WithStatement':
        case 'TryStatement': {
          const kids = childNodes(child);
          kids.forEach((n, i) => {
            if (n.name === 'VariableName' && kids[i - 1]?.name === 'as') bound.add(sourceOf(code, n));
            else walkExpression(n);
          });
          break;
        }
        case 'ImportStatement':
          importBindings(code, child, bound);
          break;
        case 'DeleteStatement':
          childNodes(child).forEach((n) => targetNames(code, n, bound));
          break;
        case 'ScopeStatement': {
          const kids = childNodes(child);
          const names = kids.filter((n) => n.name === 'VariableName').map((n) => sourceOf(code, n));
          // `global x` means x is not the enclosing function's x either: treat it as bound here.
          if (kids[0]?.name === 'nonlocal') names.forEach((n) => nonlocal.add(n));
          else names.forEach((n) => bound.add(n));
          break;
        }
        default:
          walkExpression(child);
      }
    }
  };
  const walkExpression = (node: SyntaxNode): void => {
    if (isScope(node)) return;
    if (node.name === 'NamedExpression') {
      const first = node.firstChild;
      if (first) targetNames(code, first, bound);
    }
    if (node.name === 'ArgList') {
      childNodes(node).forEach((n, i, kids) => {
        const next = kids[i + 1];
        if (n.name === 'VariableName' && next?.name === 'AssignOp' && sourceOf(code, next) === ':=') {
          bound.add(sourceOf(code, n));
        }
      });
    }
    if (
      node.name === 'Body' ||
      node.name === 'IfStatement' ||
      node.name === 'WhileStatement' ||
      node.name === 'MatchStatement' ||
      node.name === 'MatchBody' ||
      node.name === 'MatchClause' ||
      node.name === 'StatementGroup' ||
      node.name === 'DecoratedStatement'
    ) {
      walk(node);
      return;
    }
    for (const child of childNodes(node)) walkExpression(child);
  };
  if (scope.name === 'FunctionDefinition') {
    const params = childNodes(scope).find((n) => n.name === 'ParamList');
    for (const p of params ? childNodes(params) : []) {
      if (p.name === 'VariableName' && p.prevSibling?.name !== 'AssignOp') bound.add(sourceOf(code, p));
    }
    const body = childNodes(scope).find((n) => n.name === 'Body');
    if (body) walk(body);
  } else if (scope.name === 'LambdaExpression') {
    const params = childNodes(scope).find((n) => n.name === 'ParamList');
    for (const p of params ? childNodes(params) : []) {
      if (p.name === 'VariableName' && p.prevSibling?.name !== 'AssignOp') bound.add(sourceOf(code, p));
    }
  } else if (scope.name === 'ClassDefinition') {
    const body = childNodes(scope).find((n) => n.name === 'Body');
    if (body) walk(body);
  } else if (COMPREHENSIONS.has(scope.name)) {
    comprehensionTargets(code, scope).forEach((n) => bound.add(n));
  }
  nonlocal.forEach((n) => bound.delete(n));
  return bound;
}

/**
 * Every place `name` refers to the same variable as in `root`'s scope: `root` is searched and nested scopes are
 * entered unless they bind `name` themselves. Keyword-argument names (`f(name=1)`) and attributes (`x.name`)
 * are other things and are left out.
 */
export function nameReferences(code: string, root: SyntaxNode, name: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const visit = (node: SyntaxNode): void => {
    for (const child of childNodes(node)) {
      if (child.name === 'VariableName') {
        if (sourceOf(code, child) === name && !isKeywordArgumentName(code, child)) out.push(child);
        continue;
      }
      // Names in imports are module paths and imported names, not uses of a variable.
      if (child.name === 'ImportStatement') continue;
      if (child.name === 'FunctionDefinition') {
        const kids = childNodes(child);
        const fnName = kids.find((n) => n.name === 'VariableName');
        if (fnName && sourceOf(code, fnName) === name) out.push(fnName);
        // Defaults and annotations are evaluated in the enclosing scope.
        const params = kids.find((n) => n.name === 'ParamList');
        for (const p of params ? childNodes(params) : []) {
          if (p.name !== 'VariableName' || p.prevSibling?.name === 'AssignOp') {
            if (p.name === 'VariableName') {
              if (sourceOf(code, p) === name) out.push(p);
            } else visit(p);
          }
        }
        const hint = kids.find((n) => n.name === 'TypeDef');
        if (hint) visit(hint);
        const body = kids.find((n) => n.name === 'Body');
        if (body && !scopeBindings(code, child).has(name)) visit(body);
        continue;
      }
      if (child.name === 'ClassDefinition') {
        const kids = childNodes(child);
        const clsName = kids.find((n) => n.name === 'VariableName');
        if (clsName && sourceOf(code, clsName) === name) out.push(clsName);
        const bases = kids.find((n) => n.name === 'ArgList');
        if (bases) visit(bases);
        const body = kids.find((n) => n.name === 'Body');
        if (body && !scopeBindings(code, child).has(name)) visit(body);
        continue;
      }
      if (child.name === 'LambdaExpression' || COMPREHENSIONS.has(child.name)) {
        if (!scopeBindings(code, child).has(name)) visit(child);
        continue;
      }
      visit(child);
    }
  };
  visit(root);
  return out;
}

/** Calls `visit` on every node under `root` (not `root` itself), in document order. */
export function forEachDescendant(root: SyntaxNode, visit: (node: SyntaxNode) => void): void {
  for (const child of childNodes(root)) {
    visit(child);
    forEachDescendant(child, visit);
  }
}

/** Every variable name used anywhere under `root`, nested scopes included (to avoid capturing one by a rename). */
export function allVariableNames(code: string, root: SyntaxNode): Set<string> {
  const names = new Set<string>();
  forEachDescendant(root, (node) => {
    if (node.name === 'VariableName' && !isKeywordArgumentName(code, node)) names.add(sourceOf(code, node));
  });
  return names;
}

/** `self.<attr>` property names in the methods of a class, for each method's own name for `self`. */
export function selfAttributeReferences(code: string, cls: ClassSyntax, attr: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (const method of cls.methods) {
    const selfName = method.self?.name;
    if (!selfName || !method.body) continue;
    forEachDescendant(method.body, (node) => {
      if (node.name !== 'MemberExpression') return;
      const [object, dot, prop] = childNodes(node);
      if (
        object?.name === 'VariableName' &&
        sourceOf(code, object) === selfName &&
        dot?.name === '.' &&
        prop?.name === 'PropertyName' &&
        sourceOf(code, prop) === attr
      ) {
        out.push(prop);
      }
    });
  }
  return out;
}

/** The indentation (spaces/tabs) of the line `pos` is on. */
export function lineIndent(code: string, pos: number): string {
  const start = lineStart(code, pos);
  return /^[ \t]*/.exec(code.slice(start))?.[0] ?? '';
}

export function lineStart(code: string, pos: number): number {
  let p = pos;
  while (p > 0 && code[p - 1] !== '\n' && code[p - 1] !== '\r') p--;
  return p;
}

/** The end of the line `pos` is on (at its line break, or the end of the code). */
export function lineEnd(code: string, pos: number): number {
  let p = pos;
  while (p < code.length && code[p] !== '\n' && code[p] !== '\r') p++;
  return p;
}

/** The end of a node's last line of content: trailing line breaks a node may include are left out. */
export function contentEnd(code: string, node: Span): number {
  let p = node.to;
  while (p > node.from && /\s/.test(code[p - 1] as string)) p--;
  return p;
}

/** The line break style the code already uses. */
export function newlineOf(code: string): string {
  return code.includes('\r\n') ? '\r\n' : '\n';
}
