import { Tree } from '@lezer/common';
import { parser } from '@lezer/python';
import { lineColumn } from './source-lines.js';

/**
 * Bounds on the Python code DeepForge reads (operation code, attribute values), so that reading any input takes
 * bounded time and memory, in the server and in the browser alike.
 *
 * Lezer's cost is linear but its constant is not: correct code costs 1–4 µs a character, while error recovery
 * costs 50–600 µs a step (`-:-:-:…` takes 6 s for 16 KiB), and a chain of some 4,000 calls (`a()()()…`) makes it
 * recurse out of stack. So the text is checked cheaply first (size, bracket nesting), lezer is then run step by
 * step with a budget on error recovery, and the tree it gives must not nest deeper than the recursive walks of
 * the interface parser can go. Python itself refuses much less: 200 nested brackets ("too many nested
 * parentheses"), 100 indentation levels, about 3,000 chained operators ("maximum recursion depth exceeded
 * during compilation").
 */

/** The largest operation code read, in UTF-8 bytes: some 40 times the largest example operation. */
export const OPERATION_CODE_MAX_BYTES = 128 * 1024;
/** How deep brackets (`(`, `[`, `{`) may nest; CPython refuses 200. */
export const BRACKET_MAX_DEPTH = 100;
/** How deep the syntax tree may nest (chained operators and calls, nested blocks): what tree walks recurse on. */
export const SYNTAX_TREE_MAX_DEPTH = 1000;
/**
 * Parser steps spent recovering from syntax errors before reading stops: about 150 lines with errors (an error
 * takes some 7 steps), at most a few hundred milliseconds however the errors are made.
 */
export const SYNTAX_RECOVERY_MAX_STEPS = 1000;

export type SourceProblemCode =
  'code-too-large' | 'nesting-too-deep' | 'too-many-syntax-errors' | 'code-too-complex';

/** Why code was not read (or read only up to `at`). `line` and `column` are 1-based, where known. */
export interface SourceProblem {
  code: SourceProblemCode;
  message: string;
  line?: number;
  column?: number;
}

/** The UTF-8 size of a string (a lone surrogate counts 3 bytes, as its replacement character does). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const kib = (bytes: number): string => `${Math.ceil(bytes / 1024)} KiB`;

function isIdentifierChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 0x80;
}

/** True when the quote at `quoteAt` opens an f-string: its prefix (up to 2 letters, e.g. `rf`) has an f. */
function isFormatString(code: string, quoteAt: number): boolean {
  let start = quoteAt;
  while (start > 0 && quoteAt - start < 3 && isIdentifierChar(code.charCodeAt(start - 1))) start--;
  const prefix = code.slice(start, quoteAt);
  return prefix.length <= 2 && /^[rRbBuUfFtT]*$/.test(prefix) && /[fF]/.test(prefix);
}

/**
 * The deepest bracket nesting, checked in one pass without a parser: strings and comments are skipped, except
 * the brackets inside f-strings (their replacement fields are expressions), which count until the string ends.
 * Returns where nesting first goes past `max`, or null.
 */
export function bracketNestingProblem(
  code: string,
  max = BRACKET_MAX_DEPTH,
): { line: number; column: number } | null {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  const n = code.length;
  const newlineAt = (i: number): number => {
    // Returns the index of the last character of the line break at i.
    const end = code.charCodeAt(i) === 13 && code.charCodeAt(i + 1) === 10 ? i + 1 : i;
    line++;
    lineStart = end + 1;
    return end;
  };
  for (let i = 0; i < n; i++) {
    const c = code.charCodeAt(i);
    if (c === 10 || c === 13) {
      i = newlineAt(i);
    } else if (c === 35 /* # */) {
      while (i + 1 < n && code.charCodeAt(i + 1) !== 10 && code.charCodeAt(i + 1) !== 13) i++;
    } else if (c === 40 || c === 91 || c === 123 /* ( [ { */) {
      if (++depth > max) return { line, column: i - lineStart + 1 };
    } else if (c === 41 || c === 93 || c === 125 /* ) ] } */) {
      if (depth > 0) depth--;
    } else if (c === 34 || c === 39 /* " ' */) {
      const triple = code.charCodeAt(i + 1) === c && code.charCodeAt(i + 2) === c;
      const format = isFormatString(code, i);
      const outer = depth;
      let j = i + (triple ? 3 : 1);
      for (; j < n; j++) {
        const s = code.charCodeAt(j);
        if (s === 92 /* \ */) {
          const next = code.charCodeAt(j + 1);
          if (next === 10 || next === 13) j = newlineAt(j + 1);
          else j++;
        } else if (s === 10 || s === 13) {
          if (!triple) break; // an unterminated string ends with its line
          j = newlineAt(j);
        } else if (s === c && (!triple || (code.charCodeAt(j + 1) === c && code.charCodeAt(j + 2) === c))) {
          if (triple) j += 2;
          break;
        } else if (format) {
          if ((s === 123 || s === 125) && code.charCodeAt(j + 1) === s)
            j++; // {{ and }} are literal
          else if (s === 40 || s === 91 || s === 123) {
            if (++depth > max) return { line, column: j - lineStart + 1 };
          } else if ((s === 41 || s === 93 || s === 125) && depth > outer) depth--;
        }
      }
      depth = outer;
      // At a line break that ended an unterminated string, the outer loop counts the line.
      i = j < n && (code.charCodeAt(j) === 10 || code.charCodeAt(j) === 13) ? j - 1 : j;
    }
  }
  return null;
}

