import type { SyntaxNode } from '@lezer/common';
import { JSON_MAX_DEPTH } from './json-limits.js';
import type { AttributeType, JsonValue } from './model.js';
import { childNodes, sourceOf } from './python-operation.syntax.js';
import { parsePythonStrict } from './python-source.limits.js';

/**
 * Python literals (what `ast.literal_eval` accepts, minus what JSON cannot hold) as JSON values: attribute
 * defaults in operation code, and `--set` values written the Python way.
 */

export type LiteralResult =
  | { ok: true; value: JsonValue; type: AttributeType }
  /** `type` is still known for some literals JSON cannot hold exactly (`10**100`-sized ints, `1e999`). */
  | { ok: false; type: AttributeType; reason: string };

const fail = (reason: string, type: AttributeType = 'any'): LiteralResult => ({ ok: false, type, reason });

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Decodes the escapes of a (non-raw) Python str literal body; null for escapes we cannot decode (`\N{…}`). */
function decodeEscapes(body: string): string | null {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[i + 1];
    if (next === undefined) return null;
    if (next === '\n') {
      i += 1;
      continue;
    }
    if (next === '\r') {
      i += body[i + 2] === '\n' ? 2 : 1;
      continue;
    }
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out += simple;
      i += 1;
      continue;
    }
    if (/[0-7]/.test(next)) {
      const digits = /^[0-7]{1,3}/.exec(body.slice(i + 1))?.[0] ?? '';
      out += String.fromCodePoint(parseInt(digits, 8));
      i += digits.length;
      continue;
    }
    const hexLength = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = body.slice(i + 2, i + 2 + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) return null;
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) return null;
      out += String.fromCodePoint(code);
      i += 1 + hexLength;
      continue;
    }
    if (next === 'N') return null;
    // Python keeps unknown escapes as they are, backslash included.
    out += ch;
  }
  return out;
}

