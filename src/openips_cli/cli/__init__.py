"""The ``openips`` command line, one module per concern (the entry point is ``openips_cli.main``).

Lower modules never import higher ones:

* ``errors``    — bad input (``UsageError``) and the exit codes every command answers with;
* ``terminal``  — what a person sees and where it goes: escaping (``printable``), stdout for
  results, stderr for chatter, plain lines on a pipe, rich tables and live displays on a terminal;
* ``files``     — what an upload sends: the options file and the walk of PATHs;
* ``transfer``  — sending the files to the job's presigned form in parallel, with their progress;
* ``follow``    — following a job until it ends: its error and warning rows, its live counts;
* ``commands``  — one module per command group (``upload``, ``jobs``, ``assets``, ``admin``,
  ``local_stack``), each a ``cmd_*(args, client_factory, out) -> exit code``;
* ``arguments`` — the argparse definition of the whole command line.
"""
