"""What a name is (introspect.relkind / relkinds), and the memo of one key's judgement (names_held)."""

from fkguard import introspect
from fkguard.catalog import QualifiedName

T, V, GONE = QualifiedName("public", "names_t"), QualifiedName("public", "names_v"), QualifiedName("nowhere", "x")


def test_relkinds_asks_afresh_in_one_query_and_leaves_its_answer_for_relkind(conn):
    conn.execute("DROP VIEW IF EXISTS names_v; DROP TABLE IF EXISTS names_t; CREATE TABLE names_t (id int); "
                 "CREATE VIEW names_v AS SELECT 1 AS one")
    try:
        with introspect.names_held() as memo:
            assert introspect.relkind(conn, T) == "r"
            conn.execute("DROP VIEW names_v; DROP TABLE names_t; CREATE VIEW names_t AS SELECT 1 AS one")
            assert introspect.relkind(conn, T) == "r"  # the memo's answer, within one judgement
            assert introspect.relkinds(conn, (V, T, GONE)) == {V: None, T: "v", GONE: None}  # never the memo's
            assert memo[("relkind", id(conn), "public", "names_t")] == "v"
            conn.execute("DROP VIEW names_t")
            assert introspect.relkind(conn, T) == "v" and not introspect.table_exists(conn, T)  # from relkinds
        assert introspect.relkind(conn, T) is None  # outside the block, asked again
        conn.execute('CREATE TABLE "Odd.Name ""x""" (id int)')  # a name that needs quoting, as PostgreSQL allows
        odd = QualifiedName("public", 'Odd.Name "x"')
        assert introspect.relkinds(conn, (odd,)) == {odd: "r"} and introspect.relkind(conn, odd) == "r"
    finally:
        conn.execute('DROP VIEW IF EXISTS names_v, names_t; DROP TABLE IF EXISTS "Odd.Name ""x"""')