function evaluateString(text: string): LiteralResult {
  const match = /^([a-zA-Z]*)('''|"""|'|")/.exec(text);
  if (!match) return fail('not a string literal');
  const prefix = (match[1] as string).toLowerCase();
  const quote = match[2] as string;
  if (prefix.includes('b')) return fail('bytes are not supported (not JSON)');
  if (prefix.includes('f')) return fail('f-strings are computed at run time');
  if (!text.endsWith(quote) || text.length < prefix.length + 2 * quote.length)
    return fail('unterminated string');
  const body = text.slice(prefix.length + quote.length, text.length - quote.length);
  if (prefix.includes('r')) return { ok: true, value: body, type: 'str' };
  const decoded = decodeEscapes(body);
  return decoded === null
    ? fail('unsupported escape sequence', 'str')
    : { ok: true, value: decoded, type: 'str' };
}

function evaluateNumber(text: string, negative: boolean): LiteralResult {
  const clean = text.replace(/_/g, '');
  if (/[jJ]$/.test(clean)) return fail('complex numbers are not supported');
  if (/^0[xXoObB]/.test(clean) || /^\d+$/.test(clean)) {
    if (/^0\d/.test(clean) && !/^0+$/.test(clean)) return fail('leading zeros are not allowed in Python 3');
    const big = BigInt(clean);
    const value = negative ? -big : big;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      return fail('integer too large to keep exactly', 'int');
    }
    return { ok: true, value: Number(value), type: 'int' };
  }
  const value = Number(clean);
  if (Number.isNaN(value)) return fail('not a number');
  if (!Number.isFinite(value)) return fail('float out of range (infinite)', 'float');
  const signed = negative ? -value : value;
  // -0.0 would print as 0 in JSON anyway; normalise so deep equality does not trip over it.
  return { ok: true, value: signed === 0 ? 0 : signed, type: 'float' };
}

function elementsOf(node: SyntaxNode, open: string, close: string): SyntaxNode[] | null {
  const kids = childNodes(node).filter((n) => n.name !== 'Comment');
  const inner = kids.filter((n) => n.name !== open && n.name !== close && n.name !== ',');
  if (inner.some((n) => n.name === '*' || n.name === '**' || n.type.isError)) return null;
  return inner;
}

/** Evaluates an expression node of `code` as a Python literal. */
export function evaluateLiteralNode(code: string, node: SyntaxNode): LiteralResult {
  return evaluateAt(code, node, 0);
}

/** Why a literal nested too deeply is not evaluated. */
export const LITERAL_TOO_DEEP = `nested deeper than ${JSON_MAX_DEPTH} levels`;

/**
 * `depth`: how many lists and dicts enclose `node`. One nested deeper than JSON_MAX_DEPTH is not a value
 * DeepForge can store or send (attribute values are checked against that depth), so it is not evaluated.
 */
function evaluateAt(code: string, node: SyntaxNode, depth: number): LiteralResult {
  const nested = ['ArrayExpression', 'TupleExpression', 'DictionaryExpression'].includes(node.name);
  if (nested && depth >= JSON_MAX_DEPTH) {
    return fail(LITERAL_TOO_DEEP, node.name === 'DictionaryExpression' ? 'dict' : 'list');
  }
  switch (node.name) {
    case 'Number':
      return evaluateNumber(sourceOf(code, node), false);
    case 'String':
      return evaluateString(sourceOf(code, node));
    case 'ContinuedString': {
      let value = '';
      for (const part of childNodes(node)) {
        if (part.name === 'Comment') continue;
        const r = evaluateAt(code, part, depth);
        if (!r.ok) return r;
        value += r.value as string;
      }
      return { ok: true, value, type: 'str' };
    }
    case 'FormatString':
      return fail('f-strings are computed at run time', 'str');
    case 'None':
      return { ok: true, value: null, type: 'none' };
    case 'Boolean':
      return { ok: true, value: sourceOf(code, node) === 'True', type: 'bool' };
    case 'UnaryExpression': {
      const kids = childNodes(node).filter((n) => n.name !== 'Comment');
      const [op, operand] = kids;
      if (kids.length !== 2 || op?.name !== 'ArithOp' || !operand) return fail('not a literal');
      const sign = sourceOf(code, op);
      let target: SyntaxNode = operand;
      while (target.name === 'ParenthesizedExpression') {
        const inner = elementsOf(target, '(', ')');
        if (!inner || inner.length !== 1) return fail('not a literal');
        target = inner[0] as SyntaxNode;
      }
      if (target.name === 'Number') return evaluateNumber(sourceOf(code, target), sign === '-');
      if (target.name === 'UnaryExpression') {
        const r = evaluateAt(code, target, depth);
        if (!r.ok || typeof r.value !== 'number' || (r.type !== 'int' && r.type !== 'float')) {
          return fail('not a literal');
        }
        const value = sign === '-' ? -r.value : r.value;
        return { ok: true, value: value === 0 ? 0 : value, type: r.type };
      }
      return fail('not a literal');
    }
    case 'ParenthesizedExpression': {
      const inner = elementsOf(node, '(', ')');
      if (!inner || inner.length !== 1) return fail('not a literal');
      return evaluateAt(code, inner[0] as SyntaxNode, depth);
    }
    case 'ArrayExpression':
    case 'TupleExpression': {
      const inner = node.name === 'ArrayExpression' ? elementsOf(node, '[', ']') : elementsOf(node, '(', ')');
      if (!inner) return fail('starred elements are computed at run time');
      const values: JsonValue[] = [];
      for (const element of inner) {
        const r = evaluateAt(code, element, depth + 1);
        if (!r.ok) return fail(r.reason);
        values.push(r.value);
      }
      return { ok: true, value: values, type: 'list' };
    }
    case 'DictionaryExpression': {
      const kids = childNodes(node).filter((n) => n.name !== 'Comment' && n.name !== '{' && n.name !== '}');
      if (kids.some((n) => n.name === '**' || n.type.isError))
        return fail('`**` in a dict is computed at run time');
      const entries: [string, JsonValue][] = [];
      let i = 0;
      while (i < kids.length) {
        const key = kids[i];
        const colon = kids[i + 1];
        const value = kids[i + 2];
        if (!key || colon?.name !== ':' || !value) return fail('not a literal');
        const k = evaluateAt(code, key, depth + 1);
        if (!k.ok || typeof k.value !== 'string')
          return fail('only dicts with string keys are supported (JSON)');
        const v = evaluateAt(code, value, depth + 1);
        if (!v.ok) return fail(v.reason);
        entries.push([k.value, v.value]);
        i += 3;
        if (kids[i]?.name === ',') i += 1;
      }
      // fromEntries defines own properties, so a `__proto__` key stays data instead of changing the prototype.
      return { ok: true, value: Object.fromEntries(new Map(entries)), type: 'dict' };
    }
    case 'SetExpression':
      return fail('sets are not supported (not JSON)');
    default:
      return fail('not a literal');
  }
}

/** Parses `source` as one Python expression; null when it is not exactly one well-formed expression. */
export function parseExpression(
  source: string,
): { code: string; node: SyntaxNode; elements: SyntaxNode[] } | null {
  const code = source.trim();
  if (code === '') return null;
  // Strict: an expression with any syntax error is refused, so lezer need not spend time recovering.
  const tree = parsePythonStrict(code);
  if (!tree) return null;
  const statements = childNodes(tree.topNode).filter((n) => n.name !== 'Comment');
  const statement = statements[0];
  if (statements.length !== 1 || statement?.name !== 'ExpressionStatement') return null;
  const kids = childNodes(statement).filter((n) => n.name !== 'Comment');
  const elements = kids.filter((n) => n.name !== ',');
  if (elements.length === 0) return null;
  return { code, node: statement, elements };
}

/** Evaluates Python literal source text (`1e-3`, `(1, 28, 28)`, `{'a': [True, None]}`, `1, 2`). */
export function evaluatePythonLiteral(source: string): LiteralResult {
  const parsed = parseExpression(source);
  if (!parsed) return fail('not a valid Python expression');
  const { code, node, elements } = parsed;
  const bareTuple = childNodes(node).some((n) => n.name === ',');
  if (!bareTuple) return evaluateLiteralNode(code, elements[0] as SyntaxNode);
  const values: JsonValue[] = [];
  for (const element of elements) {
    const r = evaluateAt(code, element, 1);
    if (!r.ok) return fail(r.reason);
    values.push(r.value);
  }
  return { ok: true, value: values, type: 'list' };
}

function pythonString(value: string): string {
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/**
 * Writes a JSON value as Python source, the inverse of `evaluatePythonLiteral` (for the operation editor,
 * which sets defaults from values). `type: 'float'` keeps integral floats floats (`1.0`).
 */
export function toPythonLiteral(value: JsonValue, type?: AttributeType): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return pythonString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`${value} has no Python literal`);
    const text = String(value);
    return type === 'float' && /^-?\d+$/.test(text) ? `${text}.0` : text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => toPythonLiteral(v)).join(', ')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${pythonString(k)}: ${toPythonLiteral(v)}`)
    .join(', ')}}`;
}
