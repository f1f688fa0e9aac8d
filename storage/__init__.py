"""Storage for daifu: SQLModel tables, the async engine and sessions, query functions, migrations.

The query functions live in storage.queries, one module per table family, keyword-only. How they reach the
database, by one rule:

- The ORM (`session.exec(select(...))`, `session.get`, `session.add`) for reads, and for writes of objects the
  code holds. This is the default: it is what a reader expects.
- A Core statement built once, on `Model.__table__` (or a dialect's INSERT for ON CONFLICT), run with
  `storage.database.run_core` (or on a connection of `Database.alone`): only on the paths every payment or
  update takes, where the ORM's per-statement work was measured to matter (bench.db_floor; the figures are in
  docs/benchmarks.md). Such a statement takes its values as bind parameters, so it is compiled once.
- `storage.database.keep_in_step` only right after such a conditional update matched its row, when the same
  session may hold the object it changed, so that the object shows what was written.
"""
