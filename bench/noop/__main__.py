"""The yardstick of bench/scale.py: N dynamic resources whose provider does nothing, in the same
engine, backend and language host as fkguard's program. What fkguard's constraints cost beyond
this is fkguard's doing; the rest is Pulumi's. Copied over a scratch project's __main__.py."""

import pulumi
from pulumi import dynamic


class NoOpProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(props["name"], props)


class NoOp(dynamic.Resource, module="bench", name="NoOp"):
    def __init__(self, name: str) -> None:
        super().__init__(NoOpProvider(), name, {"name": name})


for i in range(int(pulumi.Config("bench").require("resources"))):
    NoOp(f"noop-{i}")
