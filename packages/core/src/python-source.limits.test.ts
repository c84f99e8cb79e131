import { describe, expect, it } from 'vitest';
import { JSON_MAX_DEPTH } from './model.js';
import { OPERATION_MAX_DIAGNOSTICS, parseOperationSource } from './python-interface.parser.js';
import { evaluatePythonLiteral } from './python-literal.evaluator.js';
import {
  BRACKET_MAX_DEPTH,
  bracketNestingProblem,
  OPERATION_CODE_MAX_BYTES,
  parsePythonBounded,
  sourceLimitProblem,
  SYNTAX_TREE_MAX_DEPTH,
  utf8Length,
} from './python-source.limits.js';
import { LineIndex, lineColumn } from './source-lines.js';
import { GEN_ARRAY, PRED_VIS, SCATTER_3D_PLOTS, TRAIN_VALIDATE } from './seed-operations.fixture.js';

const op = (init: string, execute = 'return 1'): string =>
  `class Op:\n    def __init__(self${init}):\n        pass\n\n    def execute(self):\n        ${execute}\n`;

const nested = (depth: number, open = '(', close = ')'): string => open.repeat(depth) + close.repeat(depth);

describe('bracket nesting, counted without a parser', () => {
  it('allows the limit and names the line and column of the first bracket past it', () => {
    expect(bracketNestingProblem(`x = ${nested(BRACKET_MAX_DEPTH)}`)).toBeNull();
    expect(bracketNestingProblem(`a = 1\nb = 2\nx = ${nested(BRACKET_MAX_DEPTH + 1, '[', ']')}`)).toEqual({
      line: 3,
      column: 5 + BRACKET_MAX_DEPTH,
    });
  });

  it('counts every kind of bracket, across lines, and does not go below zero on stray closers', () => {
    const mixed = '([{'.repeat(34); // 102 levels
    expect(bracketNestingProblem(`x = ${mixed}`)).not.toBeNull();
    expect(bracketNestingProblem(`x = (\n`.repeat(BRACKET_MAX_DEPTH + 1))).toEqual({
      line: BRACKET_MAX_DEPTH + 1,
      column: 5,
    });
    expect(bracketNestingProblem(`${')'.repeat(500)}\nx = ${nested(BRACKET_MAX_DEPTH)}`)).toBeNull();
  });

  it('skips strings and comments, whatever they hold', () => {
    const deep = '('.repeat(500);
    expect(bracketNestingProblem(`x = "${deep}"\ny = '${deep}'  # ${deep}`)).toBeNull();
    expect(bracketNestingProblem(`x = """\n${deep}\n"""\ny = r'\\'${deep}'`)).toBeNull();
    expect(bracketNestingProblem(`x = b"\\"${deep}"`)).toBeNull();
    // An unterminated string ends with its line: the brackets after it count.
    expect(bracketNestingProblem(`x = "abc\ny = ${deep}`)).toEqual({ line: 2, column: 105 });
  });

  it('counts the brackets of f-string replacement fields, not doubled braces', () => {
    expect(bracketNestingProblem(`x = f"{${nested(BRACKET_MAX_DEPTH)}}"`)).not.toBeNull();
    expect(bracketNestingProblem(`x = rf"{${nested(BRACKET_MAX_DEPTH - 1)}}"`)).toBeNull();
    expect(bracketNestingProblem(`x = f"${'{{'.repeat(300)}"`)).toBeNull();
    // Brackets an f-string leaves open do not outlive it.
    expect(bracketNestingProblem(`x = f"{((("\n`.repeat(200))).toBeNull();
  });

  it('counts lines the way lineColumn does (\\r\\n, \\r, \\n)', () => {
    expect(bracketNestingProblem(`a\r\nb\rc\n${'['.repeat(BRACKET_MAX_DEPTH + 1)}`)).toEqual({
      line: 4,
      column: BRACKET_MAX_DEPTH + 1,
    });
  });
});

describe('source limits', () => {
  it('measures code in UTF-8 bytes', () => {
    expect(utf8Length('aé€😀')).toBe(1 + 2 + 3 + 4);
    const ascii = 'x'.repeat(OPERATION_CODE_MAX_BYTES);
    expect(sourceLimitProblem(ascii)).toBeNull();
    expect(sourceLimitProblem(`${ascii}x`)?.code).toBe('code-too-large');
    // 50,000 characters of 3 bytes each: within the length, over the size.
    expect(sourceLimitProblem('€'.repeat(50_000), { subject: 'operation code' })).toEqual({
      code: 'code-too-large',
      message: expect.stringMatching(/^operation code is 147 KiB, larger than the 128 KiB limit/),
    });
  });

  it('stops reading after too many syntax errors, with the tree of what it read', () => {
    const garbage = '-:'.repeat(20_000);
    const r = parsePythonBounded(garbage);
    expect(r.problem).toMatchObject({ code: 'too-many-syntax-errors', line: 1 });
    expect(r.problem?.message).toMatch(/^too many syntax errors: stopped reading at line 1, column \d+$/);
    expect(r.tree.length).toBeGreaterThan(0);
    expect(r.tree.length).toBeLessThan(garbage.length);
  });

  it('refuses syntax trees nested deeper than the walks may recurse', () => {
    const chain = `x = a${'()'.repeat(SYNTAX_TREE_MAX_DEPTH + 500)}`;
    expect(parsePythonBounded(`y = 1\n${chain}`).problem).toMatchObject({
      code: 'nesting-too-deep',
      line: 2,
      message: expect.stringMatching(/^code nested deeper than 1000 levels .* at line 2, column \d+$/),
    });
    expect(parsePythonBounded(`x = ${'-'.repeat(3000)}1`).problem?.code).toBe('nesting-too-deep');
    expect(parsePythonBounded(`x = a${'()'.repeat(200)}`).problem).toBeNull();
  });
});

