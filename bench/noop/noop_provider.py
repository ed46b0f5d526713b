"""The no-op dynamic resource of bench/noop, in a module of its own: Pulumi pickles a provider with
dill, by reference when its class lives in an importable module (as fkguard's providers do), by value
when it lives in __main__. By value, each of 1,000 resources carried the whole program's globals and
the pickling ended in a RecursionError. Copied beside the scratch project's __main__.py."""

from pulumi import dynamic


class NoOpProvider(dynamic.ResourceProvider):
    def create(self, props: dict) -> dynamic.CreateResult:
        return dynamic.CreateResult(props["name"], props)


class NoOp(dynamic.Resource, module="bench", name="NoOp"):
    def __init__(self, name: str, props: dict | None = None) -> None:
        super().__init__(NoOpProvider(), name, {"name": name, **(props or {})})
