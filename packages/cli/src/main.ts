import { readCliVersion } from './version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  // Answered before the program is loaded: the commands' modules import the engine (~600 files).
  process.stdout.write(`${readCliVersion()}\n`);
} else {
  const { runCli } = await import('./program.js');
  process.exitCode = await runCli(argv, {
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
}
