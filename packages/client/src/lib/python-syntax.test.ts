import { describe, expect, it } from 'vitest';
import { serializerTemplate, utilTemplate } from '../modules/module-templates.js';
import { pythonSyntaxDiagnostics } from './python-syntax.js';

describe('pythonSyntaxDiagnostics', () => {
  it('finds nothing in valid code, including the templates', () => {
    expect(pythonSyntaxDiagnostics('def f(x):\n    return x\n')).toEqual([]);
    expect(pythonSyntaxDiagnostics(serializerTemplate('my_format'))).toEqual([]);
    expect(pythonSyntaxDiagnostics(utilTemplate('strings'))).toEqual([]);
  });
  it('reports the line of a syntax error', () => {
    const [d] = pythonSyntaxDiagnostics('x = 1\ndef f(:\n    pass\n');
    expect(d?.line).toBe(2);
  });
  it("stays within core's bounds on pathological modules", () => {
    const garbage = pythonSyntaxDiagnostics('-:'.repeat(100_000));
    expect(garbage).toHaveLength(2);
    expect(garbage[1]).toMatchObject({ severity: 'error', code: 'too-many-syntax-errors', line: 1 });
    expect(pythonSyntaxDiagnostics(`x = ${'('.repeat(200_000)}`)).toEqual([
      {
        severity: 'error',
        code: 'nesting-too-deep',
        message: 'brackets nested deeper than 100 levels at line 1, column 105',
        line: 1,
        column: 105,
      },
    ]);
    expect(pythonSyntaxDiagnostics('x = 1\n'.repeat(200_000))).toEqual([
      {
        severity: 'warning',
        code: 'code-too-large',
        message: 'the module is 1172 KiB, larger than the 1024 KiB limit: its syntax is not checked here',
      },
    ]);
  });
  it('the serializer template registers with deepforge.serialization.register', () => {
    expect(serializerTemplate('my_format')).toContain(
      'deepforge.serialization.register(MyFormat, dump, load)',
    );
    expect(serializerTemplate('2d')).toContain('class C2d:');
  });
});
