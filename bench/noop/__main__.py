"""The yardstick of bench/scale.py: N dynamic resources whose provider does nothing, in the same
engine, backend and language host as fkguard's program. What fkguard's constraints cost beyond
this is fkguard's doing; the rest is Pulumi's. Copied over a scratch project's __main__.py, with
noop_provider.py beside it (the provider pickled by reference, as fkguard's are).

bench:shape picks the resource: `one` (the default), one property; `key`, the properties a
ForeignKeyConstraint holds for the same catalog entry (bench:catalog), with values of the same size,
so that what Pulumi charges for a resource of that shape is told apart from what fkguard's provider,
program and pack add."""

import pulumi
from noop_provider import NoOp

config = pulumi.Config("bench")
if config.get("shape") == "key":
    from fkguard.catalog import load_catalog
    from fkguard.resource_properties import inputs_of

    for fk in load_catalog(config.require("catalog")):
        statement = (f"ALTER TABLE {fk.table} ADD CONSTRAINT {fk.name} FOREIGN KEY ({', '.join(fk.columns)}) "
                     f"REFERENCES {fk.references} ({', '.join(fk.referenced_columns)}) ON DELETE {fk.on_delete} NOT VALID")
        NoOp(fk.name, {**inputs_of(fk, False), "stack": pulumi.get_stack(),
                       "databaseIdentity": {"systemIdentifier": "7451234567890123456", "oid": 16384,
                                            "database": "apms_bench", "version": "15.10"},
                       "plannedSql": [f"{statement};  -- SHARE ROW EXCLUSIVE on both tables, for a moment: no scan, "
                                      f"writes to either wait only for the catalog change"],
                       "preflight": [], "convalidated": False, "definition": statement.split(" ", 6)[-1], "state": "not valid",
                       "sql": [statement]})
else:
    for i in range(int(config.require("resources"))):
        NoOp(f"noop-{i}")
