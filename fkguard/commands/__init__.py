"""The fkguard commands, one module each (as pgroll's cmd/): `add_parser(subparsers)` declares the command's
arguments beside the code that reads them, and `run(args)` prints what a core function returns and gives the
exit code. fkguard.cli only wires them into one parser."""
