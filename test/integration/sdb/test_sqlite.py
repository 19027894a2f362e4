"""A writable sdb driver for the tests: a SQLite key/value table.

Salt 3008.4 ships only the read-only `env` and `yaml` sdb drivers (its old `sqlite3` driver is gone
and no salt-extension provides one), so the tests bring this one to exercise the formula's
`sdb.get`/`sdb.set` path for real. Vault works the same through saltext-vault.

Profile (minion config)::

    litellm_sdb:
      driver: test_sqlite
      database: /var/lib/litellm-test/sdb.sqlite
"""

import os
import sqlite3

__virtualname__ = "test_sqlite"
__func_alias__ = {"set_": "set"}


def __virtual__():
    return __virtualname__


def _connect(profile):
    path = profile["database"]
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS sdb (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    # Every read, counted: the formula must resolve its key once per apply.
    conn.execute("CREATE TABLE IF NOT EXISTS reads (key TEXT NOT NULL)")
    return conn


def set_(key, value, profile=None):
    if os.path.exists(profile["database"] + ".readonly"):  # a store refusing writes (the tests' switch)
        return False
    with _connect(profile) as conn:
        conn.execute("INSERT OR REPLACE INTO sdb (key, value) VALUES (?, ?)", (key, value))
    return True


def get(key, profile=None):
    with _connect(profile) as conn:
        conn.execute("INSERT INTO reads (key) VALUES (?)", (key,))
        row = conn.execute("SELECT value FROM sdb WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def delete(key, profile=None):
    with _connect(profile) as conn:
        conn.execute("DELETE FROM sdb WHERE key = ?", (key,))
    return True
