"""The pack's yardstick: as many policies as fkguard's pack, each judging nothing, over the key-shaped no-op
resources (bench/noop). What Pulumi's Python policy engine charges per resource (the engine's Analyze call, the
properties turned into dicts, a validate call per policy) told apart from what fkguard's policies add to it.

bench/scale.py copies this folder beside the no-op project with a PulumiPolicy.yaml naming fkguard's pack
virtualenv, and BENCH_PACK_POLICIES set to the number of fkguard's policies."""

import os

from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def judge_nothing(args, report) -> None:  # noqa: ANN001 (pulumi_policy's own argument types)
    return None


PolicyPack(
    name="noop-pack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name=f"noop-{i}", description="judges nothing", validate=judge_nothing)
              for i in range(int(os.environ.get("BENCH_PACK_POLICIES", "9")))],
)
