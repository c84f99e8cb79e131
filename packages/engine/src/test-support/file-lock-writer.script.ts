// A second process for file-lock.test.ts: adds its name to a JSON list file `times` times, each a read, a pause
// and a write under withFileLock, as the CLI changes its shared files.
import { readFile, writeFile } from 'node:fs/promises';
import { withFileLock } from '../file-lock.js';

const [file, name, times] = process.argv.slice(2);
for (let i = 0; i < Number(times); i++) {
  await withFileLock(file!, async () => {
    const list = JSON.parse(await readFile(file!, 'utf8').catch(() => '[]')) as string[];
    await new Promise((r) => setTimeout(r, 2));
    list.push(`${name}-${i}`);
    await writeFile(file!, JSON.stringify(list));
  });
}
