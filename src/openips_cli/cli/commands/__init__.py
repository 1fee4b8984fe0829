"""One module per ``openips`` command group; each ``cmd_*(args, client_factory, out)`` returns the exit code."""
