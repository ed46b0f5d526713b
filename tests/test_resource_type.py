"""The type the pack judges is the type the resource registers: if they drifted, every policy would
skip every constraint and the gate would let everything through, which only an e2e test would see."""

import json
import subprocess
import sys

from fkguard.resource_properties import RESOURCE_TYPE
from fkguard_testing.scratch import PROJECT

# Pulumi's mocks are process-wide runtime state: the resource is built in a process of its own.
_REGISTER = """
import json, pulumi

registered = []

class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        registered.append([args.typ, args.name])
        return args.name + "-id", args.inputs

    def call(self, args):
        return {}

pulumi.runtime.set_mocks(Mocks(), project="fkguard", stack="unit", preview=True)

@pulumi.runtime.test
def build():
    from fkguard.catalog import load_catalog
    from resources.foreign_key import ForeignKeyConstraint
    return ForeignKeyConstraint(load_catalog()[0], False).urn.apply(lambda urn: registered.append(["urn", urn]))

build()
print(json.dumps(registered))
"""


def test_the_constraint_resource_registers_the_type_the_pack_and_stackstate_look_for():
    out = subprocess.run([sys.executable, "-c", _REGISTER], cwd=PROJECT, capture_output=True, text=True, check=True)
    registered = json.loads(out.stdout.strip().splitlines()[-1])
    assert [RESOURCE_TYPE, "fk_workflow_instances_config_version"] in registered
    [urn] = [value for kind, value in registered if kind == "urn"]
    assert urn.endswith(f"{RESOURCE_TYPE}::fk_workflow_instances_config_version")
