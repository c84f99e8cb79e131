import { z } from 'zod';

/** The longest `file` of an artifact reference: longer paths are no file name any file system keeps. */
export const ARTIFACT_FILE_MAX_LENGTH = 1024;

/**
 * Why the `file` of an artifact reference is not a path inside the project's `artifacts/` folder, or undefined
 * when it is one. The one rule for every way a reference comes in (the project folder, a zip, the REST API) and
 * for the engine that reads the file: relative, `/`-separated, no `.`/`..`/empty parts, no `\`, no drive letter,
 * no control characters. The path is checked as written (no resolving), so it cannot leave the folder.
 */
export function artifactFileProblem(file: string): string | undefined {
  if (file === '') return 'must not be empty';
  if (file.length > ARTIFACT_FILE_MAX_LENGTH) return `must be at most ${ARTIFACT_FILE_MAX_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(file)) return 'must not contain control characters';
  if (file.startsWith('/') || /^[A-Za-z]:/.test(file)) {
    return 'must be a path relative to artifacts/, not an absolute path';
  }
  if (file.includes('\\')) return 'must separate folders with "/", not "\\"';
  if (file.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    return 'must be a path inside artifacts/: no "..", "." or empty parts';
  }
  return undefined;
}

/** The `file` of an artifact reference, with artifactFileProblem's message for a path that leaves artifacts/. */
export const ArtifactFileSchema = z.string().superRefine((file, ctx) => {
  const problem = artifactFileProblem(file);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** File extensions of the built-in serializers' formats (deepforge.serialization): what a download is named with. */
const SERIALIZER_EXTENSIONS: Readonly<Record<string, string>> = {
  pickle: '.pkl',
  'numpy.ndarray': '.npy',
};

/**
 * The file name a download of an artifact gets: its name, safe as one file name (no folders, quotes or control
 * characters), with the extension of its serializer's format (`.pkl` for pickle, `.npy` for numpy arrays, `.bin`
 * for a project's own serializer) unless the name ends with it already.
 */
export function artifactDownloadName(name: string, serializer: string): string {
  // eslint-disable-next-line no-control-regex
  const base = name.replace(/[\u0000-\u001f\u007f"\\/]+/g, '_').replace(/^\.+/, '') || 'artifact';
  const ext = Object.hasOwn(SERIALIZER_EXTENSIONS, serializer) ? SERIALIZER_EXTENSIONS[serializer]! : '.bin';
  return base.toLowerCase().endsWith(ext) ? base : `${base}${ext}`;
}
