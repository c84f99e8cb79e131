import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), {
  // Only commands that read it touch process.stdin: creating it opens the terminal or pipe.
  get in() {
    return process.stdin;
  },
  out: process.stdout,
  err: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  exitCode: 0,
});
process.exitCode = code;
