/**
 * How deep attribute values may nest; deeper is refused with a clear error instead of a stack overflow. Its own
 * module so that reading Python code (python-literal.evaluator.ts) needs nothing of the model's schemas.
 */
export const JSON_MAX_DEPTH = 64;
