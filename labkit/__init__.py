"""The `lab` runtime: emulators, the lab catalog, grading, progress. Nothing lab-specific lives here."""
