/** The session cookie's name (auth-api.ts), in a module of its own: the CLI reads it without the API's schemas. */
export const SESSION_COOKIE = 'deepforge_session';
