/** Hard keywords of Python 3: they can never be names. Soft keywords (`match`, `case`, `type`, `_`) can. */
export const PYTHON_KEYWORDS: ReadonlySet<string> = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield',
]);

// ASCII only, like IdentifierSchema in model.ts: names end up in file names, URLs and `--set` options.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The longest name of an operation, module, node, port or attribute. Names become file names with suffixes
 * (`operations/<Name>.environment.yml`) inside folders named after them, and URL path segments: 100 keeps every
 * one of them far below the 255 bytes file systems allow.
 */
export const NAME_MAX_LENGTH = 100;

export function isPythonIdentifier(name: string): boolean {
  return name.length <= NAME_MAX_LENGTH && IDENTIFIER.test(name) && !PYTHON_KEYWORDS.has(name);
}

/** Why `name` cannot be used as a Python name, or null when it can. */
export function identifierProblem(name: string): string | null {
  if (name === '') return 'a name must not be empty';
  if (name.length > NAME_MAX_LENGTH) {
    return `a name must be at most ${NAME_MAX_LENGTH} characters (this one has ${name.length})`;
  }
  if (PYTHON_KEYWORDS.has(name)) return `"${name}" is a Python keyword`;
  if (!IDENTIFIER.test(name)) {
    return `"${name}" is not a valid Python identifier (letters, digits, underscore; not starting with a digit)`;
  }
  return null;
}
