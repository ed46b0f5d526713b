"""The yardstick of bench/scale.py: N dynamic resources whose provider does nothing, in the same
engine, backend and language host as fkguard's program. What fkguard's constraints cost beyond
this is fkguard's doing; the rest is Pulumi's. Copied over a scratch project's __main__.py, with
noop_provider.py beside it (the provider pickled by reference, as fkguard's are)."""

import pulumi
from noop_provider import NoOp

for i in range(int(pulumi.Config("bench").require("resources"))):
    NoOp(f"noop-{i}")