export interface SourceLimitOptions {
  /** What the code is, for messages: "operation code". */
  subject?: string;
  /** OPERATION_CODE_MAX_BYTES unless given (utils modules, checked in the browser, may be larger). */
  maxBytes?: number;
}

/** What makes `code` too big or too nested to hand to the parser, checked in linear time; null when it is fine. */
export function sourceLimitProblem(code: string, options: SourceLimitOptions = {}): SourceProblem | null {
  const { subject = 'the code', maxBytes = OPERATION_CODE_MAX_BYTES } = options;
  // A UTF-16 code unit is at least one UTF-8 byte: longer text is too large without counting.
  const bytes = code.length > maxBytes ? code.length : utf8Length(code);
  if (bytes > maxBytes) {
    const advice =
      maxBytes === OPERATION_CODE_MAX_BYTES
        ? ': keep large data in artifacts and helpers in utils/ modules'
        : '';
    return {
      code: 'code-too-large',
      message: `${subject} is ${kib(utf8Length(code))}, larger than the ${kib(maxBytes)} limit${advice}`,
    };
  }
  const deep = bracketNestingProblem(code);
  if (deep) {
    return {
      code: 'nesting-too-deep',
      message: `brackets nested deeper than ${BRACKET_MAX_DEPTH} levels at line ${deep.line}, column ${deep.column}`,
      ...deep,
    };
  }
  return null;
}

export interface BoundedParse {
  /**
   * The syntax tree: all of the code, or with `too-many-syntax-errors` the part read before giving up. Empty
   * when the code was not read (too large, too nested, too complex).
   */
  tree: Tree;
  problem: SourceProblem | null;
}

/** Where the tree first nests deeper than `max` (iteratively: the tree may be far deeper than the stack). */
function tooDeepAt(tree: Tree, max: number): number | null {
  let depth = 0;
  let at: number | null = null;
  tree.iterate({
    enter: (node) => {
      if (at !== null) return false;
      if (++depth > max) {
        at = node.from;
        depth--;
        return false;
      }
      return undefined;
    },
    leave: () => {
      depth--;
    },
  });
  return at;
}

/** Lezer's parse state: how many steps it still means to spend recovering (not in its typings). */
function isRecovering(parse: unknown): boolean {
  const recovering = (parse as { recovering?: unknown }).recovering;
  return typeof recovering === 'number' && recovering > 0;
}

/**
 * Parses Python within the limits above. Lezer is driven step by step: once it has spent
 * SYNTAX_RECOVERY_MAX_STEPS steps recovering from errors, it is told to stop where it is, and the tree of what
 * it read comes with a `too-many-syntax-errors` problem.
 */
export function parsePythonBounded(code: string, options: SourceLimitOptions = {}): BoundedParse {
  const { subject = 'the code' } = options;
  const refused = sourceLimitProblem(code, options);
  if (refused) return { tree: Tree.empty, problem: refused };
  let tree: Tree | null = null;
  let stoppedAt: number | null = null;
  let deepAt: number | null;
  try {
    const parse = parser.startParse(code);
    let recoverySteps = 0;
    while (!tree) {
      if (stoppedAt === null && isRecovering(parse) && ++recoverySteps > SYNTAX_RECOVERY_MAX_STEPS) {
        stoppedAt = parse.parsedPos;
        parse.stopAt(stoppedAt);
      }
      tree = parse.advance();
    }
    deepAt = tooDeepAt(tree, SYNTAX_TREE_MAX_DEPTH);
  } catch {
    // Lezer builds parts of its tree recursively (some on first iteration): a chain of thousands of calls or
    // subscripts can overflow the stack. The depth check above makes that unlikely; this is the backstop.
    return {
      tree: Tree.empty,
      problem: {
        code: 'code-too-complex',
        message: `${subject} is too complex to read: it chains or nests expressions too deeply`,
      },
    };
  }
  if (deepAt !== null) {
    const at = lineColumn(code, deepAt);
    return {
      tree: Tree.empty,
      problem: {
        code: 'nesting-too-deep',
        message: `code nested deeper than ${SYNTAX_TREE_MAX_DEPTH} levels (chained operators, calls or blocks) at line ${at.line}, column ${at.column}`,
        ...at,
      },
    };
  }
  if (stoppedAt !== null) {
    const at = lineColumn(code, stoppedAt);
    return {
      tree,
      problem: {
        code: 'too-many-syntax-errors',
        message: `too many syntax errors: stopped reading at line ${at.line}, column ${at.column}`,
        ...at,
      },
    };
  }
  return { tree, problem: null };
}

let strictParser: typeof parser | undefined;

/**
 * Parses Python that must have no syntax error at all (an attribute value, an expression typed in a form):
 * lezer's strict mode gives up at the first error instead of recovering, so the cost stays that of correct
 * code. Null on any error, and for code past the limits.
 */
export function parsePythonStrict(code: string, options: SourceLimitOptions = {}): Tree | null {
  if (sourceLimitProblem(code, options)) return null;
  strictParser ??= parser.configure({ strict: true });
  try {
    const tree = strictParser.parse(code);
    return tooDeepAt(tree, SYNTAX_TREE_MAX_DEPTH) === null ? tree : null;
  } catch {
    // SyntaxError at the first error; a RangeError should the tree still be too deep to build.
    return null;
  }
}
