"""fkguard's Pulumi program: the catalog's foreign keys for this stack's database."""

import pulumi

from fkguard.catalog import TIERS, load_catalog

config = pulumi.Config()
catalog = load_catalog(config.get("catalog") or None)
postgresql = pulumi.Config("postgresql")

pulumi.export(
    "database",
    f"{postgresql.get('username')}@{postgresql.get('host')}:{postgresql.get('port') or 5432}/{postgresql.get('database')}",
)
pulumi.export("catalog", {tier: [fk.name for fk in catalog if fk.tier == tier] for tier in TIERS})
