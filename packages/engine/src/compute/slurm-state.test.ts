import { describe, expect, it } from 'vitest';
import { parseScontrolJob, slurmEnd } from './slurm-state.js';

/**
 * `scontrol show job -o` lines as the test Slurm (slurm-wlm 22.05) printed them, trimmed to the fields read. A
 * real time limit takes 60–90 s to hit (Slurm checks limits every 30 s, and --time counts whole minutes), too slow
 * for the suite: the TIMEOUT line was recorded from such a run (SlurmCompute, --time=1).
 */
const line = (fields: string): string =>
  `JobId=${fields} UserId=root(0) Dependency=(null) TRES=cpu=1,mem=256M,node=1,billing=1 Command=/tmp/j/job.sbatch`;

describe('slurmEnd', () => {
  it('reads scontrol -o output, first key wins', () => {
    expect(parseScontrolJob(line('7 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0'))).toMatchObject({
      JobId: '7',
      JobState: 'FAILED',
      ExitCode: '3:0',
      TRES: 'cpu=1,mem=256M,node=1,billing=1',
    });
  });

  it("takes COMPLETED and FAILED as the harness's own exit: its code, or the signal that killed it", () => {
    expect(slurmEnd(parseScontrolJob(line('1 JobState=COMPLETED Reason=None ExitCode=0:0')))).toEqual({
      code: 0,
      signal: null,
    });
    expect(slurmEnd(parseScontrolJob(line('2 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0')))).toEqual(
      {
        code: 3,
        signal: null,
      },
    );
    // A batch script killed by a signal: Slurm says JobLaunchFailure, the exit code says SIGKILL.
    expect(
      slurmEnd(parseScontrolJob(line('3 JobState=FAILED Reason=JobLaunchFailure ExitCode=0:9'))),
    ).toEqual({
      code: null,
      signal: 'SIGKILL',
    });
  });

  it("words every end that is Slurm's doing, with Slurm's own reason", () => {
    const end = (fields: string) => slurmEnd(parseScontrolJob(line(fields)));
    expect(end('1 JobState=TIMEOUT Reason=TimeLimit ExitCode=0:15 TimeLimit=00:01:00')).toEqual({
      code: null,
      signal: 'SIGTERM',
      endedBy: 'Slurm ended job 1: TIMEOUT (it reached its time limit of 00:01:00; reason TimeLimit)',
    });
    expect(end('4 JobState=CANCELLED Reason=None ExitCode=0:15').endedBy).toBe(
      'Slurm ended job 4: CANCELLED (cancelled outside DeepForge (scancel, or an administrator))',
    );
    expect(end('5 JobState=OUT_OF_MEMORY Reason=OutOfMemory ExitCode=0:125').endedBy).toBe(
      'Slurm ended job 5: OUT_OF_MEMORY (it used more memory than it was given (--mem); reason OutOfMemory)',
    );
    expect(end('6 JobState=PREEMPTED Reason=None ExitCode=0:15').endedBy).toBe(
      'Slurm ended job 6: PREEMPTED (a job of higher priority took its resources)',
    );
    expect(end('8 JobState=NODE_FAIL Reason=NodeDown ExitCode=0:0 NodeList=gpu07').endedBy).toBe(
      'Slurm ended job 8: NODE_FAIL (its node gpu07 failed; reason NodeDown)',
    );
    // A FAILED with a clean exit is not the harness's doing either.
    expect(end('9 JobState=FAILED Reason=Prolog ExitCode=0:0').endedBy).toBe(
      'Slurm ended job 9: FAILED (reason Prolog)',
    );
  });
});
