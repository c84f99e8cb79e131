import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { TEST_PYTHON } from './temp-dir.js';

// A wheel is a zip with a dist-info folder (METADATA, WHEEL, RECORD with each file's sha256): written here with
// the standard library alone, so tests build one offline without setuptools or a build backend.
const WHEEL_SCRIPT = `import base64, hashlib, json, sys, zipfile
out, name, version, files = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
info = f"{name}-{version}.dist-info"
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: deepforge-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
record = []
path = f"{out}/{name}-{version}-py3-none-any.whl"
with zipfile.ZipFile(path, "w") as z:
    for p, text in files.items():
        data = text.encode()
        z.writestr(p, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
print(path)`;

/**
 * Writes a pure-Python wheel of `name` (a distribution and import name: letters, digits, underscores) into `dir`,
 * with `files` (path inside site-packages → text); returns the wheel's path. pip installs it with
 * `--no-index --find-links <dir>`.
 */
export async function buildTestWheel(
  dir: string,
  name: string,
  version: string,
  files: Record<string, string>,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const { stdout } = await promisify(execFile)(TEST_PYTHON, [
    '-I',
    '-c',
    WHEEL_SCRIPT,
    dir,
    name,
    version,
    JSON.stringify(files),
  ]);
  return stdout.trim();
}