describe('operation code past the limits', () => {
  it('gets an error diagnostic and no interface, for 1 MB of "("', () => {
    const r = parseOperationSource('('.repeat(1024 * 1024), { className: 'Op' });
    expect(r.interface).toBeNull();
    expect(r.diagnostics).toEqual([
      {
        severity: 'error',
        code: 'code-too-large',
        message: expect.stringMatching(/^operation code is 1024 KiB, larger than the 128 KiB limit/),
        operation: 'Op',
      },
    ]);
  });

  it('names where brackets nest too deep (64k nested brackets, a deep default)', () => {
    const r = parseOperationSource(nested(32 * 1024), { className: 'Op' });
    expect(r.interface).toBeNull();
    expect(r.diagnostics).toEqual([
      {
        severity: 'error',
        code: 'nesting-too-deep',
        message: 'brackets nested deeper than 100 levels at line 1, column 101',
        operation: 'Op',
        line: 1,
        column: 101,
      },
    ]);
    // 99 brackets after the one of `__init__(`.
    const deepDefault = parseOperationSource(op(`, x=${nested(5000, '[', ']')}`));
    expect(deepDefault.interface).toBeNull();
    expect(deepDefault.diagnostics.map((d) => [d.code, d.line, d.column])).toEqual([
      ['nesting-too-deep', 2, 125],
    ]);
  });

  it('reads a default nested as deep as brackets may, but keeps no value deeper than JSON can be', () => {
    const within = parseOperationSource(op(`, x=${nested(JSON_MAX_DEPTH, '[', ']')}`));
    expect(within.diagnostics).toEqual([]);
    expect(within.interface?.attributes[0]?.default).toBeDefined();
    const deeper = parseOperationSource(op(`, x=${nested(BRACKET_MAX_DEPTH - 1, '[', ']')}`));
    expect(deeper.interface?.attributes[0]).toMatchObject({ name: 'x', type: 'any', default: undefined });
    expect(deeper.diagnostics).toMatchObject([
      {
        severity: 'warning',
        code: 'default-too-deep',
        message: `__init__: the default of "x" is nested deeper than ${JSON_MAX_DEPTH} levels: it is not read as a value`,
        line: 2,
      },
    ]);
  });

  it('lists at most OPERATION_MAX_DIAGNOSTICS diagnostics and counts the rest', () => {
    const r = parseOperationSource(op(', a'.repeat(500)));
    expect(r.diagnostics).toHaveLength(OPERATION_MAX_DIAGNOSTICS);
    expect(r.diagnostics.at(-1)).toEqual({
      severity: 'error',
      code: 'more-diagnostics',
      message: '400 more problems (400 errors) not listed: fix the ones above first',
      operation: 'Op',
    });
  });

  it('reads long runs of spaces in hints and parameters in linear time, as before', () => {
    const spaces = ' '.repeat(40_000);
    const r = parseOperationSource(
      `class Op:\n    def execute(self, x: Dict[str,${spaces}\n  int${spaces}], *${spaces}args: int):\n        return x\n`,
    );
    expect(r.interface?.inputs[0]?.type).toBe('Dict[str, int]');
    expect(r.diagnostics.map((d) => d.message)).toEqual([
      `execute: "*${spaces}args" is not supported: DeepForge passes each input by name, so every parameter must be named`,
    ]);
  });

  it('leaves the seed operations as they were', () => {
    for (const code of [GEN_ARRAY, PRED_VIS, SCATTER_3D_PLOTS, TRAIN_VALIDATE]) {
      expect(parsePythonBounded(code).problem).toBeNull();
      expect(parseOperationSource(code).interface).not.toBeNull();
    }
  });
});

describe('attribute values past the limits', () => {
  it('are not literals', () => {
    expect(evaluatePythonLiteral(nested(JSON_MAX_DEPTH, '[', ']')).ok).toBe(true);
    expect(evaluatePythonLiteral(nested(JSON_MAX_DEPTH + 1, '[', ']'))).toEqual({
      ok: false,
      type: 'any',
      reason: 'nested deeper than 64 levels',
    });
    expect(evaluatePythonLiteral(nested(100_000, '[', ']'))).toMatchObject({ ok: false });
    expect(evaluatePythonLiteral(`${'-'.repeat(5000)}1`)).toMatchObject({ ok: false });
  });
});

describe('LineIndex', () => {
  it('answers as lineColumn does, line breaks of every kind included', () => {
    const text = 'ab\r\ncd\re\n\nf\r\n\r\rgh';
    const index = new LineIndex(text);
    for (let offset = -1; offset <= text.length + 1; offset++) {
      expect(index.at(offset)).toEqual(lineColumn(text, offset));
    }
  });
});
