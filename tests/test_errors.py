"""One error model: a refusal (FkguardError) or PostgreSQL's error is one line at every entry point;
anything else is a bug and surfaces with its traceback."""

import pickle
import sys
import traceback
import types

import psycopg
import pytest

import fkguard.commands.status
from fkguard import cli, errors
from fkguard.catalog import CatalogError, load_catalog
from fkguard.locks import LockBudgetExceeded
from fkguard.rollout import RolloutError
from fkguard.stack.settings import SettingsError
from resources import foreign_key


def test_a_postgresql_error_in_a_command_is_one_line_and_exit_2(monkeypatch, capsys, pg):
    def status(_args):
        with pg.connect() as conn:
            conn.execute("SELECT * FROM fkguard_no_such_table")
        return 0

    monkeypatch.setattr(fkguard.commands.status, "run", status)
    assert cli.main(["status", "-s", "local"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ['fkguard status: relation "fkguard_no_such_table" does not exist']


def test_a_rollout_refusal_in_a_command_is_one_line_and_exit_2(monkeypatch, capsys):
    def status(_args):
        raise RolloutError("fk_x: the lock never came; end that transaction", constraint="fk_x")

    monkeypatch.setattr(fkguard.commands.status, "run", status)
    assert cli.main(["status", "-s", "local"]) == 2
    assert capsys.readouterr().err == "fkguard status: fk_x: the lock never came; end that transaction\n"


@pytest.mark.parametrize("bug", [ZeroDivisionError("division by zero"), ValueError("zip() argument 2 is shorter")])
def test_a_bug_in_a_command_keeps_its_traceback(monkeypatch, bug):
    def status(_args):
        raise bug

    monkeypatch.setattr(fkguard.commands.status, "run", status)
    with pytest.raises(type(bug)) as raised:
        cli.main(["status", "-s", "local"])
    assert raised.value is bug and raised.traceback[-1].name == "status"


def test_the_subclasses_carry_their_fields_and_keep_them_through_pickling():
    refusals = [CatalogError("c.yaml entry 2 (fk_a): bad", entry="fk_a", field="on_delete"),
                RolloutError("fk_b: missing", constraint="fk_b"),
                LockBudgetExceeded("gave up", tables=("public.t",), attempts=4),
                SettingsError("postgresql:port must be a number", key="postgresql:port")]
    for exc in refusals:
        again = pickle.loads(pickle.dumps(exc))
        assert (type(again), str(again), vars(again)) == (type(exc), str(exc), vars(exc))
        assert isinstance(again, errors.FkguardError)


def test_a_catalog_error_names_the_entry_and_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("constraints:\n  - {name: fk_a, table: t, columns: [a], references: p, referenced_columns: [id],"
                    " on_delete: EXPLODE}\n")
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert (raised.value.entry, raised.value.field) == ("fk_a", "on_delete")


def test_one_line_tracebacks_show_a_refusal_alone_and_a_bug_whole():
    shim = errors.OneLineTracebacks()
    try:
        raise RolloutError("fk_b is missing from public.t", constraint="fk_b")
    except RolloutError:
        assert shim.format_exc() == "fkguard.rollout.RolloutError: fk_b is missing from public.t\n"
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        text = shim.format_exc()
    assert text.startswith("Traceback (most recent call last):") and text.endswith("ZeroDivisionError: division by zero\n")


def test_configure_scopes_one_line_errors_to_the_sdk_provider_server(monkeypatch, provider):
    assert getattr(sys, "tracebacklimit", None) is None  # the whole process keeps its tracebacks
    server = types.ModuleType("__main__")
    server.traceback = traceback
    server._abort_with_traceback = lambda fn: fn
    monkeypatch.setitem(sys.modules, "__main__", server)
    for name in ("_connection", "_options", "_config_error"):  # put back after this configure
        monkeypatch.setattr(foreign_key, name, getattr(foreign_key, name))
    provider.configure(types.SimpleNamespace(config=types.SimpleNamespace(_props={})))
    assert isinstance(server.traceback, errors.OneLineTracebacks)
    assert traceback.format_exc is not server.traceback.format_exc  # the module itself is untouched


def test_a_postgresql_refusal_in_a_provider_step_names_the_step_and_constraint(provider):
    fk = load_catalog()[0]
    with pytest.raises(RolloutError) as raised, foreign_key._connect("reading fk_x", fk) as conn:
        conn.execute("SELECT * FROM fkguard_no_such_schema.t")
    assert raised.value.constraint == fk.name
    assert str(raised.value) == ('reading fk_x: PostgreSQL refused it as fkguard: '
                                 'relation "fkguard_no_such_schema.t" does not exist')
    assert not isinstance(raised.value, psycopg.Error)


def test_describe_is_one_line_and_with_detail_postgresqls_own_words(pg):
    """errors.describe is the one place that turns an error into a line (psycopg's Diagnostic for a
    refusal the server sent); errors.refusal raises again what the server never sent."""
    assert errors.describe(CatalogError("a\nb", entry="x")) == "a"
    assert errors.describe(ValueError()) == "ValueError"
    with pg.connect() as conn:
        conn.execute("CREATE TEMP TABLE p (id int PRIMARY KEY); CREATE TEMP TABLE c (p_id int REFERENCES p)")
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused:
            conn.execute("INSERT INTO c VALUES (7)")
    exc = refused.value
    assert errors.describe(exc) == 'insert or update on table "c" violates foreign key constraint "c_p_id_fkey"'
    assert errors.describe(exc, detail=True) == errors.refusal(exc) == (
        'insert or update on table "c" violates foreign key constraint "c_p_id_fkey" '
        '(Key (p_id)=(7) is not present in table "p".)')
    lost = psycopg.OperationalError("the connection is lost\nmore")
    assert errors.describe(lost, detail=True) == "the connection is lost"
    with pytest.raises(psycopg.OperationalError):
        errors.refusal(lost)
