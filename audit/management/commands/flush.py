"""Django's `flush`, which on SQLite sets the audit trail's triggers aside while it runs.

SQLite has no TRUNCATE: `flush` empties every table with DELETE, which the trigger that
refuses deleting audit events would stop, and with it every test that empties the database
between tests. Emptying the whole database is a deliberate act of its owner, as TRUNCATE is
on PostgreSQL (whose row triggers let it through). The triggers are dropped and created again
in one transaction with the flush: they are back when it ends, or never left if it fails.
"""

from django.core.management.commands import flush
from django.db import connections, transaction

AUDIT_TABLE = "audit_auditevent"


class Command(flush.Command):
    def handle(self, **options) -> None:
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            super().handle(**options)
            return
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [AUDIT_TABLE],
            )
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
            super().handle(**options)
            for _, sql in triggers:
                cursor.execute(sql)
