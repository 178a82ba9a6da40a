"""Facilitator cohorts: a workshop of learners, their accounts, results and grades.

Two ways a workshop runs, one store:

- **Shared emulator** (Mode 1): `lab cohort serve` runs one emulator behind a
  gateway (:mod:`.gateway`) that gives every learner their own 12-digit
  account and keeps them apart; `lab cohort check` grades every account
  (:mod:`.grader`).
- **Own laptops** (Mode 2): learners `lab join` once; every `lab check` then
  queues a signed submission (:mod:`.learner`) that a background sender posts
  to the collector; `lab handin` / `lab cohort import` do the same offline.

Everything lands in one SQLite file per cohort (:mod:`.store`), from which the
dashboard (:mod:`.web`), the item analysis and the grade export
(:mod:`.analysis`) are computed. Nothing here is lab-specific.
"""
